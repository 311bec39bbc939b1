"""Envs for a trainer: a game's `VecEnv`s by name, or a user's `env_fn`'s, and the
`EnvSpec` they make."""

from __future__ import annotations

from drarl_tf.envs.base import VecEnv
from drarl_tf.envs.registry import make_vector_env
from drarl_tf.envs.spec import EnvSpec
from drarl_tf.errors import DrarlError


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
    return make_vector_env(game, num_envs, **kwargs)


def describe(game: str, env_fn=None) -> EnvSpec:
    """The `EnvSpec` of `game` (or of `env_fn`'s envs), from one env made and closed."""
    env = make_env(game, 1, env_fn)
    try:
        return EnvSpec.of(env)
    finally:
        env.close()
