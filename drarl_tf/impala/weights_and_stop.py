"""What the learner shares with its actors besides unrolls: the weights (a seqlock over
shared memory) and the stop flag. Both survive a killed actor.

Nothing here is a lock shared between processes: an actor killed at any moment
(SIGKILL, the OOM killer) cannot leave the learner or the other actors waiting
on a lock it held, nor a half-written message in a queue they share.
"""

from __future__ import annotations

import time

import numpy as np


class SharedWeights:
    """A flat float32 copy of the model's weights in shared memory, with a version number.

    The learner (the only writer) publishes after every update; an actor copies
    the weights out only when the version has changed. A sequence counter (odd
    while a write is in progress) lets readers detect a copy that overlapped a
    write and retry, so no lock is needed (a seqlock).
    """

    def __init__(self, ctx, shapes: list[tuple[int, ...]]):
        self.shapes = [tuple(s) for s in shapes]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self._array = ctx.RawArray("f", sum(self.sizes))
        self._version = ctx.RawValue("q", 0)
        self._sequence = ctx.RawValue("q", 0)

    def _flat(self) -> np.ndarray:
        return np.frombuffer(self._array, dtype=np.float32)

    def publish(self, weights: list[np.ndarray], version: int) -> None:
        flat = np.concatenate([np.asarray(w, np.float32).ravel() for w in weights])
        self._sequence.value += 1  # odd: a write is in progress
        self._flat()[:] = flat
        self._version.value = version
        self._sequence.value += 1

    def fetch(self, known_version: int) -> tuple[list[np.ndarray] | None, int]:
        """Returns (weights, version), or (None, known_version) if nothing new."""
        while True:
            before = self._sequence.value
            if before % 2:
                time.sleep(0.0005)
                continue
            version = int(self._version.value)
            if version == known_version:
                return None, known_version
            flat = self._flat().copy()
            if self._sequence.value == before:
                break
        out, offset = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            out.append(flat[offset : offset + size].reshape(shape))
            offset += size
        return out, version


class StopFlag:
    """A shared boolean set by the learner and polled by actors (no lock, unlike mp.Event)."""

    def __init__(self, ctx):
        self._value = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._value.value = 1

    def is_set(self) -> bool:
        return bool(self._value.value)
