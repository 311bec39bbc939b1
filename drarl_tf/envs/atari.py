"""Atari by the paper's protocol on ale_py's C++ vector environment.

Protocol (docs/design.md, Atari protocol): minimal action set, no sticky actions, up to 30
no-ops at reset, frame skip 4 with a max over the last 2 frames, 84x84 grey,
4 frames stacked, FIRE on reset, 108,000-frame cap. In training a lost life
ends the learning episode (`terminated`) while the game goes on; in evaluation
only game over does. Rewards are returned raw; the algorithms clip them.

ale_py's own `episodic_life=True` resets the whole game at every life lost
(seen with ale-py 0.12), which is not the protocol; we use `life_loss_info=True`
instead, which signals the life loss and keeps playing.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from drarl_tf.envs.base import EpisodeTracker, VecEnv, VecStep
from drarl_tf.errors import DrarlError
from drarl_tf.names import match_name

FRAME_SKIP = 4
MAX_EPISODE_FRAMES = 108_000
NOOP_MAX = 30


def _camel(rom_id: str) -> str:
    return "".join(part.capitalize() for part in rom_id.split("_"))


@functools.cache
def atari_games() -> dict[str, str]:
    """CamelCase game names (`RoadRunner`) -> ale_py ROM ids (`road_runner`)."""
    from ale_py import roms

    return {_camel(rom): rom for rom in roms.get_all_rom_ids()}


def rom_id(game: str) -> str:
    """The ROM id of an Atari game in any spelling (`RoadRunner`, `road_runner`,
    `roadrunner`); one-line DrarlError for unknown or non-Atari names."""
    name, close = match_name(game, atari_games())
    if name is None:
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DrarlError(f"'{game}' is not an Atari game{hint}")
    return atari_games()[name]


def _rom_path(rom: str, game: str):
    from ale_py import roms

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = roms.get_rom_path(rom)
    except (OSError, NotADirectoryError) as e:
        raise DrarlError(
            f"ROM for {game} missing or unreadable ({e}); reinstall ale-py, which ships the ROMs"
        ) from None
    if path is None:
        raise DrarlError(f"ale-py has no ROM for {game}; reinstall ale-py, which ships the ROMs")
    return path


class AtariVecEnv(VecEnv):
    """`num_envs` copies of one Atari game, stepped by ale_py's C++ threads.

    Args:
      game: a game name in any spelling `check_game` accepts (e.g. `RoadRunner`).
      num_envs: environments stepped together.
      training: if True a lost life terminates the learning episode (not the game).
      num_threads: ale_py worker threads (0: one per core).
    """

    def __init__(self, game: str, num_envs: int, training: bool = True, num_threads: int = 0):
        from ale_py.vector_env import AtariVectorEnv

        rom = rom_id(game)
        _rom_path(rom, game)
        self.name = _camel(rom)
        self.training = training
        self.env = AtariVectorEnv(
            rom,
            num_envs,
            num_threads=num_threads,
            max_num_frames_per_episode=MAX_EPISODE_FRAMES,
            repeat_action_probability=0.0,
            full_action_space=False,
            img_height=84,
            img_width=84,
            grayscale=True,
            stack_num=4,
            frameskip=FRAME_SKIP,
            maxpool=True,
            noop_max=NOOP_MAX,
            episodic_life=False,
            life_loss_info=training,
            reward_clipping=False,
            use_fire_reset=True,
        )
        self.num_envs = num_envs
        self.frames_per_step = FRAME_SKIP
        self.obs_shape = (84, 84, 4)
        self.num_actions = int(self.env.single_action_space.n)
        self.action_meanings = tuple(a.name for a in self.env.ale.get_action_set())
        self._tracker = EpisodeTracker(num_envs)
        self._done = np.zeros(num_envs, bool)
        self._episode_frame = np.zeros(num_envs, np.int64)

    @property
    def protocol(self) -> str:
        ends = ("a lost life ends the learning episode, the game goes on" if self.training
                else "full games (all lives)")
        return (f"Atari {self.name}: {ends}, up to {NOOP_MAX} no-ops at reset, frame skip "
                f"{FRAME_SKIP}, no sticky actions, {MAX_EPISODE_FRAMES:,}-frame cap")

    @staticmethod
    def _nhwc(obs: np.ndarray) -> np.ndarray:
        # One contiguous plane per channel reads 3-4x faster than a strided
        # transpose, and ale_py's threads wait while we copy.
        out = np.empty(obs.shape[:1] + obs.shape[2:] + obs.shape[1:2], obs.dtype)
        for k in range(obs.shape[1]):
            out[..., k] = obs[:, k]
        return out

    def reset(self, seed: int | None = None) -> np.ndarray:
        # ale_py takes 32-bit seeds; the trainers derive larger ones from --seed.
        obs, info = self.env.reset(seed=None if seed is None else int(seed) % 2**31)
        self._tracker.reset()
        self._done[:] = False
        self._episode_frame[:] = info["episode_frame_number"]
        return self._nhwc(obs)

    def step(self, actions: np.ndarray) -> VecStep:
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(actions, np.int32))
        frame = info["episode_frame_number"].astype(np.int64)
        # After a life lost the game goes on (frame count grows); after a game over
        # ale_py resets on this step, restarting the episode's frame count.
        reset_step = self._done & (frame <= self._episode_frame)
        self._episode_frame = frame
        self._done = terminated | truncated
        return self._tracker.vec_step(self._nhwc(obs), reward, terminated, truncated, reset_step)

    def close(self) -> None:
        self.env.close()
