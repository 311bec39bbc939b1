"""The default actor backend: spawned processes, each with its own pipe and its own
shared-memory unroll slots."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_lib
import threading
import time

from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import EnvSpec, describe
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import run_actor
from drarl_tf.impala.inference import InferenceBuffers, Request
from drarl_tf.impala.slots import UnrollSlots
from drarl_tf.impala.supervision import RestartBudget, actor_seed, describe_exit, warn
from drarl_tf.impala.weights_and_stop import SharedWeights, StopFlag
from drarl_tf.training.unroll import ActorMessage


class ActorPool:
    """Actor processes (start method spawn), each with its own pipe and unroll slots.

    An actor writes each unroll into one of its shared-memory slots and sends the
    slot's index; `get` returns the message with views of the slot, and `release`
    gives the slot back once the learner has copied it (`drarl_tf.impala.slots`).
    Each pipe is read by its own thread, so the learner never blocks on one actor: a
    message is handed over only once it is complete. A dead actor is seen at once (its
    pipe reaches end of file; the complete unrolls it sent before are still read); one
    that delivers nothing for `config.actor_timeout_seconds` (stopped, or stuck) is
    named in one line and killed; both are restarted with a fresh seed, and the slots
    the learner does not hold, while the others keep feeding the learner.

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
        self.slots = [UnrollSlots(self.ctx, self.capacity + config.messages_per_batch + 1,
                                  config.unroll_length, config.envs_per_actor, spec.obs_shape,
                                  spec.num_actions) for _ in range(n)]
        self.held: list[set[int]] = [set() for _ in range(n)]  # slots the learner holds
        self.buffers = [InferenceBuffers(self.ctx, config.envs_per_actor, spec.obs_shape,
                                         spec.num_actions) for _ in range(n)
                        ] if self.learner_inference else None
        self.requests: queue_lib.Queue = queue_lib.Queue()  # Request, for the server
        self._send_locks = [threading.Lock() for _ in range(n)]
        self.processes: list = [None] * n
        self.connections: list = [None] * n
        self.inboxes: list = [None] * n  # per actor: one complete unroll handed over
        self.last_seen = [0.0] * n  # when each actor's last unroll (or its start) arrived
        self.started = [False] * n  # whether the actor's current process has delivered
        self.starts = [0] * n
        self._wake = threading.Event()
        self._next = 0  # the actor served first when several are ready

    @property
    def restarts(self) -> int:
        return self.budget.total

    def publish(self, weights, version: int) -> None:
        """Weights for the actors' own networks (nothing to do with learner inference)."""
        if self.weights is not None:
            self.weights.publish(weights, version)

    def _spawn(self, i: int) -> None:
        mine, theirs = self.ctx.Pipe(duplex=True)
        free = [k for k in range(self.slots[i].count) if k not in self.held[i]]
        process = self.ctx.Process(
            target=run_actor,
            args=(i, self.config, self.env_fn, theirs, self.weights, self.stop,
                  actor_seed(self.seed, i, self.starts[i]), self.slots[i], free,
                  self.buffers[i] if self.buffers else None),
            name=f"drarl-actor-{i}", daemon=True)
        try:
            process.start()
        except OSError as e:  # e.g. out of processes or memory
            raise DrarlError(f"could not start actor {i} ({e.strerror or e}); lower "
                             "--num_actors or --envs_per_actor") from None
        finally:
            theirs.close()  # the actor holds the only other end: its death ends the pipe
        # Unbounded: the actor's slots bound what it can send, and a reader thread that
        # blocked on a full inbox would leave the actor's "act" requests unread.
        inbox: queue_lib.Queue = queue_lib.Queue()
        self.processes[i], self.connections[i], self.inboxes[i] = process, mine, inbox
        self.last_seen[i] = time.monotonic()
        self.started[i] = False
        self.starts[i] += 1
        threading.Thread(target=self._read, args=(i, mine, inbox, self.starts[i]), daemon=True,
                         name=f"actor-{i}-reader").start()

    def _read(self, i: int, connection, inbox: queue_lib.Queue, generation: int) -> None:
        """One actor's pipe -> its inbox, one complete message at a time ("act"
        requests -> `requests`)."""
        while True:
            try:
                item = connection.recv()
            except (EOFError, OSError):  # the actor died (or was replaced): end of pipe
                inbox.put(_DEAD)
                self._wake.set()
                return
            if isinstance(item, str):  # "act"
                self.requests.put(Request(i, generation, connection))
                continue
            if inbox is self.inboxes[i]:
                self.last_seen[i] = time.monotonic()
            inbox.put(item)
            self._wake.set()

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
        with self._send_locks[i]:  # not while the inference thread answers on it
            self.connections[i].close()
        self.budget.died(i, how)
        self._spawn(i)

    def _check_stalls(self, now: float) -> None:
        for i, process in enumerate(self.processes):
            timeout = self.config.actor_timeout_seconds + (
                0.0 if self.started[i] else self.STARTUP_SECONDS)
            if (process.is_alive() and self.inboxes[i].empty()
                    and now - self.last_seen[i] > timeout):
                self.warn(f"actor {i} (pid {process.pid}, {process_state(process.pid)}) "
                          f"delivered no unroll for {now - self.last_seen[i]:.0f} s "
                          f"(--actor_timeout_seconds={self.config.actor_timeout_seconds:g}"
                          f"{'' if self.started[i] else ', after a start-up allowance'}); "
                          "killing it")
                self._replace(i, f"no unroll for {now - self.last_seen[i]:.0f} s, killed")

    def _say_who_is_stuck(self, waited: float) -> None:
        states = "; ".join(f"actor {i} (pid {p.pid}): {process_state(p.pid)}"
                           for i, p in enumerate(self.processes))
        self.warn(f"no unroll from any actor for {waited:.0f} s; the learner is waiting for "
                  f"them ({states}); an actor is restarted after "
                  f"--actor_timeout_seconds={self.config.actor_timeout_seconds:g} s without one")

    def get(self, timeout: float = 0.5, should_stop=None) -> ActorMessage:
        """The next actor's `ActorMessage` (its unroll: views of a slot, valid until
        `release`), taking ready actors in turn; restarts actors that died or stalled
        meanwhile. Raises `StopWaiting` as soon as `should_stop()` is true.

        One message per actor is handed over at a time; an actor blocks when the learner
        holds all its slots but the one it writes (`capacity` unrolls ahead, plus a batch).
        """
        waiting_since = time.monotonic()
        warned = False
        while True:
            self._wake.clear()
            n = len(self.inboxes)
            for k in range(n):  # round robin, from the actor after the last one served
                i = (self._next + k) % n
                inbox = self.inboxes[i]
                try:
                    item = inbox.get_nowait()
                except queue_lib.Empty:
                    continue
                if item is _DEAD:
                    self._replace(i)
                    continue
                self._next = (i + 1) % n
                self.started[i] = True
                self.budget.delivered(i)
                self.held[i].add(item.slot)
                return item._replace(unroll=self.slots[i].view(item.slot))
            if should_stop is not None and should_stop():
                raise StopWaiting
            now = time.monotonic()
            self._check_stalls(now)
            if not warned and now - waiting_since > self.STUCK_WARNING_SECONDS:
                warned = True
                self._say_who_is_stuck(now - waiting_since)
            self._wake.wait(timeout)

    def release(self, messages) -> None:
        """Gives the slots of `messages` back to their actors: call once their unrolls
        are copied (their arrays are then overwritten by later unrolls)."""
        for m in messages:
            if m.slot in self.held[m.actor_id]:
                self.held[m.actor_id].discard(m.slot)
                self._send(m.actor_id, self.connections[m.actor_id], ("free", m.slot))

    def _send(self, i: int, connection, item) -> None:
        """To actor `i`'s process at `connection`; nothing if it has gone (its successor
        starts with every slot the learner does not hold)."""
        with self._send_locks[i], contextlib.suppress(OSError):
            connection.send(item)

    def is_current(self, request: Request) -> bool:
        """Whether `request` comes from the actor's current process."""
        return request.generation == self.starts[request.actor_id]

    def answer(self, request: Request, version: int) -> None:
        """Tells the actor of `request` that its buffers hold the answer."""
        self._send(request.actor_id, request.connection, ("acted", version))

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
        for lock, conn in zip(self._send_locks, self.connections, strict=True):
            if conn is not None:
                with lock:
                    conn.close()


class StopWaiting(Exception):
    """Raised by `ActorPool.get` when the run was asked to stop while it waited."""


_DEAD = object()  # an inbox's marker: the actor's pipe has ended


def process_state(pid: int) -> str:
    """What Linux says a process is doing (`stopped` for SIGSTOP), for messages."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            code = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "state unknown"
    return {"R": "running", "S": "sleeping", "D": "waiting on I/O", "T": "stopped",
            "t": "stopped by a debugger", "Z": "exited"}.get(code, f"state {code}")
