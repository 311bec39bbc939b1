"""Seeds of a run's parts, derived from the run's seed by `numpy.random.SeedSequence`.

A part is named by a path of integers (its `spawn_key`, as `SeedSequence.spawn` makes
them), e.g. ("rollout", updates done) for the on-policy collector or ("actors",
worker, updates done) for IMPALA's actor pool, whose actor i's k-th process then gets
("actor", i, k) of the pool's seed: parts never share a stream, and a run
resumed at the same update gets the same seeds."""

from __future__ import annotations

import numpy as np

PARTS = {"rollout": 0, "actors": 1, "actor": 2}  # a key of a path given by name


def run_seed(seed: int, *path) -> int:
    """A 31-bit seed for the part of the run of `seed` at `path` (names of `PARTS` or
    non-negative integers)."""
    key = tuple(PARTS[p] if isinstance(p, str) else int(p) for p in path)
    state = np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, np.uint32)
    return int(state[0] >> 1)
