"""Script helpers: config dataclass fields as absl flags; user errors as one line, exit code 2."""

from __future__ import annotations

import dataclasses
import signal
import sys


def define_config_flags(config_cls) -> None:
    """Defines one absl flag per field of `config_cls`, with the field's default.

    Only scripts call this: library code never reads flags.
    """
    from absl import flags

    # Registered as the running script's own flags, so that --help lists them.
    owner = {"module_name": sys.argv[0]}
    for field in dataclasses.fields(config_cls):
        default, name = field.default, field.name
        help_text = f"{config_cls.__name__}.{name}"
        if isinstance(default, tuple):
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


def config_from_flags(config_cls):
    """Builds `config_cls` from the flags that `define_config_flags` defined."""
    from absl import flags

    values = {f.name: flags.FLAGS[f.name].value for f in dataclasses.fields(config_cls)}
    return config_cls(**values)


def training_main(config_cls, train_fn):
    """The `main` of a training script: flags -> config -> `train_fn(config)` -> summary line."""
    define_config_flags(config_cls)

    def main(argv):
        if len(argv) > 1:
            from drarl_tf.errors import DrarlError

            raise DrarlError(f"unexpected arguments {argv[1:]}; flags look like --game=Pong")
        result = train_fn(config_from_flags(config_cls))
        status = ("stopped early; rerun the same command to resume" if result.interrupted
                  else "reached the target return" if result.target_reached else "done")
        print(f"{status}: {result.frames:,} frames, {result.updates:,} updates, mean return "
              f"{result.mean_return:.2f} over the last {min(result.episodes, 100)} games; "
              f"run directory {result.run_dir}", flush=True)

    return main


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _parse_flags(argv):
    """absl's flag parsing, but a bad flag is one `error:` line and exit code 2."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}; see --helpshort", file=sys.stderr)
        sys.exit(2)


def start(main) -> None:
    """A script's entry point: parses flags, then `run_main(main, argv)`."""
    from absl import app

    app.run(lambda argv: run_main(main, argv), flags_parser=_parse_flags)


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
