"""What a trainer needs to know about an environment, without holding one: `EnvSpec`."""

from __future__ import annotations

import dataclasses

from drarl_tf.envs.base import VecEnv
from drarl_tf.errors import DrarlError

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


def as_vec_env(env, source: str = "env_fn") -> VecEnv:
    """`env` as a `VecEnv`: a `gymnasium.vector.VectorEnv` is wrapped in `GymnasiumVecEnv`;
    anything else is refused with one line."""
    if isinstance(env, VecEnv):
        return env
    import gymnasium as gym

    if isinstance(env, gym.vector.VectorEnv):
        from drarl_tf.envs.gym_adapter import GymnasiumVecEnv

        return GymnasiumVecEnv(env)
    raise DrarlError(f"{source} must return a drarl_tf.envs.VecEnv or a "
                     f"gymnasium.vector.VectorEnv, got {type(env).__name__}")


def make_env(game: str, num_envs: int, env_fn=None, **kwargs) -> VecEnv:
    """`num_envs` envs of `game`, or of `env_fn(num_envs)` when given (see `as_vec_env`);
    `kwargs` go to `make_vector_env` (training, num_threads)."""
    if env_fn is not None:
        return as_vec_env(env_fn(num_envs))
    from drarl_tf.envs.registry import make_vector_env

    return make_vector_env(game, num_envs, **kwargs)


def describe(game: str, env_fn=None) -> EnvSpec:
    """The `EnvSpec` of `game` (or of `env_fn`'s envs), from one env made and closed."""
    env = make_env(game, 1, env_fn)
    try:
        return EnvSpec.of(env)
    finally:
        env.close()
