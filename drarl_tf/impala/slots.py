"""Shared-memory unroll slots: how an actor process hands an unroll to the learner
without pickling it (torchbeast's buffer-index pattern).

Each actor owns a few slots, each an `Unroll` laid out in one shared block. The actor
writes an unroll straight into a free slot while it acts and sends only the slot's
index (with the episode statistics) down its pipe; the learner reads the slot in
place, copies it into the batch, and gives the slot back (`("free", index)` down the
same pipe). At any time a slot belongs either to the actor (free, or being written)
or to the learner (sent, not yet given back), never both: an actor killed in the
middle of a write leaves behind only a slot that the learner has never been told
about, and its replacement starts with exactly the slots the learner does not hold.
"""

from __future__ import annotations

import numpy as np

from drarl_tf.training.unroll import Unroll, unroll_layout

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
