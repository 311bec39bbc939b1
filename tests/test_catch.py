"""Catch dynamics, next-step autoreset and a random policy's expected return."""

import numpy as np

from drarl_tf.envs import CatchVectorEnv, GymnasiumVecEnv, make_vector_env


def _ball_and_paddle(frame, scale):
    grid = frame[::scale, ::scale]
    rows = grid.shape[0]
    paddle = int(np.flatnonzero(grid[rows - 1])[0]) if grid[rows - 1].any() else None
    return grid, paddle


def test_observation_layout():
    env = make_vector_env("Catch", 3)
    obs = env.reset(seed=0)
    assert obs.shape == (3, 20, 10, 4) and obs.dtype == np.uint8
    assert env.obs_shape == (20, 10, 4) and env.num_actions == 3
    # The first frame fills the stack; each frame shows the ball and the paddle.
    assert all((obs[..., k] == obs[..., 0]).all() for k in range(4))
    assert ((obs[:, :, :, 0] == 255).sum(axis=(1, 2)) == 2 * 4).all()  # 2 cells of 2x2 pixels


def test_catch_gives_plus_one_and_miss_gives_minus_one():
    raw = CatchVectorEnv(2, rows=6, columns=5, scale=1, stack=1)
    raw.reset(seed=3)
    raw._ball_col[:] = [1, 4]
    raw._paddle[:] = 2
    rewards = []
    for t in range(5):
        # Env 0 walks the paddle left to column 1; env 1 stays at column 2.
        _, r, term, _, _ = raw.step(np.array([0 if t == 0 else 1, 1]))
        rewards.append(r)
        assert term.all() == (t == 4)
        assert raw._ball_row.tolist() == [t + 1, t + 1]
    np.testing.assert_array_equal(rewards[-1], [1.0, -1.0])
    assert all((r == 0).all() for r in rewards[:-1])


def test_next_step_autoreset_is_marked():
    env = GymnasiumVecEnv(CatchVectorEnv(4, rows=5))
    env.reset(seed=1)
    for _t in range(4):
        step = env.step(np.zeros(4, int))
        assert not step.reset_step.any()
    assert step.terminated.all()
    step = env.step(np.full(4, 2))  # ignored: this step resets
    assert step.reset_step.all() and (step.reward == 0).all() and not step.terminated.any()
    assert len(step.episode_returns) == 4 and (step.episode_lengths == 4).all()
    grid, paddle = _ball_and_paddle(step.obs[0, :, :, -1], 2)
    assert paddle == 2 and grid[0].any()  # fresh episode: ball on top, paddle centred


def test_random_policy_return_matches_exact_value():
    # The ball's column is uniform and independent of a random paddle's, so
    # P(catch) = 1 / columns and the expected return is 2 / 5 - 1 = -0.6.
    expected = 2 / 5 - 1
    env = make_vector_env("Catch", 64)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    returns = []
    while len(returns) < 6000:
        returns.extend(env.step(rng.integers(0, 3, 64)).episode_returns)
    returns = np.array(returns)
    stderr = returns.std() / np.sqrt(len(returns))
    assert abs(returns.mean() - expected) < 4 * stderr, (returns.mean(), expected)


def test_seed_makes_runs_identical():
    def run(seed):
        env = make_vector_env("Catch", 8)
        obs = [env.reset(seed=seed)]
        rng = np.random.default_rng(5)
        obs += [env.step(rng.integers(0, 3, 8)).obs for _ in range(30)]
        return np.stack(obs)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))
