"""The vector-environment interface shared by every trainer, and episode bookkeeping.

Every environment steps with next-step autoreset: after a step that ends an
episode (terminated or truncated), the following `step` ignores its actions,
resets those envs and returns their first observation with reward 0 and
`reset_step=True`. That step is not a transition: the trainers mask it out of
V-trace, GAE and every loss. The observation returned at the end of an episode
is the real final one, so a truncated episode can bootstrap from it.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class VecStep:
    """What one `VecEnv.step` returns. Arrays have the batch of envs as first axis.

    Attributes:
      obs: uint8 `[N, H, W, C]` observations after the step.
      reward: float32 `[N]` raw reward (the game score; clip in the algorithm).
      terminated: bool `[N]` the learning episode ended (in Atari training: a life lost).
      truncated: bool `[N]` the episode was cut by a time limit (bootstrap through it).
      reset_step: bool `[N]` this step only reset the env; its action was ignored.
      episode_returns: float64 `[K]` raw returns of the K full games that just ended.
      episode_lengths: int64 `[K]` their lengths in agent steps.
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    reset_step: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray


class VecEnv(abc.ABC):
    """A batch of `num_envs` environments with uint8 NHWC image observations."""

    num_envs: int
    obs_shape: tuple[int, int, int]
    num_actions: int
    action_meanings: tuple[str, ...]
    name: str
    frames_per_step: int = 1  # emulator frames per agent step (Atari: the frame skip)
    # What one episode is, in words (recorded with evaluation results and SavedModels).
    protocol: str = "episodes as the environment ends them (terminated or truncated)"

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Resets every env; returns uint8 `[N, H, W, C]` observations."""

    @abc.abstractmethod
    def step(self, actions: np.ndarray) -> VecStep:
        """Steps every env with int `[N]` actions."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the environments' resources."""


class EpisodeTracker:
    """Sums raw rewards per env into full-game returns, closed at the reset step."""

    def __init__(self, num_envs: int):
        self._returns = np.zeros(num_envs, np.float64)
        self._lengths = np.zeros(num_envs, np.int64)

    def reset(self) -> None:
        self._returns[:] = 0.0
        self._lengths[:] = 0

    def vec_step(self, obs, reward, terminated, truncated, reset_step) -> VecStep:
        """Counts one step and packs it, with the games that ended, as a `VecStep`."""
        reward = np.asarray(reward, np.float32)
        reset_step = np.asarray(reset_step, bool)
        returns, lengths = self.update(reward, reset_step)
        return VecStep(obs=obs, reward=reward, terminated=np.asarray(terminated, bool),
                       truncated=np.asarray(truncated, bool), reset_step=reset_step,
                       episode_returns=returns, episode_lengths=lengths)

    def update(self, reward: np.ndarray, reset_step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adds one step; returns (returns, lengths) of the games that ended before it."""
        done_returns = self._returns[reset_step].copy()
        done_lengths = self._lengths[reset_step].copy()
        self._returns[reset_step] = 0.0
        self._lengths[reset_step] = 0
        live = ~reset_step
        self._returns[live] += reward[live]
        self._lengths[live] += 1
        return done_returns, done_lengths
