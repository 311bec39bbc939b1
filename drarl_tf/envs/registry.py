"""Game names -> vector envs: `Catch` (in the package), every Atari game of ale_py and
the five MinAtar games (the optional extra `minatar`)."""

from __future__ import annotations

import difflib
import functools

from drarl_tf.envs.atari import AtariVecEnv, atari_games
from drarl_tf.envs.base import VecEnv
from drarl_tf.envs.catch import make_catch_env
from drarl_tf.envs.minatar import MINATAR_GAMES, MinAtarVecEnv
from drarl_tf.errors import DrarlError

CATCH = "Catch"


def game_names() -> list[str]:
    """Every accepted `--game` value, as `check_game` returns it."""
    return [CATCH] + sorted(MINATAR_GAMES) + sorted(atari_games())


def _key(name: str) -> str:
    """What a game name is compared by: any case; '_', '-' and spaces ignored."""
    return "".join(c for c in name.strip().lower() if c not in "_- ")


@functools.cache
def _names_by_key() -> dict[str, str]:
    return {_key(name): name for name in game_names()}


@functools.cache
def check_game(game: str) -> str:
    """The canonical name of `game` (`Catch`, `MinAtarBreakout`, or the CamelCase Atari
    name: `roadrunner`, `road_runner` and `Road Runner` are `RoadRunner`), else a one-line DrarlError with the
    closest names. Every game name given by a user goes through here (cached)."""
    game = str(game)
    names = _names_by_key()
    key = _key(game)
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=4, cutoff=0.6)
    hint = (f"; did you mean {', '.join(names[k] for k in close)}?" if close else
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
