"""`SharedWeights` and `StopFlag` handed to processes started with the "spawn" context, as the
IMPALA actors are: the seqlock must never hand out a torn copy when the shared memory was
pickled into the child rather than inherited by fork (tests/test_reliability.py checks fork).

Each version is two arrays of different shapes, the first filled with `version` and the second
with `-version`, so that a copy mixing two versions or splitting the flat buffer at the wrong
place shows.
"""

import multiprocessing as mp
import queue

import numpy as np

from drarl_tf.impala.weights_and_stop import SharedWeights, StopFlag

SHAPES = [(300, 700), (40, 30, 50)]
COPIES = 200
LAST_VERSION = 2**23  # float32 holds every integer up to here exactly
WAIT_SECONDS = 120  # a guard against a hang, not a timing check


def _version_arrays(version):
    return [np.full(SHAPES[0], version, np.float32), np.full(SHAPES[1], -version, np.float32)]


def _torn(arrays, version):
    """Why `arrays` is not a clean copy of `version`, or None."""
    if [a.shape for a in arrays] != SHAPES:
        return f"shapes {[a.shape for a in arrays]}"
    for a, want in zip(arrays, (version, -version), strict=True):
        if not np.all(a == want):
            return f"version {version} mixed with {sorted(set(np.unique(a).tolist()))[:4]}"
    return None


def publish_until_stopped(weights, stop):
    """Spawned writer: publishes versions 1, 2, ... as fast as it can until `stop` is set."""
    version = 0
    while not stop.is_set() and version < LAST_VERSION:
        version += 1
        weights.publish(_version_arrays(version), version)


def fetch_and_report(weights, done, results):
    """Spawned reader: checks COPIES new copies, then sets `done` and reports
    `(versions, problems)` on `results` (or `(None, error)` if it raised)."""
    try:
        versions, problems, version = [], [], 0
        while len(versions) < COPIES:
            new, fetched = weights.fetch(version)
            if new is None:
                continue
            problem = _torn(new, fetched)
            if problem is not None:
                problems.append(problem)
            versions.append(fetched)
            version = fetched
        results.put((versions, problems))
    except BaseException as error:
        results.put((None, repr(error)))
        raise
    finally:
        done.set()


def _stop_and_join(process, stop):
    stop.set()
    process.join(WAIT_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()


def test_spawned_writer_never_leaves_the_parent_a_torn_copy():
    """A spawned writer publishes as fast as it can; the parent checks COPIES copies taken
    while it writes: each untorn, versions increasing."""
    ctx = mp.get_context("spawn")
    weights, stop = SharedWeights(ctx, SHAPES), StopFlag(ctx)
    writer = ctx.Process(target=publish_until_stopped, args=(weights, stop), daemon=True)
    writer.start()
    version, checked = 0, 0
    try:
        while checked < COPIES:
            assert writer.is_alive(), f"writer exited with {writer.exitcode}"
            new, fetched = weights.fetch(version)
            if new is None:
                continue
            assert _torn(new, fetched) is None, _torn(new, fetched)
            assert fetched > version
            version, checked = fetched, checked + 1
    finally:
        _stop_and_join(writer, stop)
    assert writer.exitcode == 0


def test_spawned_reader_never_gets_a_torn_copy():
    """The other way round: the parent publishes as fast as it can while a spawned reader
    fetches COPIES copies and reports what it saw."""
    ctx = mp.get_context("spawn")
    weights, done = SharedWeights(ctx, SHAPES), StopFlag(ctx)
    results = ctx.Queue()
    reader = ctx.Process(target=fetch_and_report, args=(weights, done, results), daemon=True)
    reader.start()
    version = 0
    try:
        while not done.is_set() and reader.is_alive() and version < LAST_VERSION:
            version += 1
            weights.publish(_version_arrays(version), version)
        try:
            versions, problems = results.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            raise AssertionError(f"reader reported nothing (exit code {reader.exitcode})") from None
    finally:
        _stop_and_join(reader, done)
    assert versions is not None, problems
    assert problems == []
    assert len(versions) == COPIES
    assert all(b > a for a, b in zip([0, *versions], versions, strict=False))
    assert versions[-1] <= version
    assert reader.exitcode == 0
