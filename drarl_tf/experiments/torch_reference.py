"""A PyTorch reference for PPO speed: Stable-Baselines3's PPO with the IMPALA net.

Only `scripts/benchmark.py --mode=torch_ppo` and `--mode=minatar` use this module, and
they need the optional packages `torch`, `stable-baselines3` and, for Atari,
`opencv-python-headless` (SB3's Atari wrappers): `pip install -e .[compare]`. The SB3
side runs in its own process that cannot load TensorFlow (`sb3_ppo_rate_in_process`,
`sb3_minatar_ppo_rate_in_process`, one helper): SB3 imports tensorboard,
which loads TensorFlow when it can, and TensorFlow and torch in one process have
crashed SB3's `learn()` (SIGSEGV) on a CPU with AVX512_BF16.
The network is the `impala` net of docs/design.md, Networks, written in PyTorch, with the
same parameter count as drarl_tf's; SB3's PPO runs with drarl_tf's PPO defaults
(8 envs x 128 steps, 4 epochs of 4 minibatches) on SB3's own Atari wrappers.

For `--mode=minatar`, SB3's PPO runs with the MinAtar study's settings
(`sb3_ppo_settings` of its PPOConfig) on `MinAtarGymEnv`, a gymnasium env over one
MinAtar game with drarl_tf's protocol (needs the `minatar` extra, not opencv; the env
itself needs no torch). The torso has the same parameter count as drarl_tf's there too
(130,768 on Breakout's 4 channels).
"""

from __future__ import annotations

import importlib
import os
import time

import gymnasium as gym
import numpy as np

from drarl_tf.envs import minatar as drarl_minatar
from drarl_tf.errors import DrarlError

# What each benchmark mode needs besides torch and SB3: (module, its name, pip extras).
_MODE_NEEDS = {"torch_ppo": ("cv2", "opencv", "compare"),  # SB3's Atari wrappers
               "minatar": ("minatar", "minatar", "compare,minatar")}


def require(mode: str | None = "torch_ppo"):
    """(torch, stable_baselines3), or one DrarlError line naming what is missing and the
    pip extras to install; `mode` (a key of `_MODE_NEEDS`, or None) adds its package."""
    module, name, extras = _MODE_NEEDS.get(mode, (None, "", "compare"))
    try:
        import stable_baselines3
        import torch

        if module:
            importlib.import_module(module)
    except ImportError as e:
        needs = "torch, stable-baselines3" + (f" and {name}" if name else "")
        who = f"--mode={mode}" if mode else "the PyTorch reference"
        raise DrarlError(f"{who} needs {needs} ({e.name} is missing): "
                         f"pip install -e '.[{extras}]'") from None
    return torch, stable_baselines3


# A function of this module, run as `python -c` with TensorFlow made unimportable.
_SB3_CHILD = """
import json, sys
sys.modules["tensorflow"] = None  # tensorboard then runs without TensorFlow
from drarl_tf.experiments import torch_reference
row = getattr(torch_reference, sys.argv[1])(*json.loads(sys.argv[2]))
# Every TensorFlow module that got loaded anyway (none can: the parent is blocked).
row["tensorflow_modules"] = sorted(
    n for n, m in sys.modules.items() if m is not None and n.split(".")[0] == "tensorflow")
print("RESULT " + json.dumps(row))
"""


def _in_process_without_tensorflow(function: str, args: list,
                                   timeout_seconds: float = 3600.0) -> dict:
    """`function(*args)` (a function of this module returning a JSON-able dict; `args`
    JSON-able) in a fresh Python process in which TensorFlow cannot load."""
    import json
    import subprocess
    import sys

    try:
        out = subprocess.run([sys.executable, "-c", _SB3_CHILD, function, json.dumps(args)],
                             capture_output=True, text=True, timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        raise DrarlError(f"the Stable-Baselines3 measurement took over {timeout_seconds:.0f} "
                         "s and was stopped") from None
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise DrarlError(f"the Stable-Baselines3 measurement failed (exit code "
                         f"{out.returncode}): {last}")
    return json.loads(lines[-1][len("RESULT "):])


def sb3_ppo_rate_in_process(game: str, timed_rollouts: int = 2,
                            timeout_seconds: float = 3600.0) -> dict:
    """`sb3_ppo_rate` in a fresh Python process in which TensorFlow cannot load."""
    return _in_process_without_tensorflow("sb3_ppo_rate", [game, timed_rollouts],
                                          timeout_seconds)


def sb3_minatar_ppo_rate_in_process(config, timed_rollouts: int = 2,
                                    timeout_seconds: float = 3600.0) -> dict:
    """`sb3_minatar_ppo_rate` with the settings of `config` (a drarl_tf PPOConfig on a
    MinAtar game) in a fresh Python process in which TensorFlow cannot load."""
    return _in_process_without_tensorflow(
        "sb3_minatar_ppo_rate",
        [config.game, config.num_envs, sb3_ppo_settings(config), timed_rollouts],
        timeout_seconds)


def sb3_ppo_settings(config) -> dict:
    """SB3 PPO's keyword arguments that mean the same as a drarl_tf PPOConfig's fields
    (SB3's batch_size is one minibatch; n_steps is the steps per env per rollout)."""
    return {"n_steps": config.unroll_length,
            "batch_size": config.num_envs * config.unroll_length // config.num_minibatches,
            "n_epochs": config.num_epochs, "learning_rate": config.learning_rate,
            "clip_range": config.clip_ratio, "clip_range_vf": config.value_clip,
            "ent_coef": config.entropy_coef, "vf_coef": config.value_coef,
            "max_grad_norm": config.max_grad_norm, "gamma": config.discount,
            "gae_lambda": config.gae_lambda}


class MinAtarGymEnv(gym.Env):
    """One MinAtar game (a registry name, e.g. MinAtarBreakout) as a gymnasium env, with
    drarl_tf's protocol (sticky actions 0.1, difficulty ramping, the minimal action set)
    and uint8 channel-first observations [C, 10, 10] that are 0 or 255, so that SB3
    treats them as images: divided by 255 and not transposed."""

    metadata = {"render_modes": []}

    def __init__(self, game: str):
        self.game = drarl_minatar.make_game(game)
        self.actions = [int(a) for a in self.game.minimal_action_set()]
        height, width, channels = (int(d) for d in self.game.state_shape())
        self.observation_space = gym.spaces.Box(0, 255, (channels, height, width), np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.actions))

    def _obs(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), np.uint8) * np.uint8(255)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.seed(seed % 2**31)
        self.game.reset()
        return self._obs(), {}

    def step(self, action):
        reward, terminated = self.game.act(self.actions[int(action)])
        return self._obs(), float(reward), bool(terminated), False, {}


def impala_extractor_class():
    """The IMPALA torso + dense 256 as an SB3 features extractor (built lazily, so that
    this module imports without torch)."""
    torch, _ = require(None)
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    nn = torch.nn

    class Residual(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))

    class ImpalaExtractor(BaseFeaturesExtractor):
        def __init__(self, observation_space, features_dim: int = 256):
            super().__init__(observation_space, features_dim)
            layers, channels = [], observation_space.shape[0]
            for out in (16, 32, 32):
                layers += [nn.Conv2d(channels, out, 3, padding=1),
                           nn.MaxPool2d(3, stride=2, padding=1), Residual(out), Residual(out)]
                channels = out
            self.torso = nn.Sequential(*layers)
            with torch.no_grad():
                flat = self.torso(torch.zeros((1,) + tuple(observation_space.shape))).numel()
            self.dense = nn.Linear(flat, features_dim)

        def forward(self, obs):  # SB3 has already scaled uint8 images to [0, 1]
            x = torch.relu(self.torso(obs)).flatten(1)
            return torch.relu(self.dense(x))

    return ImpalaExtractor


def _sb3_impala_ppo(sb3, env, **settings):
    """SB3's PPO on `env` with the IMPALA torso (no hidden layers after it), on the CPU
    with all cores, seed 0."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return sb3.PPO("CnnPolicy", env, device="cpu", seed=0,
                   policy_kwargs=dict(features_extractor_class=impala_extractor_class(),
                                      net_arch=[]), **settings)


def _timed_learn(model, steps: int, timed_rollouts: int) -> tuple[float, float, int]:
    """One warm-up rollout of `steps` agent steps and its update, then `timed_rollouts`
    timed ones: (seconds, the kernel's share of CPU time while timed, torso params)."""
    torso = sum(p.numel() for p in model.policy.features_extractor.parameters())
    model.learn(steps)  # warm-up: one rollout and one update
    cpu0, start = os.times(), time.perf_counter()
    model.learn(timed_rollouts * steps, reset_num_timesteps=False)
    seconds, cpu1 = time.perf_counter() - start, os.times()
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    return seconds, system / max(user + system, 1e-9), torso


def _implementation(torch, sb3) -> str:
    return f"stable-baselines3 {sb3.__version__} (torch {torch.__version__})"


def sb3_ppo_rate(game: str, timed_rollouts: int = 2) -> dict:
    """SB3 PPO frames/s on `game` after one warm-up rollout + update, and the share of
    CPU time spent in the kernel while timed."""
    torch, sb3 = require()
    import ale_py
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env(f"{game}NoFrameskip-v4", n_envs=8, seed=0), n_stack=4)
    model = _sb3_impala_ppo(sb3, env, n_steps=128, batch_size=256, n_epochs=4,
                            learning_rate=2.5e-4, clip_range=0.1, ent_coef=0.01, vf_coef=0.5,
                            max_grad_norm=0.5, gae_lambda=0.95, gamma=0.99)
    steps = 8 * 128
    seconds, system_share, torso = _timed_learn(model, steps, timed_rollouts)
    env.close()
    return {"implementation": _implementation(torch, sb3),
            "torso_params": torso, "frames_per_s": 4 * timed_rollouts * steps / seconds,
            "system_cpu_share": system_share}


def sb3_minatar_ppo_rate(game: str, num_envs: int, settings: dict,
                         timed_rollouts: int = 2) -> dict:
    """SB3 PPO agent steps/s (= frames/s: MinAtar has no frame skip) on `num_envs`
    `MinAtarGymEnv`s of `game` (DummyVecEnv, seed 0) with `settings` (`sb3_ppo_settings`),
    after one warm-up rollout + update, and the kernel's share of CPU time while timed."""
    torch, sb3 = require("minatar")
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(MinAtarGymEnv, n_envs=num_envs, seed=0, env_kwargs={"game": game})
    model = _sb3_impala_ppo(sb3, env, **settings)
    steps = num_envs * settings["n_steps"]
    seconds, system_share, torso = _timed_learn(model, steps, timed_rollouts)
    env.close()
    return {"implementation": _implementation(torch, sb3), "game": game,
            "num_envs": num_envs, "torch_threads": torch.get_num_threads(),
            "torso_params": torso, "steps_per_s": timed_rollouts * steps / seconds,
            "frames_per_s": timed_rollouts * steps / seconds, "system_cpu_share": system_share}


def drarl_ppo_rate(game: str, timed_rollouts: int = 2, precision: str = "float32") -> dict:
    """drarl_tf PPO (impala net, paper defaults) frames/s after one warm-up update, and
    the kernel's share of CPU time over the whole run."""
    import dataclasses
    import tempfile

    import tensorflow as tf

    from drarl_tf.ppo import PPOConfig, train
    from drarl_tf.training.hardware import resolved

    config = resolved(PPOConfig(net="impala", game=game, precision=precision))
    frames = (timed_rollouts + 1) * config.num_envs * config.unroll_length * 4
    with tempfile.TemporaryDirectory() as tmp:
        config = dataclasses.replace(config, logdir=f"{tmp}/runs", export_dir=f"{tmp}/saved",
                                     total_frames=frames, log_interval_seconds=1e9,
                                     checkpoint_minutes=1e9, image_every_frames=0)
        cpu0 = os.times()
        result = train(config)  # steady_fps leaves out the first update
        cpu1 = os.times()
    from drarl_tf.envs import describe
    from drarl_tf.networks import build_network

    spec = describe(game)
    heads = 257 * (spec.num_actions + 1)  # policy logits and value on the dense-256 features
    torso = build_network("impala", spec.num_actions, spec.obs_shape).count_params() - heads
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    return {"implementation": f"drarl_tf (TensorFlow {tf.__version__}, {config.precision})",
            "torso_params": torso, "frames_per_s": result.steady_fps,
            "system_cpu_share": system / max(user + system, 1e-9)}
