"""A2C and PPO end to end: learning on Catch, Atari smoke runs, seeds, resume, bad input."""


import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import a2c, ppo
from drarl_tf.envs import GymnasiumVecEnv
from drarl_tf.errors import DrarlError

ALGOS = {"a2c": (a2c.A2CConfig, a2c.train), "ppo": (ppo.PPOConfig, ppo.train)}
SMALL = {"a2c": dict(num_envs=4, unroll_length=5),
         "ppo": dict(num_envs=4, unroll_length=16, num_minibatches=2, num_epochs=2)}


def _config(algo, tmp_path, **kw):
    cls, _ = ALGOS[algo]
    return cls(**{"game": "Catch", "logdir": str(tmp_path), "log_interval_seconds": 1e9,
                  **SMALL[algo], **kw})


# Both slow-marked: IMPALA's few updates on Pong keep Atari in the default run.
@pytest.mark.parametrize("algo", [pytest.param("a2c", marks=pytest.mark.slow),
                                  pytest.param("ppo", marks=pytest.mark.slow)])
def test_atari_smoke_run_logs_finite_losses(tmp_path, algo):
    config = _config(algo, tmp_path, game="Pong", total_frames=3000)
    result = ALGOS[algo][1](config)
    assert result.frames >= 3000
    assert result.metrics and all(np.isfinite(v) for v in result.metrics.values())


@pytest.mark.parametrize("algo", ["a2c", pytest.param("ppo", marks=pytest.mark.slow)])
def test_same_seed_same_run(tmp_path, algo):
    weights = []
    for run in range(2):
        config = _config(algo, tmp_path / str(run), total_frames=400, net="impala", seed=3)
        ALGOS[algo][1](config)
        reader = tf.train.load_checkpoint(str(tmp_path / str(run) / f"{algo}-impala-Catch-s3"
                                              / "checkpoints"))
        # Every saved tensor: the weights, the optimizer's slots and the counters.
        names = sorted(n for n in reader.get_variable_to_shape_map()
                       if n != "_CHECKPOINTABLE_OBJECT_GRAPH")
        weights.append({n: reader.get_tensor(n) for n in names})
    assert len(weights[0]) > 2 * 36 and weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        np.testing.assert_array_equal(value, weights[1][name], err_msg=name)


@pytest.mark.parametrize("algo", ["a2c", pytest.param("ppo", marks=pytest.mark.slow)])
def test_resume_continues_frames_and_lr_schedule(tmp_path, algo, capsys):
    first = ALGOS[algo][1](_config(algo, tmp_path, total_frames=320, net="impala"))
    capsys.readouterr()
    second = ALGOS[algo][1](_config(algo, tmp_path, total_frames=640, net="impala"))  # x2
    assert "resumed from" in capsys.readouterr().out
    assert second.frames == 2 * first.frames and second.updates == 2 * first.updates


def test_resume_restores_the_episode_statistics(tmp_path):
    first = a2c.train(_config("a2c", tmp_path, total_frames=400, net="impala"))
    assert first.episodes > 10
    again = a2c.train(_config("a2c", tmp_path, total_frames=400, net="impala"))  # finished
    # The mean return over the last games and the game count come back from the checkpoint.
    assert (again.episodes, again.mean_return) == (first.episodes, first.mean_return)


def test_target_return_stops_after_a_full_window_and_a_higher_one_trains_on(tmp_path, capsys):
    # Catch returns are in [-1, 1]: -1 is reached as soon as 100 games are done.
    first = a2c.train(_config("a2c", tmp_path, total_frames=100_000, net="impala",
                              target_return=-1.0))
    assert first.target_reached and not first.interrupted
    assert first.episodes >= 100 and first.frames < 5_000  # ~10 frames a game, 2 per update
    out = capsys.readouterr().out
    assert "reached the target -1 at" in out
    again = a2c.train(_config("a2c", tmp_path, total_frames=100_000, net="impala",
                              target_return=-1.0))
    assert "already reached the target return" in capsys.readouterr().out
    assert (again.frames, again.updates) == (first.frames, first.updates)
    # An unreachable target (Catch's best is +1) trains on to the frame budget.
    more = a2c.train(_config("a2c", tmp_path, total_frames=first.frames + 200, net="impala",
                             target_return=2.0))
    assert more.frames >= first.frames + 200 and not more.target_reached


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_target_return_must_be_finite(value):
    with pytest.raises(DrarlError, match="target_return must be a finite number"):
        ppo.PPOConfig(target_return=value)


def test_ppo_learner_takes_epochs_times_minibatches_steps(tmp_path):
    result = ppo.train(_config("ppo", tmp_path, total_frames=64, net="impala"))
    assert result.updates == 1 * 2 * 2  # one rollout of 4 x 16, 2 epochs x 2 minibatches


def _cartpole(num_envs):
    return GymnasiumVecEnv(gym.make_vec("CartPole-v1", num_envs=num_envs,
                                        vectorization_mode="sync"), name="CartPole")


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_non_image_env_is_refused(tmp_path, algo):
    with pytest.raises(DrarlError, match="uint8 images"):
        ALGOS[algo][1](_config(algo, tmp_path, total_frames=100), env_fn=_cartpole)


# Random play on Catch returns -0.6 (P(catch) = 1/5); perfect play +1.
@pytest.mark.parametrize("algo, frames, threshold", [
    pytest.param("a2c", 120_000, 0.6, marks=pytest.mark.slow), ("ppo", 50_000, 0.6)])
def test_learns_catch_with_drarl(tmp_path, algo, frames, threshold):
    cls, train = ALGOS[algo]
    config = cls(net="drarl", game="Catch", total_frames=frames, seed=1, logdir=str(tmp_path),
                 log_interval_seconds=1e9)
    result = train(config)
    assert result.mean_return >= threshold, result
