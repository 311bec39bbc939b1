"""Environments: Atari by the paper's protocol, Catch, MinAtar, and any gymnasium image env."""

from drarl_tf.envs.atari import AtariVecEnv, atari_games, rom_id
from drarl_tf.envs.base import EpisodeTracker, VecEnv, VecStep
from drarl_tf.envs.catch import CatchVectorEnv, make_catch_env
from drarl_tf.envs.factory import as_vec_env, describe, make_env
from drarl_tf.envs.gym_adapter import GymnasiumVecEnv, check_image_spaces
from drarl_tf.envs.minatar import MINATAR_GAMES, MinAtarVecEnv, require_minatar
from drarl_tf.envs.registry import CATCH, check_game, game_names, make_vector_env
from drarl_tf.envs.spec import EnvSpec

__all__ = [
    "AtariVecEnv",
    "CATCH",
    "CatchVectorEnv",
    "EnvSpec",
    "EpisodeTracker",
    "GymnasiumVecEnv",
    "MINATAR_GAMES",
    "MinAtarVecEnv",
    "VecEnv",
    "VecStep",
    "as_vec_env",
    "atari_games",
    "check_game",
    "check_image_spaces",
    "describe",
    "game_names",
    "make_catch_env",
    "make_env",
    "make_vector_env",
    "require_minatar",
    "rom_id",
]
