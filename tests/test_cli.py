"""The scripts' command line: flags and --help from the config dataclasses, each default
declared once, one-line errors with suggestions before TensorFlow loads, and --game /
--net accepted in any spelling and stored by their canonical names.

A few tests start a script (about 1 s each: TensorFlow never loads on these paths)."""

import dataclasses
import re
import subprocess
import sys

import pytest
from absl import flags

from drarl_tf.cli import flags as cli
from drarl_tf.configs import (
    A2CConfig,
    ImpalaConfig,
    OnPolicyConfig,
    PPOConfig,
    RunConfig,
)
from drarl_tf.envs.registry import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks.table import NET_NAMES

from .conftest import SCRIPTS

CONFIGS = (ImpalaConfig, A2CConfig, PPOConfig)

# Runs a script as `python script args` would, then says on stdout whether TensorFlow
# was imported by the time it exited (its exit status is kept).
PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("TENSORFLOW_LOADED", "tensorflow" in sys.modules, flush=True))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _run(script: str, *args: str) -> tuple[int, str, str, bool]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(SCRIPTS / script), *args],
                         capture_output=True, text=True, timeout=120)
    loaded = "TENSORFLOW_LOADED True" in out.stdout
    assert loaded or "TENSORFLOW_LOADED False" in out.stdout, out.stderr
    return out.returncode, out.stdout, out.stderr, loaded


def test_help_exits_0_and_lists_the_flags_with_their_help():
    code, stdout, stderr, tf_loaded = _run("run_impala.py", "--help")
    assert code == 0 and not tf_loaded, stderr
    lr_help = next(f for f in dataclasses.fields(ImpalaConfig) if f.name == "learning_rate")
    assert lr_help.metadata["help"].split(",")[0] in stdout  # "RMSProp learning rate"
    for name in NET_NAMES + ("--list_games", "--total_frames", "TF_CPP_MIN_LOG_LEVEL"):
        assert name in stdout
    assert "absl::InitializeLog" not in stdout + stderr


@pytest.mark.parametrize("script, arg, expected", [
    ("run_impala.py", "--game=Pongg", "error: unknown game 'Pongg'; did you mean Pong"),
    ("run_a2c.py", "--net=drarll", "error: unknown net 'drarll'"),
    ("run_ppo.py", "--frames=1",
     "error: unknown flag --frames; did you mean --total_frames?"),
    ("run_impala.py", "--total_frames=abc", "error: flag --total_frames=abc: invalid literal"),
])
def test_a_bad_flag_is_one_line_and_exit_2_before_tensorflow_loads(script, arg, expected):
    code, _, stderr, tf_loaded = _run(script, arg)
    assert code == 2 and not tf_loaded
    assert stderr.strip().splitlines() == [stderr.strip()] and stderr.startswith(expected), stderr


def test_choice_flags_take_any_case_and_refuse_others_naming_the_values():
    values = flags.FlagValues()
    cli.define_config_flags(ImpalaConfig, values)
    values(["prog", "--precision=Float32", "--on_nonfinite=SKIP", "--strategy=Mirrored"])
    assert (values.precision, values.on_nonfinite, values.strategy) == (
        "float32", "skip", "mirrored")
    with pytest.raises(flags.IllegalFlagValueError,
                       match="unknown actor_backend 'spark'; choose one of process, ray"):
        values(["prog", "--actor_backend=spark"])
    values.unparse_flags()
    values(["prog", "--game=Catch"])
    assert cli.config_from_flags(ImpalaConfig, values) == ImpalaConfig(game="Catch")


def test_unknown_flags_are_matched_to_the_closest_or_to_their_synonym():
    values = flags.FlagValues()
    cli.define_config_flags(PPOConfig, values)
    assert cli.closest_flag("frames", values) == "total_frames"
    assert cli.closest_flag("learning_rte", values) == "learning_rate"
    assert cli.closest_flag("gamma", values) == "discount"
    assert cli.closest_flag("zzzz", values) is None


def test_game_and_net_in_any_spelling_are_stored_canonical_with_a_note():
    config = ImpalaConfig(game="roadrunner", net="DRARL")
    assert (config.game, config.net) == ("RoadRunner", "drarl")
    assert cli.spelling_notes(config, {"game": "roadrunner", "net": "DRARL"}) == [
        "note: --net=DRARL is drarl", "note: --game=roadrunner is RoadRunner"]
    assert cli.spelling_notes(config, {"game": "RoadRunner"}) == []
    assert cli.spelling_notes(A2CConfig(game="Catch"), {}) == []
    for spelling in ("Road Runner", "road-runner", "ROAD_RUNNER"):
        assert check_game(spelling) == "RoadRunner"
    assert PPOConfig(game="CATCH", net="Simple-DRARL").net == "simple_drarl"
    for bad, message in ((dict(game="Pongg"), "did you mean Pong"),
                         (dict(game="Catch", net="drarll"), "unknown net 'drarll'")):
        with pytest.raises(DrarlError, match=message):
            ImpalaConfig(**bad)


def test_each_field_and_default_is_declared_once_with_a_one_line_help():
    for cls in CONFIGS:
        declared = {}
        for base in cls.__mro__:
            for name in vars(base).get("__annotations__", {}):
                declared.setdefault(name, []).append(base.__name__)
        twice = {name: owners for name, owners in declared.items() if len(owners) > 1}
        assert not twice, f"{cls.__name__}: declared in more than one class: {twice}"
        for field in dataclasses.fields(cls):
            help_text = field.metadata.get("help", "")
            assert help_text and "\n" not in help_text, field.name
            if "choices" in field.metadata:
                assert field.default in field.metadata["choices"], field.name
    for base in (RunConfig, OnPolicyConfig):
        with pytest.raises(TypeError, match="is a base"):
            base(game="Catch")


# docs/design.md's Hyperparameters table, read from the page: row -> per config, the
# fields whose defaults its numbers are, in the order the cell names them.
TABLE_FIELDS = {
    "envs": {ImpalaConfig: (lambda c: c.num_actors * c.envs_per_actor, "num_actors",
                            "envs_per_actor"), A2CConfig: ("num_envs",), PPOConfig: ("num_envs",)},
    "unroll": {cls: ("unroll_length",) for cls in CONFIGS},
    "update on": {ImpalaConfig: ("batch_size",), A2CConfig: (),
                  PPOConfig: ("num_epochs", "num_minibatches")},
    "optimiser": {ImpalaConfig: ("learning_rate", "rmsprop_decay", "rmsprop_epsilon",
                                 "rmsprop_momentum"),
                  A2CConfig: ("learning_rate", "rmsprop_decay", "rmsprop_epsilon"),
                  PPOConfig: ("learning_rate", "adam_epsilon")},
    "gradient clip (global norm)": {cls: ("max_grad_norm",) for cls in CONFIGS},
    "value / entropy coefficient": {ImpalaConfig: ("baseline_cost", "entropy_cost"),
                                    A2CConfig: ("value_coef", "entropy_coef"),
                                    PPOConfig: ("value_coef", "entropy_coef")},
    "other": {ImpalaConfig: (lambda c: c.clip_rho_threshold, lambda c: c.clip_c_threshold),
              A2CConfig: (), PPOConfig: ("gae_lambda", "clip_ratio", "value_clip")},
}
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?")


def _design_table() -> tuple[dict[str, list[str]], str]:
    text = (SCRIPTS.parent / "docs" / "design.md").read_text()
    section = text.split("## Hyperparameters", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()
            if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}, section


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_the_defaults_are_the_hyperparameters_of_the_design_page(cls):
    """Every number of docs/design.md's Hyperparameters table is the config's default
    (so the page and the code cannot drift apart), and the optimiser is the one named."""
    table, section = _design_table()
    column = CONFIGS.index(cls)
    config = cls(game="Catch")
    assert set(table) == set(TABLE_FIELDS)
    for row, fields in TABLE_FIELDS.items():
        numbers = [float(n) for n in NUMBER.findall(table[row][column].replace("`", " "))]
        values = [f(config) if callable(f) else getattr(config, f) for f in fields[cls]]
        if row == "other" and cls is ImpalaConfig:  # "rho-bar = c-bar = 1": one number
            numbers = numbers * 2
        assert numbers == [float(v) for v in values], (row, table[row][column])
    assert {"rmsprop": "RMSProp", "adam": "Adam"}[cls.OPTIMIZER] in table["optimiser"][column]
    shared = re.search(r"discount ([\d.]+), rewards clipped to \[-1, 1\], (\d+)M", section)
    assert (float(shared[1]), int(shared[2]) * 10**6) == (config.discount, config.total_frames)
    assert config.reward_clip == 1.0 and config.precision == "float32" and not config.xla
    prose = " ".join(section.split())
    if cls is ImpalaConfig:
        assert f"`queue_size` ({config.queue_size})" in prose
    bookkeeping = re.search(r"checkpoint every (\d+) minutes, TensorBoard images every (\d+)M "
                            r"frames, milestone checkpoints at ([\d, and]+) % of the frames", prose)
    assert (float(bookkeeping[1]), int(bookkeeping[2]) * 10**6) == (
        config.checkpoint_minutes, config.image_every_frames)
    assert [float(f) / 100 for f in re.findall(r"\d+", bookkeeping[3])] == list(
        config.milestone_fractions)
