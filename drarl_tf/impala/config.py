"""IMPALA configuration with the paper's defaults (DESIGN.md section 4)."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

from drarl_tf.errors import DrarlError
from drarl_tf.impala.cluster import WorkerInfo, worker_info
from drarl_tf.runtime.run_config import RunConfig

STRATEGIES = ("default", "mirrored", "multi_worker")
ACTOR_BACKENDS = ("process", "ray")


@dataclasses.dataclass
class ImpalaConfig(RunConfig):
    # The paper's 32 actor envs, as processes x envs each (DESIGN.md section 5).
    num_actors: int = 2
    envs_per_actor: int = 16
    unroll_length: int = 20
    batch_size: int = 32  # unrolls (env trajectories) per update
    learning_rate: float = 6e-4
    rmsprop_decay: float = 0.99
    rmsprop_epsilon: float = 0.01
    rmsprop_momentum: float = 0.0
    max_grad_norm: float = 40.0
    baseline_cost: float = 0.5
    entropy_cost: float = 0.01
    clip_rho_threshold: float = 1.0
    clip_c_threshold: float = 1.0
    queue_size: int = 8  # actor messages (unrolls of envs_per_actor envs) in flight
    # "default": one device; "mirrored": this machine's GPUs; "multi_worker": one learner
    # over several machines (TF_CONFIG), each with its own actors and batch_size / workers
    # unrolls of the batch.
    strategy: str = "default"
    # multi_worker: a collective (gradient sum, stop vote) that waits longer than this for
    # another worker fails, and the run stops with a checkpoint instead of hanging.
    collective_timeout_seconds: float = 600.0
    actor_backend: str = "process"  # "ray": Ray actors (pip install 'drarl_tf[ray]')
    ray_address: str = ""  # "": start Ray on this machine; else join that cluster
    # A dead actor is restarted, unless it died this many times in a row without
    # delivering an unroll: then the run stops with a message (the checkpoint is kept).
    max_actor_restarts: int = 3
    # An actor process that delivers no unroll for this long (stopped, stuck) is named
    # in a warning, killed and restarted (counted like a death).
    actor_timeout_seconds: float = 120.0

    def __post_init__(self):
        super().__post_init__()
        self._require_at_least_one("num_actors", "envs_per_actor", "unroll_length",
                                   "batch_size", "queue_size")
        if not self.rmsprop_epsilon > 0:
            raise DrarlError(f"rmsprop_epsilon must be > 0, got {self.rmsprop_epsilon}")
        self._require_range("rmsprop_epsilon", 0.0, None, low_open=True)
        self._require_range("rmsprop_decay", 0.0, 1.0, high_open=True)
        self._require_range("rmsprop_momentum", 0.0, 1.0, high_open=True)
        for name in ("baseline_cost", "entropy_cost"):
            self._require_range(name, 0.0, None)
        for name in ("clip_rho_threshold", "clip_c_threshold"):
            self._require_range(name, 0.0, None, low_open=True)
        if self.strategy not in STRATEGIES:
            raise DrarlError(f"unknown strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        if self.actor_backend not in ACTOR_BACKENDS:
            raise DrarlError(f"unknown actor_backend '{self.actor_backend}'; choose one of "
                             f"{', '.join(ACTOR_BACKENDS)}")
        if self.actor_backend == "ray" and importlib.util.find_spec("ray") is None:
            raise DrarlError("--actor_backend=ray needs Ray: pip install 'drarl_tf[ray]'")
        if self.ray_address and self.actor_backend != "ray":
            raise DrarlError("ray_address is only used with --actor_backend=ray")
        if not self.collective_timeout_seconds > 0:
            raise DrarlError("collective_timeout_seconds must be > 0, got "
                             f"{self.collective_timeout_seconds}")
        self._require_range("actor_timeout_seconds", 0.0, None, low_open=True)
        if self.max_actor_restarts < 0:
            raise DrarlError(f"max_actor_restarts must be >= 0, got {self.max_actor_restarts}")
        if self.batch_size % self.envs_per_actor:
            raise DrarlError(
                f"batch_size ({self.batch_size}) must be a multiple of envs_per_actor "
                f"({self.envs_per_actor}): a batch is made of whole actor unrolls"
            )
        workers = self.worker.num_workers
        if self.batch_size % (workers * self.envs_per_actor):
            raise DrarlError(
                f"batch_size ({self.batch_size}) must be a multiple of workers x envs_per_actor "
                f"({workers} x {self.envs_per_actor}): each worker's share is whole unrolls")
        if self.queue_size < self.messages_per_batch:
            raise DrarlError(
                f"queue_size ({self.queue_size}) must hold a batch ({self.messages_per_batch} "
                "actor unrolls), or actors block before the learner can assemble one"
            )

    @functools.cached_property
    def worker(self) -> WorkerInfo:
        """This process's place among the learner's workers (one unless multi_worker);
        TF_CONFIG is read once, not at every update."""
        return worker_info(self.strategy)

    @property
    def local_batch_size(self) -> int:
        """Unrolls of each update that this worker's own actors provide."""
        return self.batch_size // self.worker.num_workers

    @property
    def messages_per_batch(self) -> int:
        return self.local_batch_size // self.envs_per_actor
