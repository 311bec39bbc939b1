"""IMPALA actor process: a CPU copy of the policy steps its own vector env and sends unrolls."""

from __future__ import annotations

import queue as queue_lib

from drarl_tf.envs import make_vector_env
from drarl_tf.impala.config import ImpalaConfig
from drarl_tf.runtime.rollout import RolloutCollector, make_policy

# What an actor sends, time-major [T(+1), envs_per_actor, ...]; plus actor_id,
# policy_version, episode_returns and episode_lengths.
UNROLL_KEYS = ("obs", "actions", "behaviour_logits", "rewards", "discounts", "mask")


def run_actor(actor_id: int, config: ImpalaConfig, env_fn, unroll_queue, weights, stop_event,
              seed: int) -> None:
    """Process entry point (spawn): acts until `stop_event` is set."""
    import signal

    # Ctrl-C reaches the whole process group: the learner handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import tensorflow as tf

    # One intra-op thread: actors and the learner must not fight for the cores.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    from drarl_tf.networks import build_network

    env = (env_fn(config.envs_per_actor) if env_fn is not None
           else make_vector_env(config.game, config.envs_per_actor, training=True, num_threads=1))
    model = build_network(config.net, env.num_actions, env.obs_shape)
    new, version = None, 0
    while new is None and not stop_event.is_set():
        new, version = weights.fetch(0)
        if new is None:
            stop_event.wait(0.05)
    if new is not None:
        model.set_weights(new)
    collector = RolloutCollector(env, make_policy(model, env.obs_shape), config.unroll_length,
                                 config.discount, config.reward_clip, seed)
    try:
        while not stop_event.is_set():
            rollout = collector.collect()
            item = {k: rollout[k] for k in UNROLL_KEYS}
            item.update(actor_id=actor_id, policy_version=version,
                        episode_returns=rollout["episode_returns"],
                        episode_lengths=rollout["episode_lengths"])
            while not stop_event.is_set():
                try:
                    unroll_queue.put(item, timeout=0.2)
                    break
                except queue_lib.Full:
                    continue
            # The cached first step of the next unroll keeps the old behaviour
            # logits, which is what it acted with: V-trace corrects for it.
            new, fetched = weights.fetch(version)
            if new is not None:
                model.set_weights(new)
                version = fetched
    finally:
        env.close()
