"""IMPALA's actors: each steps its own vector env and hands unrolls to the learner.

`ActorWorker` is the acting itself (each unroll goes out as an `ActorMessage`), with
its own CPU copy of the policy (`--inference=actor`) or a `RemotePolicy` that asks the
learner (`--inference=learner`). `run_actor` runs one in a spawned process (the
default backend): unrolls are written into the actor's shared-memory slots and only
slot indices cross its pipe (`drarl_tf.impala.channel`). `ActorPool`, on the
learner's side, starts those processes, each with its channel, and restarts the ones
that die or stall. `drarl_tf.impala.ray_backend` runs an `ActorWorker` as a Ray actor.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import EnvSpec, describe, make_env
from drarl_tf.errors import DrarlError
from drarl_tf.impala.channel import ActorEnd, LearnerEnd, Request, Stopped, UnrollSlots
from drarl_tf.impala.inference import InferenceBuffers
from drarl_tf.impala.supervision import RestartBudget, actor_seed, describe_exit, warn
from drarl_tf.impala.weights_and_stop import SharedWeights, StopFlag
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


class ActorPool:
    """Actor processes (start method spawn), each with its own channel to the learner.

    `get` returns the next actor's message with views of its slot, and `release` gives
    the slot back once the learner has copied it (`LearnerEnd`). A dead actor is seen at
    once (its pipe ends); one that delivers nothing for `config.actor_timeout_seconds`
    (stopped, or stuck) is named in one line and killed; both are restarted with a
    fresh seed and the slots the learner does not hold, while the others keep feeding
    the learner.

    With `config.inference == "learner"` the actors send "act" requests too: they
    wait in `requests` for an `InferenceServer`, which answers with `answer`.
    """

    STUCK_WARNING_SECONDS = 60.0  # no unroll from any actor for this long: say who is stuck
    # A new process imports TensorFlow and builds its envs before its first unroll: on a
    # loaded machine that takes a while, which does not count as a stall.
    STARTUP_SECONDS = 120.0

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn,
                 spec: EnvSpec | None = None):
        self.config, self.env_fn, self.seed = config, env_fn, seed
        self.warn = warn
        self.ctx = mp.get_context("spawn")
        self.stop = StopFlag(self.ctx)
        self.learner_inference = config.inference == "learner"
        self.weights = None if self.learner_inference else SharedWeights(self.ctx,
                                                                         weights_shapes)
        self.capacity = max(1, config.queue_size // config.num_actors)  # unrolls per actor
        self.budget = RestartBudget(config.num_actors, config.max_actor_restarts, warn)
        n = config.num_actors
        spec = spec or describe(config.game, env_fn)
        # Per actor: one slot being written, `capacity` sent ahead of the learner, and
        # the learner's batch, which an actor may have to fill alone.
        self.channel = LearnerEnd(self.ctx, [
            UnrollSlots(self.ctx, self.capacity + config.messages_per_batch + 1,
                        config.unroll_length, config.envs_per_actor, spec.obs_shape,
                        spec.num_actions) for _ in range(n)])
        self.buffers = [InferenceBuffers(self.ctx, config.envs_per_actor, spec.obs_shape,
                                         spec.num_actions) for _ in range(n)
                        ] if self.learner_inference else None
        self.processes: list = [None] * n
        self.starts = [0] * n
        self._warned_stuck = False

    @property
    def restarts(self) -> int:
        return self.budget.total

    @property
    def slots(self) -> list[UnrollSlots]:
        return self.channel.slots

    @property
    def requests(self):
        return self.channel.requests

    def is_current(self, request: Request) -> bool:
        return self.channel.is_current(request)

    def answer(self, request: Request, version: int) -> None:
        self.channel.answer(request, version)

    def publish(self, weights, version: int) -> None:
        """Weights for the actors' own networks (nothing to do with learner inference)."""
        if self.weights is not None:
            self.weights.publish(weights, version)

    def _spawn(self, i: int) -> None:
        theirs, free = self.channel.connect(i)
        process = self.ctx.Process(
            target=run_actor,
            args=(i, self.config, self.env_fn, theirs, self.weights, self.stop,
                  actor_seed(self.seed, i, self.starts[i]), self.channel.slots[i], free,
                  self.buffers[i] if self.buffers else None),
            name=f"drarl-actor-{i}", daemon=True)
        try:
            process.start()
        except OSError as e:  # e.g. out of processes or memory
            raise DrarlError(f"could not start actor {i} ({e.strerror or e}); lower "
                             "--num_actors or --envs_per_actor") from None
        finally:
            theirs.close()  # the actor holds the only other end: its death ends the pipe
        self.processes[i] = process
        self.starts[i] += 1

    def start(self) -> None:
        for i in range(self.config.num_actors):
            self._spawn(i)

    def _replace(self, i: int, how: str | None = None) -> None:
        """Restarts actor `i`: after its death (`how` None: its exit is described) or,
        given `how`, after killing it."""
        process = self.processes[i]
        if how is None:
            process.join(timeout=5)
            if process.is_alive():  # closed its pipe but hangs: not an actor we can trust
                how = "stopped sending, killed"
            else:
                how = describe_exit(process.exitcode)
        if process.is_alive():
            process.kill()
            process.join()
        self.channel.disconnect(i)
        self.budget.died(i, how)
        self._spawn(i)

    def _check_stalls(self, waited: float) -> None:
        """While the learner waits: kills and restarts an actor that delivered nothing
        for too long; once, names what every actor is doing."""
        now, channel = time.monotonic(), self.channel
        for i, process in enumerate(self.processes):
            timeout = self.config.actor_timeout_seconds + (
                0.0 if channel.started[i] else self.STARTUP_SECONDS)
            if (process.is_alive() and channel.inboxes[i].empty()
                    and now - channel.last_seen[i] > timeout):
                self.warn(f"actor {i} (pid {process.pid}, {process_state(process.pid)}) "
                          f"delivered no unroll for {now - channel.last_seen[i]:.0f} s "
                          f"(--actor_timeout_seconds={self.config.actor_timeout_seconds:g}"
                          f"{'' if channel.started[i] else ', after a start-up allowance'}); "
                          "killing it")
                self._replace(i, f"no unroll for {now - channel.last_seen[i]:.0f} s, killed")
        if not self._warned_stuck and waited > self.STUCK_WARNING_SECONDS:
            self._warned_stuck = True
            states = "; ".join(f"actor {i} (pid {p.pid}): {process_state(p.pid)}"
                               for i, p in enumerate(self.processes))
            self.warn(f"no unroll from any actor for {waited:.0f} s; the learner is waiting "
                      f"for them ({states}); an actor is restarted after "
                      f"--actor_timeout_seconds={self.config.actor_timeout_seconds:g} s "
                      "without one")

    def get(self, timeout: float = 0.5, should_stop=None) -> ActorMessage:
        """The next actor's `ActorMessage` (its unroll: views of a slot, valid until
        `release`), taking ready actors in turn; restarts actors that died or stalled
        meanwhile. Raises `StopWaiting` as soon as `should_stop()` is true.

        One message per actor is handed over at a time; an actor blocks when the learner
        holds all its slots but the one it writes (`capacity` unrolls ahead, plus a batch).
        """
        self._warned_stuck = False
        message = self.channel.get(self._replace, self._check_stalls, timeout, should_stop)
        self.budget.delivered(message.actor_id)
        return message

    def release(self, messages) -> None:
        """Gives the slots of `messages` back to their actors (see `LearnerEnd.release`)."""
        self.channel.release(messages)

    def close(self, timeout: float = 3.0) -> None:
        """Stops the actors: they see the stop flag within a step; one that has not
        exited after `timeout` seconds (stopped, stuck) is killed."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process is None:
                continue
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self.channel.close()


def process_state(pid: int) -> str:
    """What Linux says a process is doing (`stopped` for SIGSTOP), for messages."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            code = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "state unknown"
    return {"R": "running", "S": "sleeping", "D": "waiting on I/O", "T": "stopped",
            "t": "stopped by a debugger", "Z": "exited"}.get(code, f"state {code}")
