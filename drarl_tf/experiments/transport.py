"""How an unroll gets from an actor process to the learner's batch: pickled down a pipe
(how IMPALA actors sent unrolls before the slots) against a shared-memory slot whose
index alone crosses the pipe (`drarl_tf.impala.channel`). TensorFlow-free, so that the
spawned senders start in a second."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from drarl_tf.impala.channel import ActorEnd, Stopped, UnrollSlots
from drarl_tf.impala.weights_and_stop import StopFlag
from drarl_tf.training.unroll import Episodes, Unroll, unroll_layout

_NO_GAMES = Episodes(np.zeros(0, np.float64), np.zeros(0, np.int64))


def _random_unroll(layout) -> Unroll:
    rng = np.random.default_rng(0)
    return Unroll(*(rng.integers(0, 255, shape).astype(dtype) for shape, dtype in layout))


def _send_pickled(connection, stop, layout) -> None:
    unroll = _random_unroll(layout)
    try:
        while not stop.is_set():
            connection.send((unroll, _NO_GAMES))
    except OSError:
        pass


def _send_slots(connection, stop, slots, free) -> None:
    link = ActorEnd(connection, stop, free)
    for k in range(slots.count):  # acting would have written each slot in place
        np.copyto(slots.view(k).obs, 1)
    try:
        while not stop.is_set():
            link.send((link.take_slot(), _NO_GAMES))
    except Stopped:
        pass


def receive_batch(connection, slots: UnrollSlots | None, per_batch: int) -> Unroll:
    """`per_batch` unrolls from `connection` as one batch: pickled ones as they come,
    slot indices read from `slots` (then given back)."""
    items = [connection.recv() for _ in range(per_batch)]
    unrolls = [slots.view(item) if slots else item for item, _ in items]
    batch = Unroll(*(np.concatenate(xs, axis=1) for xs in zip(*unrolls, strict=True)))
    if slots:
        for k, _ in items:
            connection.send(("free", k))
    return batch


def handover_rates(length=20, num_envs=16, obs_shape=(84, 84, 4), num_actions=18,
                   seconds=5.0, per_batch=2) -> list[dict]:
    """Unrolls/s from one sender process into the learner's batches of `per_batch`
    unrolls (concatenated along the env axis, as the driver does), and the learner
    process's CPU seconds per unroll, for each way; the slot way's speed-up over the
    pickled way is measured in the same run."""
    ctx = mp.get_context("spawn")
    layout = unroll_layout(length, num_envs, obs_shape, num_actions)
    nbytes = sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in layout)
    rows = []
    for way in ("pickled pipe", "shared-memory slot"):
        mine, theirs = ctx.Pipe(duplex=True)
        stop = StopFlag(ctx)
        slots = UnrollSlots(ctx, 2 * per_batch + 1, length, num_envs, obs_shape, num_actions)
        args = (theirs, stop, layout) if way == "pickled pipe" else (
            theirs, stop, slots, list(range(slots.count)))
        sender = ctx.Process(target=_send_pickled if way == "pickled pipe" else _send_slots,
                             args=args, daemon=True)
        sender.start()
        theirs.close()

        receive_batch(mine, slots if way != "pickled pipe" else None, per_batch)  # started
        count, wall, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < seconds:
            receive_batch(mine, slots if way != "pickled pipe" else None, per_batch)
            count += per_batch
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stop.set()
        mine.close()
        sender.join(timeout=10)
        if sender.is_alive():
            sender.kill()
        rows.append({"way": way, "unroll_mb": nbytes / 1e6, "unrolls_per_s": count / wall,
                     "learner_cpu_ms_per_unroll": 1e3 * cpu / count})
    for row in rows:
        row["speedup"] = row["unrolls_per_s"] / rows[0]["unrolls_per_s"]
    return rows
