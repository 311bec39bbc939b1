"""Adapter from any gymnasium vector env with image observations to `VecEnv`."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from drarl_tf.envs.base import EpisodeTracker, VecEnv, VecStep
from drarl_tf.errors import DrarlError


def check_image_spaces(observation_space: gym.Space, action_space: gym.Space, name: str) -> None:
    """Raises a one-line DrarlError unless obs are uint8 `[H, W, C]` images and actions discrete."""
    if not (
        isinstance(observation_space, gym.spaces.Box)
        and observation_space.dtype == np.uint8
        and len(observation_space.shape) == 3
    ):
        raise DrarlError(
            f"env {name}: observations must be uint8 images [height, width, channels], "
            f"got {observation_space}; wrap the env to produce them"
        )
    if not isinstance(action_space, gym.spaces.Discrete):
        raise DrarlError(f"env {name}: actions must be gymnasium.spaces.Discrete, got {action_space}")


class GymnasiumVecEnv(VecEnv):
    """Wraps a `gymnasium.vector.VectorEnv` that autoresets on the next step."""

    def __init__(self, env: gym.vector.VectorEnv, name: str | None = None):
        self.name = name or type(env).__name__
        mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise DrarlError(
                f"env {self.name}: autoreset_mode must be NEXT_STEP, got {mode}; "
                "create the vector env with autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP"
            )
        check_image_spaces(env.single_observation_space, env.single_action_space, self.name)
        self.env = env
        self.num_envs = env.num_envs
        self.obs_shape = tuple(env.single_observation_space.shape)
        self.num_actions = int(env.single_action_space.n)
        meanings = getattr(env, "action_meanings", None)
        self.action_meanings = tuple(meanings or (str(a) for a in range(self.num_actions)))
        self._tracker = EpisodeTracker(self.num_envs)
        self._done = np.zeros(self.num_envs, bool)

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self._tracker.reset()
        self._done[:] = False
        return np.asarray(obs, np.uint8)

    def step(self, actions: np.ndarray) -> VecStep:
        obs, reward, terminated, truncated, _ = self.env.step(np.asarray(actions))
        step = self._tracker.vec_step(np.asarray(obs, np.uint8), reward, terminated, truncated,
                                      reset_step=self._done)
        self._done = step.terminated | step.truncated
        return step

    def close(self) -> None:
        self.env.close()
