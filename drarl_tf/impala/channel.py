"""The unroll channel: how an unroll goes from an actor process to the learner.

Each actor owns a few slots in shared memory (`UnrollSlots`), each an `Unroll` laid out
in one block, and has its own pipe to the learner. The protocol on that pipe:

    actor -> learner   ActorMessage(slot=k, episodes, policy_version)   unroll k is written
    learner -> actor   ("free", k)                                      slot k is yours again
    actor -> learner   "act"                         (--inference=learner) act on my buffers
    learner -> actor   ("acted", version)            the answer is in the buffers

The actor writes an unroll straight into a free slot while it acts (`ActorEnd`) and
sends only the slot's index (torchbeast's buffer-index pattern); the learner
(`LearnerEnd`) reads the slot in place, copies it into the batch and gives the slot
back. At any time a slot belongs either to the actor (free, or being written) or to the
learner (sent, not yet given back), never both: an actor killed in the middle of a
write leaves behind only a slot that the learner has never been told about, and its
replacement starts with exactly the slots the learner does not hold. Nothing here is a
lock shared between processes, so a killed actor cannot leave anyone waiting on it.
"""

from __future__ import annotations

import collections
import contextlib
import queue as queue_lib
import threading
import time
from typing import NamedTuple

import numpy as np

from drarl_tf.training.unroll import ActorMessage, Unroll, unroll_layout

_ALIGN = 64  # bytes: each array starts on a cache line


class UnrollSlots:
    """`count` unrolls of `length` steps of `num_envs` envs in one block of shared memory
    (a `ctx.RawArray`, passed to spawned processes as an argument)."""

    def __init__(self, ctx, count: int, length: int, num_envs: int, obs_shape,
                 num_actions: int):
        self.count = count
        self.layout = unroll_layout(length, num_envs, obs_shape, num_actions)
        self.offsets, offset = [], 0
        for shape, dtype in self.layout:
            self.offsets.append(offset)
            offset += -(-int(np.prod(shape)) * dtype.itemsize // _ALIGN) * _ALIGN
        self.slot_bytes = offset
        self._raw = ctx.RawArray("B", count * self.slot_bytes)
        self._views: dict[int, Unroll] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_views"] = {}  # numpy views are rebuilt in the other process
        return state

    def view(self, index: int) -> Unroll:
        """Slot `index` as an `Unroll` of numpy arrays backed by the shared block."""
        if not 0 <= index < self.count:
            raise IndexError(f"slot {index} of {self.count}")
        if index not in self._views:
            base = index * self.slot_bytes
            self._views[index] = Unroll(*(
                np.frombuffer(self._raw, dtype, int(np.prod(shape)), base + offset
                              ).reshape(shape)
                for (shape, dtype), offset in zip(self.layout, self.offsets, strict=True)))
        return self._views[index]

    @property
    def nbytes(self) -> int:
        return self.count * self.slot_bytes


class Stopped(Exception):
    """The learner asked the actor to stop, or has gone."""


class StopWaiting(Exception):
    """Raised by `get` when the run was asked to stop while it waited."""


class ActorEnd:
    """The actor's end of its pipe: sends messages; receives the slots the learner
    gives back (`("free", index)`) and its answers to "act" (`("acted", version)`)."""

    def __init__(self, connection, stop, free_slots):
        self.connection, self.stop = connection, stop
        self.free = collections.deque(free_slots)

    def send(self, item) -> None:
        try:
            self.connection.send(item)
        except OSError:  # the learner has gone
            raise Stopped from None

    def receive(self) -> tuple[str, int]:
        """The next message from the learner; a freed slot is also recorded."""
        while not self.stop.is_set():
            try:
                if not self.connection.poll(0.2):
                    continue
                kind, value = self.connection.recv()
            except (EOFError, OSError):
                break
            if kind == "free":
                self.free.append(value)
            return kind, value
        raise Stopped

    def take_slot(self) -> int:
        """A slot to write the next unroll into; waits while the learner holds them all."""
        while not self.free:
            self.receive()
        return self.free.popleft()


class Request(NamedTuple):
    """An actor's "act": which actor, which of its processes (`generation`), and the
    pipe end to answer on."""

    actor_id: int
    generation: int
    connection: object


_DEAD = object()  # an inbox's marker: the actor's pipe has ended


class LearnerEnd:
    """The learner's end of every actor's channel: one pipe and one set of slots per actor.

    Each pipe is read by its own thread, so the learner never blocks on one actor: a
    message is handed over only once it is complete, and a dead actor is seen at once
    (its pipe reaches end of file; the complete unrolls it sent before are still read).
    "act" requests go to `requests` for an `InferenceServer`.
    """

    def __init__(self, ctx, slots: list[UnrollSlots]):
        self.ctx, self.slots = ctx, slots
        n = len(slots)
        self.held: list[set[int]] = [set() for _ in range(n)]  # slots the learner holds
        self.requests: queue_lib.Queue = queue_lib.Queue()  # Request, for the server
        self._send_locks = [threading.Lock() for _ in range(n)]
        self.connections: list = [None] * n
        self.inboxes: list = [None] * n  # per actor: one complete unroll handed over
        self.last_seen = [0.0] * n  # when each actor's last unroll (or its start) arrived
        self.started = [False] * n  # whether the actor's current process has delivered
        self.generation = [0] * n  # which process of the actor the pipe belongs to
        self._wake = threading.Event()
        self._next = 0  # the actor served first when several are ready

    def connect(self, i: int):
        """A new pipe for actor `i`'s next process: returns (its end, the slots it owns)."""
        mine, theirs = self.ctx.Pipe(duplex=True)
        free = [k for k in range(self.slots[i].count) if k not in self.held[i]]
        # Unbounded: the actor's slots bound what it can send, and a reader thread that
        # blocked on a full inbox would leave the actor's "act" requests unread.
        inbox: queue_lib.Queue = queue_lib.Queue()
        self.connections[i], self.inboxes[i] = mine, inbox
        self.last_seen[i] = time.monotonic()
        self.started[i] = False
        self.generation[i] += 1
        threading.Thread(target=self._read, args=(i, mine, inbox, self.generation[i]),
                         daemon=True, name=f"actor-{i}-reader").start()
        return theirs, free

    def disconnect(self, i: int) -> None:
        with self._send_locks[i]:  # not while the inference thread answers on it
            if self.connections[i] is not None:
                self.connections[i].close()

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

    def get(self, on_dead, on_idle, timeout: float = 0.5, should_stop=None) -> ActorMessage:
        """The next actor's `ActorMessage` (its unroll: views of a slot, valid until
        `release`), taking ready actors in turn. `on_dead(i)` is called for an actor
        whose pipe ended, `on_idle(waited seconds)` while none is ready. Raises
        `StopWaiting` as soon as `should_stop()` is true."""
        waiting_since = time.monotonic()
        while True:
            self._wake.clear()
            n = len(self.inboxes)
            for k in range(n):  # round robin, from the actor after the last one served
                i = (self._next + k) % n
                try:
                    item = self.inboxes[i].get_nowait()
                except queue_lib.Empty:
                    continue
                if item is _DEAD:
                    on_dead(i)
                    continue
                self._next = (i + 1) % n
                self.started[i] = True
                self.held[i].add(item.slot)
                return item._replace(unroll=self.slots[i].view(item.slot))
            if should_stop is not None and should_stop():
                raise StopWaiting
            on_idle(time.monotonic() - waiting_since)
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
        return request.generation == self.generation[request.actor_id]

    def answer(self, request: Request, version: int) -> None:
        """Tells the actor of `request` that its buffers hold the answer."""
        self._send(request.actor_id, request.connection, ("acted", version))

    def close(self) -> None:
        for i in range(len(self.connections)):
            self.disconnect(i)
