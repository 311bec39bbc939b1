"""Learner -> actor weight broadcast through shared memory, without stalling the learner."""

from __future__ import annotations

import numpy as np


class SharedWeights:
    """A flat float32 copy of the model's weights in shared memory, with a version number.

    The learner publishes after every update (one memcpy under a lock); an actor
    copies the weights out only when the version has changed since its last fetch.
    """

    def __init__(self, ctx, shapes: list[tuple[int, ...]]):
        self.shapes = [tuple(s) for s in shapes]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self._array = ctx.RawArray("f", sum(self.sizes))
        self._version = ctx.RawValue("q", 0)
        self._lock = ctx.Lock()

    def _flat(self) -> np.ndarray:
        return np.frombuffer(self._array, dtype=np.float32)

    @property
    def version(self) -> int:
        return int(self._version.value)

    def publish(self, weights: list[np.ndarray], version: int) -> None:
        flat = np.concatenate([np.asarray(w, np.float32).ravel() for w in weights])
        with self._lock:
            self._flat()[:] = flat
            self._version.value = version

    def fetch(self, known_version: int) -> tuple[list[np.ndarray] | None, int]:
        """Returns (weights, version), or (None, known_version) if nothing new."""
        if self._version.value == known_version:
            return None, known_version
        with self._lock:
            flat = self._flat().copy()
            version = int(self._version.value)
        out, offset = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            out.append(flat[offset : offset + size].reshape(shape))
            offset += size
        return out, version
