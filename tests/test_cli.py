"""The scripts' command line: flags and --help from the config dataclasses, each default
declared once, one-line errors with suggestions before TensorFlow loads, and --game /
--net accepted in any spelling and stored by their canonical names.

A few tests start a script (about 1 s each: TensorFlow never loads on these paths)."""

import dataclasses
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


# The paper's defaults as they were before each was declared once.
COMMON = dict(net="drarl", game="RoadRunner", seed=0, total_frames=200_000_000,
              discount=0.99, reward_clip=1.0, logdir="runs", export_dir="",
              checkpoint_minutes=10.0, log_interval_seconds=10.0,
              image_every_frames=1_000_000, milestone_fractions=(0.0, 0.36, 0.72, 1.0),
              on_nonfinite="stop", precision="float32", xla=False, cpu_threads=0,
              target_return=None)
DEFAULTS = {
    ImpalaConfig: dict(COMMON, num_actors=2, envs_per_actor=16, unroll_length=20,
                       batch_size=32, learning_rate=6e-4, rmsprop_decay=0.99,
                       rmsprop_epsilon=0.01, rmsprop_momentum=0.0, max_grad_norm=40.0,
                       baseline_cost=0.5, entropy_cost=0.01, clip_rho_threshold=1.0,
                       clip_c_threshold=1.0, queue_size=8, strategy="default",
                       collective_timeout_seconds=600.0, actor_backend="process", inference="actor",
                       inference_timeout_ms=2.0,
                       ray_address="", max_actor_restarts=3, actor_timeout_seconds=120.0),
    A2CConfig: dict(COMMON, num_envs=16, unroll_length=5, learning_rate=7e-4,
                    max_grad_norm=0.5, value_coef=0.5, entropy_coef=0.01,
                    rmsprop_decay=0.99, rmsprop_epsilon=1e-5),
    PPOConfig: dict(COMMON, num_envs=8, unroll_length=128, learning_rate=2.5e-4,
                    max_grad_norm=0.5, value_coef=0.5, entropy_coef=0.01, adam_epsilon=1e-5,
                    num_epochs=4, num_minibatches=4, gae_lambda=0.95, clip_ratio=0.1,
                    value_clip=0.1),
}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_the_paper_defaults_are_unchanged(cls):
    assert {f.name: f.default for f in dataclasses.fields(cls)} == DEFAULTS[cls]
