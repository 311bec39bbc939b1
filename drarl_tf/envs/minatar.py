"""MinAtar (the `minatar` package, an optional extra): five Atari-like games on a 10x10 grid.

Each game's observation is a stack of object channels (Breakout: paddle, ball,
trail, brick), here uint8 `[10, 10, C]` with 255 where an object is (so the nets'
1/255 scaling sees 0 or 1). MinAtar's own defaults are kept: sticky actions with
probability 0.1 and difficulty ramping; actions are each game's minimal action
set; one agent step is one frame (no frame skip); an episode ends when the game
does (no time cap). The names are fixed here, so `--list_games` and name checks
work without the package; making an env without it is a one-line error naming
the extra.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from drarl_tf.envs.base import EpisodeTracker, VecEnv, VecStep
from drarl_tf.errors import DrarlError

# Registry names -> MinAtar's module names.
MINATAR_GAMES = {
    "MinAtarAsterix": "asterix",
    "MinAtarBreakout": "breakout",
    "MinAtarFreeway": "freeway",
    "MinAtarSeaquest": "seaquest",
    "MinAtarSpaceInvaders": "space_invaders",
}
# Each game's object channels in order (as `minatar` 1.0.15 names them).
OBJECT_CHANNELS = {
    "MinAtarAsterix": ("player", "enemy", "trail", "gold"),
    "MinAtarBreakout": ("paddle", "ball", "trail", "brick"),
    "MinAtarFreeway": ("chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5"),
    "MinAtarSeaquest": ("sub_front", "sub_back", "friendly_bullet", "trail", "enemy_bullet",
                        "enemy_fish", "enemy_sub", "oxygen_guage", "diver_guage", "diver"),
    "MinAtarSpaceInvaders": ("cannon", "alien", "alien_left", "alien_right",
                             "friendly_bullet", "enemy_bullet"),
}
STICKY_ACTION_PROB = 0.1
DIFFICULTY_RAMPING = True
# MinAtar's full action set; each game plays a subset (its minimal action set).
ACTION_NAMES = ("NOOP", "LEFT", "UP", "RIGHT", "DOWN", "FIRE")
INSTALL_HINT = "pip install 'drarl_tf[minatar]' (from a checkout: pip install -e '.[minatar]')"


def is_minatar(game: str) -> bool:
    return game in MINATAR_GAMES


def object_channels(game: str) -> tuple[str, ...]:
    """The names of `game`'s object channels (MinAtar), or () for frame stacks."""
    return OBJECT_CHANNELS.get(game, ())


def require_minatar(game: str = "MinAtar"):
    """The `minatar` module, or a one-line DrarlError naming the extra to install."""
    try:
        found = importlib.util.find_spec("minatar") is not None
    except (ImportError, ValueError):  # e.g. blocked: sys.modules["minatar"] = None
        found = False
    if not found:
        raise DrarlError(f"{game} needs the MinAtar package, which is not installed: "
                         f"{INSTALL_HINT}")
    import minatar

    return minatar


def make_game(game: str):
    """One `minatar.Environment` of `game` (a registry name) with MinAtar's defaults:
    sticky actions 0.1 and difficulty ramping."""
    if game not in MINATAR_GAMES:
        raise DrarlError(f"{game} is not a MinAtar game; one of {', '.join(MINATAR_GAMES)}")
    return require_minatar(game).Environment(MINATAR_GAMES[game],
                                             sticky_action_prob=STICKY_ACTION_PROB,
                                             difficulty_ramping=DIFFICULTY_RAMPING)


def minatar_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("minatar")
    except metadata.PackageNotFoundError:
        return "unknown"


class MinAtarVecEnv(VecEnv):
    """`num_envs` copies of one MinAtar game, stepped in turn, next-step autoreset.

    Args:
      game: a registry name (`MinAtarBreakout`), as `check_game` returns it.
      num_envs: environments stepped together.
      training: unused (MinAtar has no lives: training and evaluation play whole games);
        kept for the signature every env factory shares.
    """

    def __init__(self, game: str, num_envs: int, training: bool = True):
        self.games = [make_game(game) for _ in range(num_envs)]
        self.name = game
        self.training = training
        first = self.games[0]
        self.actions = np.asarray(first.minimal_action_set(), np.int64)
        self.num_envs = num_envs
        self.obs_shape = tuple(int(d) for d in first.state_shape())
        self.num_actions = len(self.actions)
        self.action_meanings = tuple(ACTION_NAMES[a] for a in self.actions)
        channels = first.env.channels
        self.channel_names = tuple(sorted(channels, key=channels.get))
        if self.channel_names != OBJECT_CHANNELS[game]:  # another minatar release
            raise DrarlError(f"{game}: minatar {minatar_version()} has the channels "
                             f"{self.channel_names}, not {OBJECT_CHANNELS[game]}; install "
                             "minatar==1.0.15")
        self._state = np.zeros((num_envs,) + self.obs_shape, bool)
        self._tracker = EpisodeTracker(num_envs)
        self._done = np.zeros(num_envs, bool)

    @property
    def protocol(self) -> str:
        return (f"MinAtar {self.name[len('MinAtar'):]} (minatar {minatar_version()}): sticky "
                f"actions {STICKY_ACTION_PROB}, difficulty ramping "
                f"{'on' if DIFFICULTY_RAMPING else 'off'}, minimal action set "
                f"({self.num_actions} actions), {'x'.join(map(str, self.obs_shape))} object "
                "channels, one frame per agent step, whole games (no time cap)")

    def _obs(self) -> np.ndarray:
        return self._state.view(np.uint8) * np.uint8(255)

    def reset(self, seed: int | None = None) -> np.ndarray:
        seeds = (np.random.SeedSequence(seed).generate_state(self.num_envs) if seed is not None
                 else [None] * self.num_envs)
        for i, (game, s) in enumerate(zip(self.games, seeds, strict=True)):
            if s is not None:
                game.seed(int(s) % 2**31)
            game.reset()
            self._state[i] = game.state()
        self._tracker.reset()
        self._done[:] = False
        return self._obs()

    def step(self, actions: np.ndarray) -> VecStep:
        full = self.actions[np.asarray(actions, np.int64)]
        reward = np.zeros(self.num_envs, np.float32)
        terminated = np.zeros(self.num_envs, bool)
        reset_step = self._done.copy()
        for i, game in enumerate(self.games):
            if reset_step[i]:
                game.reset()
            else:
                reward[i], terminated[i] = game.act(int(full[i]))
            self._state[i] = game.state()
        self._done = terminated
        return self._tracker.vec_step(self._obs(), reward, terminated,
                                      np.zeros(self.num_envs, bool), reset_step)

    def close(self) -> None:
        self.games = []
