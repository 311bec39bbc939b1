"""IMPALA actors as Ray actors (`--actor_backend=ray`): the same acting code as the
process backend, the same bound on unrolls in flight per actor, the same restarts.

Ray starts on this machine unless `--ray_address` names a running cluster
(`ray start --head` on one machine, `ray start --address=...` on the others).
"""

from __future__ import annotations

import os

from drarl_tf.configs import ImpalaConfig
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import ActorWorker, limit_threads
from drarl_tf.impala.supervision import RestartBudget, actor_seed
from drarl_tf.training.unroll import ActorMessage


class _RemoteActor:
    """The body of one Ray actor: an `ActorWorker` that acts with the weights it is sent."""

    def __init__(self, actor_id: int, config: ImpalaConfig, env_fn, seed: int):
        limit_threads()
        self.worker = ActorWorker(actor_id, config, env_fn, seed)

    def unroll(self, weights, version: int) -> ActorMessage:
        if version != self.worker.version:
            self.worker.set_weights(weights, version)
        return self.worker.unroll()


class RayActorPool:
    """`config.num_actors` Ray actors, each with up to `queue_size / num_actors` unroll
    requests in flight; the newest weights travel with every request (one `ray.put` per
    update, shared by all actors)."""

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn):
        import ray

        self.ray = ray
        self.config, self.env_fn, self.seed = config, env_fn, seed
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=config.ray_address or None, include_dashboard=False,
                         log_to_driver=True, configure_logging=False,
                         **({} if config.ray_address else
                            {"num_cpus": max(os.cpu_count() or 1, config.num_actors)}))
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise DrarlError(f"could not start or join Ray at "
                                 f"'{config.ray_address or 'this machine'}': {e}") from None
        self._remote = ray.remote(num_cpus=1)(_RemoteActor)
        self.capacity = max(1, config.queue_size // config.num_actors)
        self.budget = RestartBudget(config.num_actors, config.max_actor_restarts, warn)
        self.actors: list = [None] * config.num_actors
        self.starts = [0] * config.num_actors
        self.in_flight: dict = {}  # ObjectRef -> actor id
        self._weights = None
        self._version = 0

    @property
    def restarts(self) -> int:
        return self.budget.total

    def publish(self, weights, version: int) -> None:
        self._weights = self.ray.put(list(weights))
        self._version = version

    def _request(self, i: int) -> None:
        self.in_flight[self.actors[i].unroll.remote(self._weights, self._version)] = i

    def _spawn(self, i: int) -> None:
        self.actors[i] = self._remote.remote(
            i, self.config, self.env_fn, actor_seed(self.seed, i, self.starts[i]))
        self.starts[i] += 1
        for _ in range(self.capacity):
            self._request(i)

    def start(self) -> None:
        for i in range(self.config.num_actors):
            self._spawn(i)

    def _replace(self, i: int, how: str) -> None:
        for ref in [r for r, owner in self.in_flight.items() if owner == i]:
            del self.in_flight[ref]
        self.ray.kill(self.actors[i], no_restart=True)
        self.budget.died(i, how)
        self._spawn(i)

    def get(self, timeout: float = 0.5, should_stop=None) -> ActorMessage:
        """The next `ActorMessage` from whichever actor is ready first; restarts failed actors.
        Raises `StopWaiting` as soon as `should_stop()` is true."""
        from drarl_tf.impala.channel import StopWaiting

        ray = self.ray
        while True:
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
            if not ready:
                if should_stop is not None and should_stop():
                    raise StopWaiting
                continue
            i = self.in_flight.pop(ready[0])
            try:
                item = ray.get(ready[0])
            except ray.exceptions.RayActorError as e:
                self._replace(i, f"Ray actor lost: {str(e).strip().splitlines()[0][:120]}")
                continue
            except ray.exceptions.RayTaskError as e:
                self._replace(i, f"raised {str(e).strip().splitlines()[-1][:160]}")
                continue
            self.budget.delivered(i)
            self._request(i)
            return item

    def release(self, messages) -> None:
        """Nothing to give back: Ray hands over each unroll as the learner's own copy."""

    def close(self, timeout: float = 10.0) -> None:
        for actor in self.actors:
            if actor is not None:
                self.ray.kill(actor, no_restart=True)
        self.in_flight.clear()
        if self._owns_ray:
            self.ray.shutdown()
