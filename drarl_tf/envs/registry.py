"""Game names -> vector envs: `Catch` (in the package), every Atari game of ale_py and
the five MinAtar games (the optional extra `minatar`)."""

from __future__ import annotations

import functools

from drarl_tf.envs.atari import AtariVecEnv, atari_games
from drarl_tf.envs.base import VecEnv
from drarl_tf.envs.catch import make_catch_env
from drarl_tf.envs.minatar import MINATAR_GAMES, MinAtarVecEnv
from drarl_tf.errors import DrarlError
from drarl_tf.names import match_name

CATCH = "Catch"


def game_names() -> list[str]:
    """Every accepted `--game` value, as `check_game` returns it."""
    return [CATCH] + sorted(MINATAR_GAMES) + sorted(atari_games())


@functools.cache
def check_game(game: str) -> str:
    """The canonical name of `game` (`Catch`, `MinAtarBreakout`, or the CamelCase Atari
    name: `roadrunner`, `road_runner` and `Road Runner` are `RoadRunner`), else a one-line DrarlError with the
    closest names. Every game name given by a user goes through here (cached)."""
    name, close = match_name(game, game_names())
    if name is not None:
        return name
    hint = (f"; did you mean {', '.join(close)}?" if close else
            "; --list_games of a training script (or drarl_tf.envs.game_names()) lists them")
    raise DrarlError(f"unknown game '{game}'{hint}")


def make_vector_env(
    game: str, num_envs: int, *, training: bool = True, num_threads: int = 0
) -> VecEnv:
    """Creates `num_envs` envs of `game`; `training=False` plays full games (evaluation)."""
    if num_envs < 1:
        raise DrarlError(f"num_envs must be >= 1, got {num_envs}")
    game = check_game(game)
    if game == CATCH:
        return make_catch_env(num_envs)
    if game in MINATAR_GAMES:
        return MinAtarVecEnv(game, num_envs, training=training)
    return AtariVecEnv(game, num_envs, training=training, num_threads=num_threads)
