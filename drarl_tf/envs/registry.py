"""Game names -> vector envs: `Catch` (in the package) and every Atari game of ale_py."""

from __future__ import annotations

from drarl_tf.envs.atari import AtariVecEnv, atari_games, rom_id
from drarl_tf.envs.base import VecEnv
from drarl_tf.envs.catch import make_catch_env
from drarl_tf.errors import DrarlError

CATCH = "Catch"


def game_names() -> list[str]:
    """Every accepted `--game` value."""
    return [CATCH] + sorted(atari_games())


def check_game(game: str) -> str:
    """Returns the canonical name of `game`, or raises a one-line DrarlError."""
    if game.lower() == CATCH.lower():
        return CATCH
    rom = rom_id(game)
    return next(camel for camel, r in atari_games().items() if r == rom)


def make_vector_env(
    game: str, num_envs: int, *, training: bool = True, num_threads: int = 0
) -> VecEnv:
    """Creates `num_envs` envs of `game`; `training=False` plays full games (evaluation)."""
    if num_envs < 1:
        raise DrarlError(f"num_envs must be >= 1, got {num_envs}")
    game = check_game(game)
    if game == CATCH:
        return make_catch_env(num_envs)
    return AtariVecEnv(game, num_envs, training=training, num_threads=num_threads)
