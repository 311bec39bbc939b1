"""IMPALA actor: steps its own vector env and hands unrolls to the learner.

`ActorWorker` is the acting itself (each unroll goes out as an `ActorMessage`), with
its own CPU copy of the policy (`--inference=actor`) or a `RemotePolicy` that asks the
learner (`--inference=learner`). `run_actor` runs one in a spawned process (the
default backend): unrolls are written into the actor's shared-memory slots and only
slot indices cross its pipe (`drarl_tf.impala.channel`). `drarl_tf.impala.ray_backend`
runs an `ActorWorker` as a Ray actor.
"""

from __future__ import annotations

import time

import numpy as np

from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import make_env
from drarl_tf.impala.channel import ActorEnd, Stopped
from drarl_tf.tf_settings import set_cpu_threads
from drarl_tf.training.rollout import RolloutCollector, make_policy
from drarl_tf.training.unroll import ActorMessage, Unroll


def limit_threads() -> None:
    """One TF thread and no GPU: actors and the learner must not fight for the cores."""
    import tensorflow as tf

    set_cpu_threads(1)
    tf.config.set_visible_devices([], "GPU")


def die_with_parent() -> None:
    """On Linux, asks the kernel to SIGKILL this process when the process that started it
    dies: an actor that is stopped (SIGSTOP, swapped out) when the learner is killed
    cannot notice its broken pipe, and would otherwise be left behind for good."""
    import multiprocessing
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the call above
        os._exit(0)


class RemotePolicy:
    """The policy of `--inference=learner`: observations go into the actor's shared
    `InferenceBuffers`, the learner's answer comes back in them."""

    def __init__(self, link: ActorEnd, buffers):
        self.link, self.buffers = link, buffers
        self.version: int | None = None  # of the weights behind the last answer
        self.first_version: int | None = None  # behind the first answer

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        np.copyto(self.buffers.obs, obs)
        self.link.send("act")
        kind, value = self.link.receive()
        while kind != "acted":
            kind, value = self.link.receive()
        self.version = value
        if self.first_version is None:
            self.first_version = value
        return self.buffers.logits.copy(), self.buffers.values.copy()


class ActorWorker:
    """Builds the env and policy of actor `actor_id`; `unroll()` returns the next message.

    `policy`: a `RemotePolicy` for learner-side inference; by default the actor builds
    its own copy of the network (weights from `set_weights`).
    """

    def __init__(self, actor_id: int, config: ImpalaConfig, env_fn, seed: int, policy=None):
        self.actor_id = actor_id
        self.env = make_env(config.game, config.envs_per_actor, env_fn, training=True,
                            num_threads=1)
        self.model = None
        if policy is None:
            from drarl_tf.networks import build_network

            self.model = build_network(config.net, self.env.num_actions, self.env.obs_shape)
            policy = make_policy(self.model, self.env.obs_shape)
        self.policy = policy
        self.version = 0
        self.collector = RolloutCollector(self.env, policy, config.unroll_length,
                                          config.discount, config.reward_clip, seed)

    def set_weights(self, weights, version: int) -> None:
        # The cached first step of the next unroll keeps the old behaviour logits,
        # which is what it acted with: V-trace corrects for it.
        self.model.set_weights(weights)
        self.version = version

    def unroll(self, out: Unroll | None = None) -> ActorMessage:
        """The next unroll (written into `out` if given) and the policy version that
        acted it: with a remote policy, the weights behind its first step."""
        first = self.version if self.model is not None else self.policy.version
        unroll, episodes = self.collector.collect(out)
        if self.model is None and first is None:  # the very first unroll
            first = self.policy.first_version
        return ActorMessage(self.actor_id, first, unroll, episodes)

    def close(self) -> None:
        self.env.close()


def run_actor(actor_id: int, config: ImpalaConfig, env_fn, connection, weights, stop,
              seed: int, slots, free_slots, buffers=None) -> None:
    """Process entry point (spawn): acts until `stop` is set or the learner goes away.

    Unrolls are written into `slots` (the channel's `UnrollSlots`; this actor owns `free_slots`
    at start) and announced down `connection`, this actor's own pipe. With `buffers`
    (`--inference=learner`) the learner acts; otherwise weights come from `weights`
    (a `SharedWeights`), read only when their version changes.
    """
    import signal

    # Ctrl-C reaches the whole process group: the learner handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    link = ActorEnd(connection, stop, free_slots)
    if buffers is None:
        limit_threads()
    worker = ActorWorker(actor_id, config, env_fn, seed,
                         None if buffers is None else RemotePolicy(link, buffers))
    try:
        if buffers is None:
            new, version = weights.fetch(0)
            while new is None and not stop.is_set():
                time.sleep(0.05)
                new, version = weights.fetch(0)
            if new is not None:
                worker.set_weights(new, version)
        while not stop.is_set():
            slot = link.take_slot()
            message = worker.unroll(out=slots.view(slot))
            link.send(message._replace(unroll=None, slot=slot))
            if buffers is None:
                new, version = weights.fetch(worker.version)
                if new is not None:
                    worker.set_weights(new, version)
    except Stopped:
        pass
    finally:
        worker.close()
