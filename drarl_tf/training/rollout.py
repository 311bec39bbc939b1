"""Acting: sample actions from a policy and cut fixed-length trajectories from a VecEnv."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from drarl_tf.envs.base import VecEnv
from drarl_tf.training.unroll import Episodes, Unroll, empty_unroll

# policy(obs [N, H, W, C] uint8) -> (logits [N, A] float32, values [N] float32)
PolicyFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def sample_actions(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples from softmax(logits) per row by the Gumbel-max trick (seeded, vectorised)."""
    gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float64) + 1e-300) + 1e-300)
    return np.argmax(logits + gumbel, axis=-1).astype(np.int32)


def make_policy(model, obs_shape) -> PolicyFn:
    """A traced-once inference function returning numpy logits and values."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(obs_shape), tf.uint8)])
    def policy(obs):
        out = model(obs)
        return out["policy_logits"], out["value"]

    def run(obs):
        logits, values = policy(obs)
        return logits.numpy(), values.numpy()

    return run


class RolloutCollector:
    """Steps `env` with `policy` and cuts `Unroll`s of `length` steps (time-major).

    The policy's output for an unroll's last observation is kept for the next
    unroll, so each step costs one forward pass.
    """

    def __init__(self, env: VecEnv, policy: PolicyFn, length: int, discount: float,
                 reward_clip: float, seed: int):
        self.env, self.policy, self.length = env, policy, length
        self.discount, self.reward_clip = discount, reward_clip
        self.rng = np.random.default_rng(seed)
        self.obs = env.reset(seed=seed % (2**31))
        self._last = None
        self.seconds = {"env": 0.0, "inference": 0.0}  # wall time spent in each, cumulative

    def reset_policy_cache(self) -> None:
        """Call after the policy's weights change outside `collect`."""
        self._last = None

    def collect(self, out: Unroll | None = None) -> tuple[Unroll, Episodes]:
        """The next `length` steps of every env, and the games that ended in them;
        written into `out` (e.g. a shared-memory slot) if given."""
        T, N, env = self.length, self.env.num_envs, self.env
        u = out if out is not None else empty_unroll(T, N, env.obs_shape, env.num_actions)
        returns, lengths = [], []
        u.obs[0] = self.obs
        clock = time.perf_counter
        start = clock()
        out = self._last if self._last is not None else self.policy(self.obs)
        in_env = 0.0
        for t in range(T):
            u.behaviour_logits[t], u.values[t] = out
            u.actions[t] = sample_actions(u.behaviour_logits[t], self.rng)
            before = clock()
            step = env.step(u.actions[t])
            in_env += clock() - before
            u.obs[t + 1] = step.obs
            clip = self.reward_clip
            u.rewards[t] = np.clip(step.reward, -clip, clip) if clip > 0 else step.reward
            u.discounts[t] = self.discount * (1.0 - step.terminated)
            u.mask[t] = 1.0 - step.reset_step
            returns.extend(step.episode_returns)
            lengths.extend(step.episode_lengths)
            out = self.policy(u.obs[t + 1])
        u.values[T] = out[1]
        self._last = out
        self.seconds["env"] += in_env
        self.seconds["inference"] += clock() - start - in_env  # policy, sampling, copies
        self.obs = u.obs[T].copy()  # `u` may be a slot the learner is about to read
        return u, Episodes(np.asarray(returns, np.float64), np.asarray(lengths, np.int64))
