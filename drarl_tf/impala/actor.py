"""IMPALA actor: a CPU copy of the policy steps its own vector env and sends unrolls.

`ActorWorker` is the acting itself (each unroll goes out as an `ActorMessage`); `run_actor` runs one in a spawned process
(the default backend), `drarl_tf.impala.ray_backend` runs one as a Ray actor.
"""

from __future__ import annotations

import time

from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import make_env
from drarl_tf.runtime.rollout import RolloutCollector, make_policy
from drarl_tf.runtime.unroll import ActorMessage


def limit_threads() -> None:
    """One TF thread and no GPU: actors and the learner must not fight for the cores."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")


class ActorWorker:
    """Builds the env and policy of actor `actor_id`; `unroll()` returns the next message."""

    def __init__(self, actor_id: int, config: ImpalaConfig, env_fn, seed: int):
        from drarl_tf.networks import build_network

        self.actor_id = actor_id
        self.env = make_env(config.game, config.envs_per_actor, env_fn, training=True,
                            num_threads=1)
        self.model = build_network(config.net, self.env.num_actions, self.env.obs_shape)
        self.version = 0
        self.collector = RolloutCollector(self.env, make_policy(self.model, self.env.obs_shape),
                                          config.unroll_length, config.discount,
                                          config.reward_clip, seed)

    def set_weights(self, weights, version: int) -> None:
        # The cached first step of the next unroll keeps the old behaviour logits,
        # which is what it acted with: V-trace corrects for it.
        self.model.set_weights(weights)
        self.version = version

    def unroll(self) -> ActorMessage:
        unroll, episodes = self.collector.collect()
        return ActorMessage(self.actor_id, self.version, unroll, episodes)

    def close(self) -> None:
        self.env.close()


def run_actor(actor_id: int, config: ImpalaConfig, env_fn, connection, weights, stop,
              seed: int, capacity: int) -> None:
    """Process entry point (spawn): acts until `stop` is set or the learner goes away.

    Unrolls go down `connection` (this actor's own pipe); weights come from
    `weights` (a `SharedWeights`), read only when their version changes.
    """
    import signal

    from drarl_tf.impala.transport import Outbox

    # Ctrl-C reaches the whole process group: the learner handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads()
    worker = ActorWorker(actor_id, config, env_fn, seed)
    try:
        new, version = weights.fetch(0)
        while new is None and not stop.is_set():
            time.sleep(0.05)
            new, version = weights.fetch(0)
        if new is not None:
            worker.set_weights(new, version)
        outbox = Outbox(connection, capacity)
        while not stop.is_set():
            if not outbox.put(worker.unroll(), stop):
                break
            new, version = weights.fetch(worker.version)
            if new is not None:
                worker.set_weights(new, version)
    finally:
        worker.close()
