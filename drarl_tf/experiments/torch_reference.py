"""A PyTorch reference for PPO speed: Stable-Baselines3's PPO with the IMPALA net.

Only `scripts/benchmark.py --mode=torch_ppo` uses this module, and it needs the
optional packages `torch`, `stable-baselines3` and `opencv-python-headless` (SB3's
Atari wrappers): `pip install -e .[compare]`. The SB3 side runs in its own process
that cannot load TensorFlow (`sb3_ppo_rate_in_process`): SB3 imports tensorboard,
which loads TensorFlow when it can, and TensorFlow and torch in one process have
crashed SB3's `learn()` (SIGSEGV) on a CPU with AVX512_BF16.
The network is the `impala` net of docs/design.md, Networks, written in PyTorch, with the
same parameter count as drarl_tf's; SB3's PPO runs with drarl_tf's PPO defaults
(8 envs x 128 steps, 4 epochs of 4 minibatches) on SB3's own Atari wrappers.
"""

from __future__ import annotations

import os
import time

from drarl_tf.errors import DrarlError


def require():
    try:
        import cv2  # noqa: F401 -- SB3's Atari wrappers need it
        import stable_baselines3
        import torch
    except ImportError as e:
        raise DrarlError(f"--mode=torch_ppo needs torch, stable-baselines3 and opencv "
                         f"({e.name} is missing): pip install -e '.[compare]'") from None
    return torch, stable_baselines3


# The SB3 measurement, run as `python -c` with TensorFlow made unimportable.
_SB3_CHILD = """
import json, sys
sys.modules["tensorflow"] = None  # tensorboard then runs without TensorFlow
from drarl_tf.experiments.torch_reference import sb3_ppo_rate
row = sb3_ppo_rate(sys.argv[1], int(sys.argv[2]))
# Every TensorFlow module that got loaded anyway (none can: the parent is blocked).
row["tensorflow_modules"] = sorted(
    n for n, m in sys.modules.items() if m is not None and n.split(".")[0] == "tensorflow")
print("RESULT " + json.dumps(row))
"""


def sb3_ppo_rate_in_process(game: str, timed_rollouts: int = 2,
                            timeout_seconds: float = 3600.0) -> dict:
    """`sb3_ppo_rate` in a fresh Python process in which TensorFlow cannot load."""
    import json
    import subprocess
    import sys

    try:
        out = subprocess.run([sys.executable, "-c", _SB3_CHILD, game, str(timed_rollouts)],
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


def impala_extractor_class():
    """The IMPALA torso + dense 256 as an SB3 features extractor (built lazily, so that
    this module imports without torch)."""
    torch, _ = require()
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


def sb3_ppo_rate(game: str, timed_rollouts: int = 2) -> dict:
    """SB3 PPO frames/s on `game` after one warm-up rollout + update, and the share of
    CPU time spent in the kernel while timed."""
    torch, sb3 = require()
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    torch.set_num_threads(os.cpu_count() or 1)
    env = VecFrameStack(make_atari_env(f"{game}NoFrameskip-v4", n_envs=8, seed=0), n_stack=4)
    model = sb3.PPO("CnnPolicy", env, n_steps=128, batch_size=256, n_epochs=4,
                    learning_rate=2.5e-4, clip_range=0.1, ent_coef=0.01, vf_coef=0.5,
                    max_grad_norm=0.5, gae_lambda=0.95, gamma=0.99, device="cpu", seed=0,
                    policy_kwargs=dict(features_extractor_class=impala_extractor_class(),
                                       net_arch=[]))
    torso = sum(p.numel() for p in model.policy.features_extractor.parameters())
    steps = 8 * 128
    model.learn(steps)  # warm-up: one rollout and one update
    cpu0, start = os.times(), time.perf_counter()
    model.learn(timed_rollouts * steps, reset_num_timesteps=False)
    seconds, cpu1 = time.perf_counter() - start, os.times()
    env.close()
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    return {"implementation": f"stable-baselines3 {sb3.__version__} (torch {torch.__version__})",
            "torso_params": torso, "frames_per_s": 4 * timed_rollouts * steps / seconds,
            "system_cpu_share": system / max(user + system, 1e-9)}


def drarl_ppo_rate(game: str, timed_rollouts: int = 2, precision: str = "float32") -> dict:
    """drarl_tf PPO (impala net, paper defaults) frames/s after one warm-up update, and
    the kernel's share of CPU time over the whole run."""
    import dataclasses
    import tempfile

    import tensorflow as tf

    from drarl_tf.ppo import PPOConfig, train

    config = PPOConfig(net="impala", game=game, precision=precision)
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
