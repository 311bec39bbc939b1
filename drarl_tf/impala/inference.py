"""Acting on the learner's device (`--inference=learner`, seed_rl's design).

Actor processes then only step their envs: each writes its envs' observations into
its own shared `InferenceBuffers` and sends the word "act" down its pipe; an
`InferenceServer` thread in the learner process batches the requests of all actors
(until every actor has asked, or `timeout` after the first request), runs the
network once on the learner's device (the first GPU if any), writes each actor's
logits and values back into its buffers and answers `("acted", version)`. The actor
samples its actions itself (its own seeded generator) and writes the unroll into a
shared slot as with `--inference=actor`, so the learner-side batches, V-trace,
checkpoints and restarts are the same in both modes.

The actor side needs neither TensorFlow nor the model: a process loads neither and
holds no weights.
"""

from __future__ import annotations

import queue as queue_lib
import threading
import time

import numpy as np

from drarl_tf.errors import DrarlError
from drarl_tf.impala.channel import Request


class InferenceBuffers:
    """One actor's request (observations of its `num_envs` envs) and reply (logits,
    values) in shared memory; the pipe carries only the word "act" and the answer."""

    def __init__(self, ctx, num_envs: int, obs_shape, num_actions: int):
        self.num_envs = num_envs
        self._raw = (ctx.RawArray("B", num_envs * int(np.prod(obs_shape))),
                     ctx.RawArray("f", num_envs * num_actions), ctx.RawArray("f", num_envs))
        self._shapes = ((num_envs,) + tuple(obs_shape), (num_envs, num_actions), (num_envs,))
        self._arrays = None

    def __getstate__(self):
        return {**self.__dict__, "_arrays": None}

    def _views(self):
        if self._arrays is None:
            self._arrays = tuple(
                np.frombuffer(raw, dtype).reshape(shape) for raw, dtype, shape in
                zip(self._raw, (np.uint8, np.float32, np.float32), self._shapes, strict=True))
        return self._arrays

    @property
    def obs(self) -> np.ndarray:
        return self._views()[0]

    @property
    def logits(self) -> np.ndarray:
        return self._views()[1]

    @property
    def values(self) -> np.ndarray:
        return self._views()[2]


class InferenceServer:
    """Serves the actors' "act" requests in batches with the learner's current weights.

    Args:
      pool: the `ActorPool` (its `requests` queue, `buffers`, `is_current`, `answer`).
      net, num_actions, obs_shape, precision: the network, as the learner's.
      timeout_seconds: how long a batch waits for more actors after its first request.
    """

    def __init__(self, pool, net: str, num_actions: int, obs_shape, precision: str,
                 timeout_seconds: float):
        import tensorflow as tf

        from drarl_tf.networks import build_network

        self.pool, self.timeout = pool, timeout_seconds
        self.model = build_network(net, num_actions, obs_shape, precision=precision)

        @tf.function(input_signature=[tf.TensorSpec((None,) + tuple(obs_shape), tf.uint8)])
        def policy(obs):
            out = self.model(obs)
            return (tf.cast(out["policy_logits"], tf.float32),
                    tf.cast(out["value"], tf.float32))

        self._policy = policy
        self._lock = threading.Lock()  # weights are never replaced during a batch
        self.version = 0
        self.error: BaseException | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="inference", daemon=True)
        self.batches = self.served = 0  # for the mean batch size
        self._count_lock = threading.Lock()

    def set_weights(self, weights, version: int) -> None:
        with self._lock:
            self.model.set_weights(weights)
            self.version = version

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def check(self) -> None:
        """Raises what stopped the serving thread, if anything did."""
        if self.error is not None:
            raise DrarlError(f"learner-side inference failed ({type(self.error).__name__}: "
                             f"{str(self.error).splitlines()[0][:200] if str(self.error) else ''}"
                             "); the learner's state is checkpointed, rerun to resume")

    def mean_batch_envs(self) -> float:
        """Envs per forward pass since the last call (0 if none ran); resets the count."""
        with self._count_lock:
            batches, served = self.batches, self.served
            self.batches = self.served = 0
        return served / batches if batches else 0.0

    def _serve(self) -> None:
        try:
            while not self._closing.is_set():
                batch = self._gather()
                if batch:
                    self._act(batch)
        except BaseException as e:  # noqa: BLE001 -- reported to the driver by check()
            self.error = e

    def _gather(self) -> list[Request]:
        """The next batch: one request per actor at most, from every actor or as many as
        asked within `timeout` of the first; requests of replaced processes dropped."""
        requests = self.pool.requests
        try:
            first = requests.get(timeout=0.2)
        except queue_lib.Empty:
            return []
        batch = {first.actor_id: first}
        deadline = time.monotonic() + self.timeout
        while len(batch) < self.pool.config.num_actors:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                request = requests.get(timeout=left)
            except queue_lib.Empty:
                break
            if request.actor_id in batch:  # cannot happen with one request in flight per
                requests.put(request)      # process; kept for the next batch if it does
                break
            batch[request.actor_id] = request
        return [r for r in batch.values() if self.pool.is_current(r)]

    def _act(self, batch: list[Request]) -> None:
        buffers = [self.pool.buffers[r.actor_id] for r in batch]
        obs = np.concatenate([b.obs for b in buffers])
        with self._lock:
            logits, values = self._policy(obs)
            version = self.version
        logits, values = logits.numpy(), values.numpy()
        start = 0
        for request, b in zip(batch, buffers, strict=True):
            stop = start + b.num_envs
            b.logits[:] = logits[start:stop]
            b.values[:] = values[start:stop]
            start = stop
            self.pool.answer(request, version)
        with self._count_lock:
            self.batches += 1
            self.served += start
