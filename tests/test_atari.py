"""Atari envs by the paper's protocol: shapes, action sets, lives, raw scores, names."""

import numpy as np
import pytest

from drarl_tf.envs import AtariVecEnv, check_game, game_names, make_vector_env
from drarl_tf.errors import DrarlError

# Minimal action sets of the games (as in gym's NoFrameskip-v4 envs).
ACTION_COUNTS = {"Pong": 6, "Breakout": 4, "RoadRunner": 18, "SpaceInvaders": 6, "KungFuMaster": 14}


@pytest.mark.parametrize("game, actions", sorted(ACTION_COUNTS.items()))
def test_observations_and_action_counts(game, actions):
    env = make_vector_env(game, 2, num_threads=1)
    obs = env.reset(seed=0)
    assert obs.shape == (2, 84, 84, 4) and obs.dtype == np.uint8
    assert env.num_actions == actions and len(env.action_meanings) == actions
    step = env.step(np.zeros(2, np.int64))
    assert step.obs.shape == (2, 84, 84, 4) and step.obs.dtype == np.uint8
    # Stack last: the newest frame is the last channel, older frames before it.
    assert step.obs.flags["C_CONTIGUOUS"]
    env.close()


def _play(env, steps, seed=0):
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(steps):
        log.append(env.step(rng.integers(0, env.num_actions, env.num_envs)))
    return log


def test_training_env_ends_an_episode_per_life_and_eval_env_per_game():
    steps = 2500
    train_env = AtariVecEnv("Breakout", 1, training=True, num_threads=1)
    eval_env = AtariVecEnv("Breakout", 1, training=False, num_threads=1)
    assert eval_env.protocol.startswith("Atari Breakout: full games (all lives), up to 30 no-ops")
    assert "a lost life ends the learning episode" in train_env.protocol
    train, evaluation = _play(train_env, steps), _play(eval_env, steps)
    for log, terminations_per_game in ((train, 5), (evaluation, 1)):
        terminated = np.array([s.terminated[0] for s in log])
        resets = np.flatnonzero([s.reset_step[0] for s in log])
        assert len(resets) >= 2, "random Breakout should finish a few games in 2500 steps"
        for start, end in zip(resets[:-1], resets[1:], strict=True):
            # Between two game resets: one termination per life, and the last is the game over.
            assert terminated[start:end].sum() == terminations_per_game
            assert terminated[end - 1]


def test_raw_score_is_returned_and_summed_over_lives():
    log = _play(AtariVecEnv("SpaceInvaders", 2, training=True, num_threads=1), 2000)
    rewards = np.array([s.reward for s in log])
    assert rewards.max() > 1.0, "SpaceInvaders scores 5-30 per alien: rewards must be raw"
    for i in range(2):
        first_reset = next(t for t, s in enumerate(log) if s.reset_step[i])
        lives_lost = sum(s.terminated[i] for s in log[:first_reset])
        assert lives_lost == 3  # SpaceInvaders: 3 lives, each one a training episode
        # The return closed at the reset is the raw score over all lives of that game.
        assert rewards[:first_reset, i].sum() in log[first_reset].episode_returns


def test_game_names_are_camel_case_and_resolve():
    names = game_names()
    assert "Catch" in names and "RoadRunner" in names and "KungFuMaster" in names
    assert "MontezumaRevenge" in names
    assert check_game("roadrunner") == "RoadRunner"
    assert check_game("road_runner") == "RoadRunner"
    assert check_game("catch") == "Catch"


def test_unknown_game_lists_close_names_in_one_line():
    with pytest.raises(DrarlError) as e:
        make_vector_env("RoadRuner", 1)
    message = str(e.value)
    assert "unknown game 'RoadRuner'" in message and "RoadRunner" in message
    assert "\n" not in message


def test_missing_rom_is_one_line(monkeypatch):
    from ale_py import roms

    def missing(name):
        raise FileNotFoundError(f"No such file: {name}.bin")

    monkeypatch.setattr(roms, "get_rom_path", missing)
    with pytest.raises(DrarlError, match="ROM for Pong missing"):
        make_vector_env("Pong", 1)
