"""IMPALA actor process: a CPU copy of the policy steps its own vector env and sends unrolls."""

from __future__ import annotations

import queue as queue_lib

import numpy as np

from drarl_tf.envs import VecEnv, make_vector_env
from drarl_tf.impala.config import ImpalaConfig


def sample_actions(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples from softmax(logits) per row by the Gumbel-max trick (seeded, vectorised)."""
    gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float64) + 1e-300) + 1e-300)
    return np.argmax(logits + gumbel, axis=-1).astype(np.int32)


class UnrollCollector:
    """Steps `env` with a policy and cuts trajectories of `unroll_length` steps.

    Each unroll holds `unroll_length + 1` observations (the last is the first of
    the next unroll, for bootstrapping), actions, behaviour logits, clipped
    rewards, discounts (0 at a termination), the transition mask (0 at
    autoreset steps) and the raw returns of the games that ended.
    """

    def __init__(self, env: VecEnv, policy, config: ImpalaConfig, seed: int):
        self.env, self.policy, self.config = env, policy, config
        self.rng = np.random.default_rng(seed)
        self.obs = env.reset(seed=seed % (2**31))

    def unroll(self) -> dict:
        T, N, env = self.config.unroll_length, self.env.num_envs, self.env
        obs = np.empty((T + 1, N) + env.obs_shape, np.uint8)
        actions = np.empty((T, N), np.int32)
        logits = np.empty((T, N, env.num_actions), np.float32)
        rewards = np.empty((T, N), np.float32)
        discounts = np.empty((T, N), np.float32)
        mask = np.empty((T, N), np.float32)
        returns, lengths = [], []
        obs[0] = self.obs
        clip = self.config.reward_clip
        for t in range(T):
            logits[t] = self.policy(obs[t])
            actions[t] = sample_actions(logits[t], self.rng)
            step = env.step(actions[t])
            obs[t + 1] = step.obs
            rewards[t] = np.clip(step.reward, -clip, clip) if clip > 0 else step.reward
            discounts[t] = self.config.discount * (1.0 - step.terminated)
            mask[t] = 1.0 - step.reset_step
            returns.extend(step.episode_returns)
            lengths.extend(step.episode_lengths)
        self.obs = obs[T]
        return dict(
            obs=obs, actions=actions, behaviour_logits=logits, rewards=rewards,
            discounts=discounts, mask=mask,
            episode_returns=np.asarray(returns, np.float64),
            episode_lengths=np.asarray(lengths, np.int64),
        )


def make_policy(model, obs_shape):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(obs_shape), tf.uint8)])
    def policy(obs):
        return model(obs)["policy_logits"]

    return lambda obs: policy(obs).numpy()


def run_actor(actor_id: int, config: ImpalaConfig, env_fn, unroll_queue, weights, stop_event,
              seed: int) -> None:
    """Process entry point (spawn): acts until `stop_event` is set."""
    import tensorflow as tf

    # One intra-op thread: actors and the learner must not fight for the cores.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    from drarl_tf.networks import build_network

    env = (env_fn(config.envs_per_actor) if env_fn is not None
           else make_vector_env(config.game, config.envs_per_actor, training=True, num_threads=1))
    model = build_network(config.net, env.num_actions, env.obs_shape)
    version = 0
    while version == 0 and not stop_event.is_set():
        new, version = weights.fetch(0)
        if new is None:
            stop_event.wait(0.05)
    if new is not None:
        model.set_weights(new)
    collector = UnrollCollector(env, make_policy(model, env.obs_shape), config, seed)
    try:
        while not stop_event.is_set():
            item = collector.unroll()
            item["actor_id"] = actor_id
            item["policy_version"] = version
            while not stop_event.is_set():
                try:
                    unroll_queue.put(item, timeout=0.2)
                    break
                except queue_lib.Full:
                    continue
            new, version_now = weights.fetch(version)
            if new is not None:
                model.set_weights(new)
                version = version_now
    finally:
        env.close()
