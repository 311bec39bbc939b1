"""The default actor backend: spawned processes, each sending unrolls down its own pipe."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_lib
import threading
import time

from drarl_tf.configs import ImpalaConfig
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import run_actor
from drarl_tf.impala.supervision import RestartBudget, actor_seed, describe_exit, warn
from drarl_tf.impala.transport import SharedWeights, StopFlag
from drarl_tf.runtime.unroll import ActorMessage


class ActorPool:
    """Actor processes (start method spawn), each sending unrolls down its own pipe.

    Each pipe is read by its own thread, so the learner never blocks on one actor: a
    message is handed over only once it is complete. A dead actor is seen at once (its
    pipe reaches end of file; the complete unrolls it sent before are still read); one
    that delivers nothing for `config.actor_timeout_seconds` (stopped, or stuck) is
    named in one line and killed; both are restarted with a fresh seed while the others
    keep feeding the learner.
    """

    STUCK_WARNING_SECONDS = 60.0  # no unroll from any actor for this long: say who is stuck
    # A new process imports TensorFlow and builds its envs before its first unroll: on a
    # loaded machine that takes a while, which does not count as a stall.
    STARTUP_SECONDS = 120.0

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn):
        self.config, self.env_fn, self.seed = config, env_fn, seed
        self.warn = warn
        self.ctx = mp.get_context("spawn")
        self.stop = StopFlag(self.ctx)
        self.weights = SharedWeights(self.ctx, weights_shapes)
        self.capacity = max(1, config.queue_size // config.num_actors)  # unrolls per actor
        self.budget = RestartBudget(config.num_actors, config.max_actor_restarts, warn)
        n = config.num_actors
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
        self.weights.publish(weights, version)

    def _spawn(self, i: int) -> None:
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=run_actor,
            args=(i, self.config, self.env_fn, writer, self.weights, self.stop,
                  actor_seed(self.seed, i, self.starts[i]), self.capacity),
            name=f"drarl-actor-{i}", daemon=True)
        try:
            process.start()
        except OSError as e:  # e.g. out of processes or memory
            raise DrarlError(f"could not start actor {i} ({e.strerror or e}); lower "
                             "--num_actors or --envs_per_actor") from None
        finally:
            writer.close()  # the actor holds the only writer: its death ends the pipe
        inbox: queue_lib.Queue = queue_lib.Queue(maxsize=1)
        self.processes[i], self.connections[i], self.inboxes[i] = process, reader, inbox
        self.last_seen[i] = time.monotonic()
        self.started[i] = False
        self.starts[i] += 1
        threading.Thread(target=self._read, args=(i, reader, inbox), daemon=True,
                         name=f"actor-{i}-reader").start()

    def _read(self, i: int, connection, inbox: queue_lib.Queue) -> None:
        """One actor's pipe -> its inbox, one complete message at a time."""
        while True:
            try:
                item = connection.recv()
            except (EOFError, OSError):  # the actor died (or was replaced): end of pipe
                inbox.put(_DEAD)
                self._wake.set()
                return
            if inbox is self.inboxes[i]:
                self.last_seen[i] = time.monotonic()
            inbox.put(item)  # waits until the learner took the previous one
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
        """The next actor's `ActorMessage`, taking ready actors in turn; restarts actors that died or
        stalled meanwhile. Raises `StopWaiting` as soon as `should_stop()` is true.

        One message per actor is handed over at a time, so each actor's pipe, inbox and
        outbox stay the only buffers: actors block when they are `capacity` unrolls
        ahead of the learner.
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
                return item
            if should_stop is not None and should_stop():
                raise StopWaiting
            now = time.monotonic()
            self._check_stalls(now)
            if not warned and now - waiting_since > self.STUCK_WARNING_SECONDS:
                warned = True
                self._say_who_is_stuck(now - waiting_since)
            self._wake.wait(timeout)

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
        for conn in self.connections:
            if conn is not None:
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
