"""Acting: sample actions from a policy and cut fixed-length trajectories from a VecEnv."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from drarl_tf.envs import VecEnv

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
    """Steps `env` with `policy` and returns trajectories of `length` steps, time-major.

    Each rollout holds `length + 1` observations (the last is the first of the
    next rollout, for bootstrapping) and their values, actions, behaviour logits,
    clipped rewards, discounts (0 at a termination), the transition mask (0 at
    the autoreset steps, which are not transitions) and the raw returns of the
    games that ended. The policy's output for the last observation is kept for
    the next rollout, so each step costs one forward pass.
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

    def collect(self) -> dict:
        T, N, env = self.length, self.env.num_envs, self.env
        obs = np.empty((T + 1, N) + env.obs_shape, np.uint8)
        values = np.empty((T + 1, N), np.float32)
        logits = np.empty((T, N, env.num_actions), np.float32)
        actions = np.empty((T, N), np.int32)
        rewards = np.empty((T, N), np.float32)
        discounts = np.empty((T, N), np.float32)
        mask = np.empty((T, N), np.float32)
        returns, lengths = [], []
        obs[0] = self.obs
        clock = time.perf_counter
        start = clock()
        out = self._last if self._last is not None else self.policy(self.obs)
        in_env = 0.0
        for t in range(T):
            logits[t], values[t] = out
            actions[t] = sample_actions(logits[t], self.rng)
            before = clock()
            step = env.step(actions[t])
            in_env += clock() - before
            obs[t + 1] = step.obs
            clip = self.reward_clip
            rewards[t] = np.clip(step.reward, -clip, clip) if clip > 0 else step.reward
            discounts[t] = self.discount * (1.0 - step.terminated)
            mask[t] = 1.0 - step.reset_step
            returns.extend(step.episode_returns)
            lengths.extend(step.episode_lengths)
            out = self.policy(obs[t + 1])
        values[T] = out[1]
        self._last = out
        self.seconds["env"] += in_env
        self.seconds["inference"] += clock() - start - in_env  # policy, sampling, copies
        self.obs = obs[T]
        return dict(
            obs=obs, values=values, actions=actions, behaviour_logits=logits, rewards=rewards,
            discounts=discounts, mask=mask,
            episode_returns=np.asarray(returns, np.float64),
            episode_lengths=np.asarray(lengths, np.int64),
        )
