"""Catch: a falling ball and a paddle, as a vectorised gymnasium env with pixel observations.

The ball starts in a random column of the top row and falls one row per step;
the paddle starts in the middle of the bottom row and moves left, stays or
moves right. When the ball reaches the bottom row the episode ends with +1 if
the paddle is under it, else -1 (as bsuite's Catch). Observations are the last
`stack` frames, each the grid scaled up by `scale` pixels per cell, uint8
`[rows * scale, columns * scale, stack]`, the layout of the Atari envs.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

ACTION_MEANINGS = ("LEFT", "NOOP", "RIGHT")


class CatchVectorEnv(gym.vector.VectorEnv):
    """`num_envs` Catch games stepped together in numpy, next-step autoreset."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}
    action_meanings = ACTION_MEANINGS

    def __init__(
        self, num_envs: int, rows: int = 10, columns: int = 5, scale: int = 2, stack: int = 4
    ):
        if min(num_envs, rows, columns, scale, stack) < 1 or rows < 2:
            raise ValueError("Catch needs num_envs, columns, scale, stack >= 1 and rows >= 2")
        self.num_envs = num_envs
        self.rows, self.columns, self.scale, self.stack = rows, columns, scale, stack
        shape = (rows * scale, columns * scale, stack)
        self.single_observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.single_action_space = gym.spaces.Discrete(len(ACTION_MEANINGS))
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._rng = np.random.default_rng()
        self._ball_row = np.zeros(num_envs, np.int64)
        self._ball_col = np.zeros(num_envs, np.int64)
        self._paddle = np.zeros(num_envs, np.int64)
        self._needs_reset = np.zeros(num_envs, bool)
        self._frames = np.zeros((num_envs,) + shape, np.uint8)

    def _reset_envs(self, mask: np.ndarray) -> None:
        n = int(mask.sum())
        self._ball_row[mask] = 0
        self._ball_col[mask] = self._rng.integers(0, self.columns, n)
        self._paddle[mask] = self.columns // 2
        self._needs_reset[mask] = False
        frame = self._render()[mask]
        self._frames[mask] = frame[..., None]  # the first frame fills the whole stack

    def _render(self) -> np.ndarray:
        grid = np.zeros((self.num_envs, self.rows, self.columns), np.uint8)
        idx = np.arange(self.num_envs)
        grid[idx, self.rows - 1, self._paddle] = 255
        grid[idx, self._ball_row, self._ball_col] = 255
        return grid.repeat(self.scale, axis=1).repeat(self.scale, axis=2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._reset_envs(np.ones(self.num_envs, bool))
        return self._frames.copy(), {}

    def step(self, actions):
        actions = np.asarray(actions)
        resetting = self._needs_reset.copy()
        live = ~resetting
        move = np.clip(actions, 0, 2) - 1
        self._paddle[live] = np.clip(self._paddle[live] + move[live], 0, self.columns - 1)
        self._ball_row[live] += 1
        landed = live & (self._ball_row == self.rows - 1)
        reward = np.where(landed, np.where(self._ball_col == self._paddle, 1.0, -1.0), 0.0)
        frame = self._render()
        self._frames[live] = np.concatenate(
            [self._frames[live][..., 1:], frame[live][..., None]], axis=-1
        )
        if resetting.any():
            self._reset_envs(resetting)
        self._needs_reset = landed
        terminated = landed.copy()
        truncated = np.zeros(self.num_envs, bool)
        return self._frames.copy(), reward.astype(np.float32), terminated, truncated, {}


def make_catch_env(num_envs: int, **kwargs):
    """A `VecEnv` of Catch; `kwargs` go to `CatchVectorEnv` (rows, columns, scale, stack)."""
    from drarl_tf.envs.gym_adapter import GymnasiumVecEnv

    env = GymnasiumVecEnv(CatchVectorEnv(num_envs, **kwargs), name="Catch")
    env.protocol = ("Catch: one falling ball per game, +1 caught or -1 missed "
                    "(the Atari protocol does not apply)")
    return env
