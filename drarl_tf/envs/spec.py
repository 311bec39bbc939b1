"""What a trainer needs to know about an environment, without holding one: `EnvSpec`."""

from __future__ import annotations

import dataclasses

from drarl_tf.envs.base import VecEnv

DEFAULT_PROTOCOL = VecEnv.protocol


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """A game's name, observation shape, actions, frames per agent step and episode
    protocol: what networks, run names, frame counts and SavedModels are made from.

    Attributes:
      name: the canonical game name (e.g. `RoadRunner`, `Catch`).
      obs_shape: `(H, W, C)` of the uint8 observations.
      num_actions: size of the discrete action set.
      action_meanings: one name per action.
      frames_per_step: emulator frames per agent step (Atari: the frame skip, 4).
      protocol: what one episode is, in words (recorded with evaluations and exports).
    """

    name: str
    obs_shape: tuple[int, int, int]
    num_actions: int
    action_meanings: tuple[str, ...]
    frames_per_step: int = 1
    protocol: str = DEFAULT_PROTOCOL

    @classmethod
    def of(cls, env: VecEnv) -> EnvSpec:
        return cls(name=env.name, obs_shape=tuple(int(d) for d in env.obs_shape),
                   num_actions=int(env.num_actions),
                   action_meanings=tuple(env.action_meanings),
                   frames_per_step=int(getattr(env, "frames_per_step", 1)),
                   protocol=getattr(env, "protocol", DEFAULT_PROTOCOL))
