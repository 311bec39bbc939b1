"""scripts/benchmark.py --mode=minatar's cheap parts: the MinAtar study's train_flags as
PPOConfig overrides (and as SB3's settings), the gymnasium MinAtar env SB3 trains on, the
table, and the one-line error for missing packages (speed itself is not asserted)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from drarl_tf.errors import DrarlError
from drarl_tf.experiments import benchmark, torch_reference
from drarl_tf.experiments.grid import EXPERIMENTS


def test_the_study_flags_become_ppoconfig_overrides_and_follow_the_study():
    overrides = benchmark.study_overrides(EXPERIMENTS["minatar"].train_flags)
    assert overrides == {"num_envs": 32, "unroll_length": 64, "learning_rate": 5e-4,
                         "clip_ratio": 0.2, "value_clip": 0.2, "precision": "auto",
                         "cpu_threads": 1}
    changed = benchmark.study_overrides(("--num_envs=16", "--cpu_threads=0",
                                         "--num_epochs=3"))
    assert changed == {"num_envs": 16, "cpu_threads": 0, "num_epochs": 3}
    for bad in (("--no_such_field=1",), ("--num_envs=many",), ("num_envs=16",)):
        with pytest.raises(DrarlError, match="train_flags"):
            benchmark.study_overrides(bad)


def test_the_minatar_config_and_sb3_settings_are_the_studys():
    pytest.importorskip("minatar")
    config = benchmark.minatar_config("MinAtarBreakout", "impala")
    assert (config.num_envs, config.unroll_length, config.learning_rate) == (32, 64, 5e-4)
    assert config.cpu_threads == 1 and config.precision != "auto"  # resolved, as in training
    assert benchmark.minatar_config("MinAtarBreakout", "impala", cpu_threads=0).cpu_threads == 0
    assert torch_reference.sb3_ppo_settings(config) == {
        "n_steps": 64, "batch_size": 512, "n_epochs": 4, "learning_rate": 5e-4,
        "clip_range": 0.2, "clip_range_vf": 0.2, "ent_coef": 0.01, "vf_coef": 0.5,
        "max_grad_norm": 0.5, "gamma": 0.99, "gae_lambda": 0.95}
    # Other train_flags replace the study's (here: PPOConfig's defaults but these two).
    other = benchmark.minatar_config("MinAtarBreakout", "impala",
                                     ("--num_envs=8", "--unroll_length=16"))
    assert (other.num_envs, other.learning_rate, other.cpu_threads) == (8, 2.5e-4, 0)
    assert torch_reference.sb3_ppo_settings(other)["batch_size"] == 8 * 16 // 4


@pytest.mark.parametrize("game", ["MinAtarBreakout", "MinAtarSeaquest"])
def test_the_gym_env_is_channel_first_uint8_0_or_255_with_the_minimal_actions(game):
    pytest.importorskip("minatar")
    from drarl_tf.envs.minatar import MinAtarVecEnv

    env = torch_reference.MinAtarGymEnv(game)
    ours = MinAtarVecEnv(game, 1)
    height, width, channels = ours.obs_shape
    assert env.observation_space.dtype == np.uint8
    assert env.observation_space.shape == (channels, height, width) == (channels, 10, 10)
    assert env.action_space.n == ours.num_actions == len(ours.actions)
    obs, info = env.reset(seed=3)
    assert obs.shape == (channels, 10, 10) and obs.dtype == np.uint8 and info == {}
    seen = set(np.unique(obs))
    for _ in range(200):
        out = env.step(env.action_space.sample())
        assert len(out) == 5
        obs, reward, terminated, truncated, _ = out
        assert isinstance(reward, float) and isinstance(terminated, bool) and truncated is False
        assert env.observation_space.contains(obs)
        # The object channels, moved to the front: what drarl_tf's env shows as [10, 10, C].
        assert np.array_equal(obs.transpose(1, 2, 0), env.game.state().astype(np.uint8) * 255)
        seen |= set(np.unique(obs))
        if terminated:
            env.reset()
    assert seen == {0, 255}


def test_sb3_sees_the_gym_env_as_channel_first_images():
    pytest.importorskip("minatar")
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common import preprocessing

    for game in ("MinAtarBreakout", "MinAtarSeaquest"):
        space = torch_reference.MinAtarGymEnv(game).observation_space
        assert preprocessing.is_image_space(space)
        assert preprocessing.is_image_space_channels_first(space)  # so SB3 won't transpose


def test_the_gym_env_needs_neither_torch_nor_tensorflow():
    pytest.importorskip("minatar")
    code = ("import sys\n"
            "sys.modules['torch'] = sys.modules['tensorflow'] = None\n"
            "from drarl_tf.experiments.torch_reference import MinAtarGymEnv\n"
            "env = MinAtarGymEnv('MinAtarBreakout')\n"
            "env.reset(seed=0)\n"
            "print(len(env.step(0)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"


def test_missing_torch_packages_are_one_line_naming_the_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(DrarlError) as e:
        torch_reference.require("minatar")
    assert str(e.value) == ("--mode=minatar needs torch, stable-baselines3 and minatar "
                            "(stable_baselines3 is missing): pip install -e "
                            "'.[compare,minatar]'")


def _row(end_to_end: float, bound: float, threads: int) -> dict:
    return {"net": "impala", "precision": "float32", "cpu_threads": threads,
            "env_steps_per_s": 1e5, "inference_samples_per_s": 2e4,
            "train_samples_per_s_per_pass": 8e3, "compute_bound_samples_per_s": bound,
            "end_to_end_samples_per_s": end_to_end, "ratio_to_bound": end_to_end / bound,
            "env_share": 0.2, "inference_share": 0.3, "update_share": 0.5}


def test_the_table_has_one_column_set_and_ratios_to_sb3_and_the_pair_total():
    results = {"precision": "float32",
               "sb3": {"implementation": "stable-baselines3 x (torch y)", "torch_threads": 2,
                       "steps_per_s": 500.0},
               "drarl_tf": {"impala": {"one_run_all_cores": _row(1000.0, 2000.0, 0),
                                       "one_run": _row(900.0, 1800.0, 1),
                                       "two_runs": [_row(600.0, 1000.0, 1),
                                                    _row(400.0, 1000.0, 1)]}}}
    rows = benchmark.minatar_table(results)
    assert len({tuple(r) for r in rows}) == 1 and len(rows) == 6
    assert [r["ratio_to_sb3"] for r in rows] == [2.0, 1.8, 1.2, 0.8, 2.0, 1.0]
    total = rows[4]
    assert "total" in total["run"] and total["cpu_threads"] == 2
    assert total["compute_bound_samples_per_s"] == 2000.0
    assert math.isclose(total["ratio_to_bound"], 0.5)
    assert rows[-1]["run"] == "stable-baselines3 x (torch y)"
    assert rows[-1]["end_to_end_samples_per_s"] == 500.0 and rows[-1]["env_share"] == "-"
