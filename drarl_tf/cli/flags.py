"""Script helpers: config dataclass fields as absl flags (with the fields' help), user errors
as one line with exit code 2, and TensorFlow's start-up lines kept off the terminal.

Importing this module loads no TensorFlow (but in a process a script spawned: see the
end), so scripts import it with their config and check their flags before TensorFlow
loads. Unless the user set TF_CPP_MIN_LOG_LEVEL, it sets it to 3 (TensorFlow's C++ log,
errors included, off the terminal) and `load_tensorflow` hides the native lines that
TensorFlow prints while it loads whatever the level (`WARNING: All log messages before
absl::InitializeLog() ...`, `I0000 ... cudart_stub.cc ...`). Setting the variable (0
shows everything, 2 hides INFO and WARNING) brings them back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import os
import signal
import sys

# Before TensorFlow loads. Both variables reach the processes a script starts (actors,
# reproduce.py's runs), which then hide the same lines.
_HIDE_MARK = "DRARL_HIDE_TF_START"
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[_HIDE_MARK] = "1"
_HIDE_TF_START = os.environ.get(_HIDE_MARK) == "1"


@contextlib.contextmanager
def _native_stderr_hidden():
    """File descriptor 2 to /dev/null for the block (native libraries write there
    directly), unless the user chose TensorFlow's log level; Python exceptions raised
    in the block are printed after it, on the real stderr."""
    if not _HIDE_TF_START:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def load_tensorflow():
    """Imports TensorFlow (once) without its start-up lines on the terminal; scripts call
    it after their flags and config are checked, before importing what needs TensorFlow."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _native_stderr_hidden():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # device start-up lines (precision=auto asks)
    return tf


def _choice_parser(name: str, choices: tuple[str, ...]):
    """absl parser of a flag with a fixed set of values: any case is accepted and the
    canonical value kept; anything else is `unknown <name> '<value>'; choose one of ...`."""
    from absl import flags

    class ChoiceParser(flags.EnumParser):
        def parse(self, argument):
            for choice in self.enum_values:
                if str(argument).strip().lower() == choice.lower():
                    return choice
            raise ValueError(f"unknown {name} '{argument}'; choose one of "
                             f"{', '.join(self.enum_values)}")

    return ChoiceParser(list(choices), case_sensitive=False)


def field_help(field: dataclasses.Field) -> str:
    """A config field's one-line help (its `metadata["help"]`)."""
    return field.metadata.get("help") or field.name


def define_config_flags(config_cls, flag_values=None) -> None:
    """Defines one absl flag per field of `config_cls` (in `flag_values`, default the
    global FLAGS), with the field's default and help; a field with `metadata["choices"]`
    accepts only those values (any case, kept as the canonical one).

    Only scripts call this: library code never reads flags.
    """
    from absl import flags

    # Registered as the running script's own flags, so that --help lists them.
    owner = {"module_name": sys.argv[0],
             "flag_values": flag_values if flag_values is not None else flags.FLAGS}
    for field in dataclasses.fields(config_cls):
        default, name, help_text = field.default, field.name, field_help(field)
        choices = field.metadata.get("choices")
        if choices:
            flags.DEFINE_flag(flags.Flag(_choice_parser(name, choices), flags.ArgumentSerializer(),
                                         name, default, help_text), **owner)
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, [f"{v:g}" if isinstance(v, float) else str(v)
                                     for v in default], help_text, **owner)
        elif isinstance(default, bool):
            flags.DEFINE_boolean(name, default, help_text, **owner)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text, **owner)
        elif isinstance(default, float) or (default is None and "float" in str(field.type)):
            flags.DEFINE_float(name, default, help_text, **owner)
        else:
            flags.DEFINE_string(name, default, help_text, **owner)


def config_from_flags(config_cls, flag_values=None):
    """Builds `config_cls` from the flags that `define_config_flags` defined."""
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(config_cls)}
    return config_cls(**values)


def spelling_notes(config, given: dict) -> list[str]:
    """`note: --game=roadrunner is RoadRunner`, for each of `net` and `game` that the user
    (`given`: flag name -> the value as typed) spelt other than its canonical name."""
    return [f"note: --{name}={given[name]} is {getattr(config, name)}"
            for name in ("net", "game")
            if given.get(name) is not None and given[name] != getattr(config, name)]


def training_main(config_cls, trainer: str):
    """The `main` of a training script: flags -> config (checked without TensorFlow) ->
    `<trainer>.train(config)` (the module imported only then) -> a summary line."""
    from absl import flags

    define_config_flags(config_cls)
    flags.DEFINE_boolean("list_games", False, "Print every accepted --game and exit.",
                         module_name=sys.argv[0])

    def main(argv):
        from drarl_tf.errors import DrarlError

        if len(argv) > 1:
            raise DrarlError(f"unexpected arguments {argv[1:]}; flags look like --game=Pong")
        if flags.FLAGS.list_games:
            from drarl_tf.envs.registry import game_names

            print("\n".join(game_names()))
            return
        config = config_from_flags(config_cls)  # no TensorFlow yet
        given = {n: flags.FLAGS[n].value for n in ("net", "game") if flags.FLAGS[n].present}
        for line in spelling_notes(config, given):
            print(line, file=sys.stderr, flush=True)
        from drarl_tf.bookkeeping.lock import acquire
        from drarl_tf.bookkeeping.run_dir import writer_run_dir

        # A second writer of this run directory is refused now, before TensorFlow loads.
        acquire(writer_run_dir(trainer.rsplit(".", 1)[-1], config))
        load_tensorflow()
        result = importlib.import_module(trainer).train(config)
        status = ("stopped early; rerun the same command to resume" if result.interrupted
                  else "reached the target return" if result.target_reached else "done")
        returns = (f"mean return {result.mean_return:.2f} over the last "
                   f"{min(result.episodes, 100)} games" if result.episodes
                   else "no game finished yet")
        print(f"{status}: {result.frames:,} frames, {result.updates:,} updates, {returns}; "
              f"run directory {result.run_dir}", flush=True)

    main.__module__ = sys._getframe(1).f_globals["__name__"]  # the script's (for --help)
    return main


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# Names from other RL code bases, for the flag that means the same here.
FLAG_SYNONYMS = {"gamma": "discount", "lr": "learning_rate", "lambda": "gae_lambda",
                 "gae": "gae_lambda", "env": "game", "env_id": "game", "network": "net"}


def closest_flag(name: str, flag_values=None) -> str | None:
    """The defined flag most like `name` (a synonym, else the script's own flags first),
    or None."""
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    if FLAG_SYNONYMS.get(name) in flag_values:
        return FLAG_SYNONYMS[name]
    own = [f.name for f in flag_values.get_key_flags_for_module(sys.argv[0])]
    for names in (own, list(flag_values)):
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            return close[0]
    return None


def _flag_error_line(e) -> str:
    """One line for a flag error: an unknown flag names the closest defined one."""
    from absl import flags

    if isinstance(e, flags.UnrecognizedFlagError) and e.flagname:
        close = closest_flag(e.flagname)
        hint = f"did you mean --{close}?" if close else "see --helpshort"
        return f"unknown flag --{e.flagname}; {hint}"
    return f"{e}; see --helpshort"


def _parse_flags(argv):
    """absl's flag parsing, but a bad flag is one `error:` line and exit code 2, and
    --help/--helpshort/--helpfull exit 0."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {_flag_error_line(e)}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as e:
        # absl's help flags print the help and exit 1 (nothing else exits while parsing).
        sys.exit(0 if e.code == 1 else e.code)


def _adopt_script_flags(main) -> None:
    """Makes the flags that `main`'s module defined the running program's own, so that
    `--help` lists them and a misspelt flag is matched against them first. Needed when
    the script module was imported (an installed `drarl-<name>` command) rather than run
    as `__main__` (`python scripts/<name>.py`), where absl files them under sys.argv[0]."""
    from absl import flags

    module = getattr(main, "__module__", "__main__")
    if module in ("__main__", sys.argv[0]):
        return
    main_module = sys.modules.get("__main__")
    if main_module is not None and not main_module.__doc__ and module in sys.modules:
        # absl's --help prints it; its examples name the command the user ran.
        script = f"python scripts/{module.rsplit('.', 1)[-1]}.py"
        doc = sys.modules[module].__doc__ or ""
        main_module.__doc__ = doc.replace(script, os.path.basename(sys.argv[0]))
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def start(main) -> None:
    """A script's entry point: parses flags, then `run_main(main, argv)`."""
    from absl import app

    _adopt_script_flags(main)
    app.run(lambda argv: run_main(main, argv), flags_parser=_parse_flags)


def script_command(name: str) -> list[str]:
    """The command line that runs `scripts/<name>.py` (".py" optional) with this Python:
    `python -m drarl_tf.scripts.<name>`, the same module in a checkout (installed
    editable) and in a plain install. A name that is no script is one line naming it."""
    import importlib.util

    module = f"drarl_tf.scripts.{name.removesuffix('.py')}"
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # drarl_tf.scripts itself missing: an incomplete install
        found = False
    if not found:
        from drarl_tf.errors import DrarlError

        raise DrarlError(f"cannot find the script {name} (module {module}); reinstall "
                         "drarl_tf (pip install .)")
    return [sys.executable, "-m", module]


def run_main(main, argv) -> None:
    """Calls `main(argv)`; a DrarlError prints `error: <message>` and exits with code 2."""
    from absl import logging

    from drarl_tf.errors import DrarlError

    logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO lines off the terminal
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's SIGTERM stops like Ctrl-C
    try:
        main(argv)
    except DrarlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _load_tensorflow_in_spawned_child() -> None:
    """A process spawned by a script (IMPALA's actors) imports the script, and so this
    module, before its target runs: TensorFlow loads here, its start-up lines hidden as
    in the script, instead of later in the target."""
    # While a spawned child imports the parent's script, that script is `__mp_main__`, a
    # module of its own (in any other process `__mp_main__` is absent or `__main__`).
    mp_main = sys.modules.get("__mp_main__")
    if _HIDE_TF_START and mp_main is not None and mp_main is not sys.modules.get("__main__"):
        load_tensorflow()


_load_tensorflow_in_spawned_child()
