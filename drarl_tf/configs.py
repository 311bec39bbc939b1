"""Every trainer's settings as dataclasses with the paper's defaults, validated when made.

`RunConfig` holds what every trainer shares; `ImpalaConfig`, `A2CConfig` and
`PPOConfig` extend it. This module imports no TensorFlow, so that a script checks
its flags (and fails with one line) before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math

from drarl_tf.envs.registry import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.impala.cluster import WorkerInfo, worker_info
from drarl_tf.networks.table import check_net_name
from drarl_tf.runtime.hardware import resolve_precision
from drarl_tf.runtime.numerics import NONFINITE_ACTIONS

MAX_SEED = 2**31 - 1  # seeds go to numpy, TensorFlow and the emulator (32-bit)


@dataclasses.dataclass
class RunConfig:
    net: str = "drarl"
    game: str = "RoadRunner"
    seed: int = 0
    total_frames: int = 200_000_000
    learning_rate: float = 6e-4  # linearly to 0 over total_frames
    max_grad_norm: float = 40.0
    discount: float = 0.99
    reward_clip: float = 1.0  # rewards clipped to [-1, 1] for learning; 0 disables
    logdir: str = "runs"
    # The final SavedModel goes to <logdir>/<run name>/saved_model/, or, when this is set,
    # to <export_dir>/<run name>/ (refused before training if that holds anything but an
    # earlier export of the same run).
    export_dir: str = ""
    checkpoint_minutes: float = 10.0
    log_interval_seconds: float = 10.0
    # TensorBoard images (attention masks, Grad-CAM) every this many frames (the same unit
    # for every trainer), at the first update and at the end; 0: never.
    image_every_frames: int = 1_000_000
    # Checkpoints kept for good at these fractions of total_frames (the paper's Fig. 7:
    # 0, 36, 72 and 100 % of training), in <run>/milestones/; empty: none.
    milestone_fractions: tuple = (0.0, 0.36, 0.72, 1.0)
    # A non-finite loss or gradient never reaches the weights; then "stop" ends the run
    # (checkpoint of the last good state kept) or "skip" drops that batch and goes on.
    on_nonfinite: str = "stop"
    # "mixed_bfloat16" / "mixed_float16" (GPUs; with dynamic loss scaling): the learner's
    # network computes in bfloat16 / float16 (variables, logits, value, losses and
    # optimiser state stay float32); "float32" is the paper's; "auto": mixed_bfloat16 on a
    # CPU-only machine whose CPU has AMX/AVX512_BF16 (1.5-1.7x faster there), else float32.
    # config.json records the precision that was chosen.
    precision: str = "float32"
    xla: bool = False  # compile the loss and gradient computation with XLA
    # Stop early once the mean return over the last 100 full games reaches this (unset:
    # train for total_frames). A resumed run may set or change it.
    target_return: float | None = None

    def __post_init__(self):
        self.net = check_net_name(self.net)
        self.precision = resolve_precision(self.precision)
        self.game = check_game(self.game)
        self._require_at_least_one("total_frames")
        if not 0 <= self.seed <= MAX_SEED:
            raise DrarlError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        for name in ("learning_rate", "max_grad_norm", "checkpoint_minutes",
                     "log_interval_seconds"):
            if not getattr(self, name) > 0:
                raise DrarlError(f"{name} must be > 0, got {getattr(self, name)}")
        self._require_range("learning_rate", 0.0, None, low_open=True)
        self._require_range("max_grad_norm", 0.0, None, low_open=True)
        if not 0.0 <= self.discount <= 1.0:
            raise DrarlError(f"discount must be in [0, 1], got {self.discount}")
        if self.image_every_frames < 0:
            raise DrarlError(f"image_every_frames must be >= 0, got {self.image_every_frames}")
        self.milestone_fractions = _fractions(self.milestone_fractions)
        if self.on_nonfinite not in NONFINITE_ACTIONS:
            raise DrarlError(f"unknown on_nonfinite '{self.on_nonfinite}'; choose one of "
                             f"{', '.join(NONFINITE_ACTIONS)}")
        if self.target_return is not None and not math.isfinite(self.target_return):
            raise DrarlError(f"target_return must be a finite number, got {self.target_return}")
        if self.reward_clip < 0:
            raise DrarlError(f"reward_clip must be >= 0 (0 disables it), got {self.reward_clip}")
        self._require_range("reward_clip", 0.0, None, note=" (0 disables it)")

    def _require_range(self, name: str, low: float | None, high: float | None,
                       low_open: bool = False, high_open: bool = False, note: str = "") -> None:
        """A finite number in the interval; `None` leaves that side unbounded."""
        value = getattr(self, name)
        inside = (math.isfinite(value)
                  and (low is None or (value > low if low_open else value >= low))
                  and (high is None or (value < high if high_open else value <= high)))
        if not inside:
            interval = (f"{'(' if low_open or low is None else '['}"
                        f"{'-inf' if low is None else f'{low:g}'}, "
                        f"{'inf' if high is None else f'{high:g}'}"
                        f"{')' if high_open or high is None else ']'}")
            raise DrarlError(f"{name} must be a finite number in {interval}{note}, got {value}")

    def _require_at_least_one(self, *names: str) -> None:
        for name in names:
            if int(getattr(self, name)) < 1:
                raise DrarlError(f"{name} must be >= 1, got {getattr(self, name)}")


def _fractions(values) -> tuple:
    """`values` (numbers, or strings from a flag) as sorted unique floats in [0, 1]."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        fractions = sorted({float(v) for v in values})
    except (TypeError, ValueError):
        raise DrarlError(f"milestone_fractions must be numbers in [0, 1], got {values}") from None
    if any(not 0.0 <= f <= 1.0 for f in fractions):
        raise DrarlError(f"milestone_fractions must be in [0, 1], got {values}")
    return tuple(fractions)


@dataclasses.dataclass
class OnPolicyConfig(RunConfig):
    """Fields shared by A2C and PPO; each algorithm's config sets the paper's defaults."""

    num_envs: int = 16
    unroll_length: int = 5
    learning_rate: float = 7e-4
    max_grad_norm: float = 0.5
    value_coef: float = 0.5
    entropy_coef: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        self._require_at_least_one("num_envs", "unroll_length")
        for name in ("value_coef", "entropy_coef"):
            self._require_range(name, 0.0, None)


@dataclasses.dataclass
class A2CConfig(OnPolicyConfig):
    num_envs: int = 16
    unroll_length: int = 5
    learning_rate: float = 7e-4
    rmsprop_decay: float = 0.99
    rmsprop_epsilon: float = 1e-5
    max_grad_norm: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        self._require_range("rmsprop_decay", 0.0, 1.0, high_open=True)
        self._require_range("rmsprop_epsilon", 0.0, None, low_open=True)


@dataclasses.dataclass
class PPOConfig(OnPolicyConfig):
    num_envs: int = 8
    unroll_length: int = 128
    learning_rate: float = 2.5e-4
    adam_epsilon: float = 1e-5
    max_grad_norm: float = 0.5
    num_epochs: int = 4
    num_minibatches: int = 4
    gae_lambda: float = 0.95
    clip_ratio: float = 0.1
    value_clip: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if self.num_epochs < 1 or self.num_minibatches < 1:
            raise DrarlError("num_epochs and num_minibatches must be >= 1")
        samples = self.num_envs * self.unroll_length
        if samples % self.num_minibatches:
            raise DrarlError(
                f"num_envs x unroll_length ({samples}) must be a multiple of num_minibatches "
                f"({self.num_minibatches}), so that every minibatch has the same size")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise DrarlError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        self._require_range("adam_epsilon", 0.0, None, low_open=True)
        self._require_range("clip_ratio", 0.0, 1.0, low_open=True)
        self._require_range("value_clip", 0.0, None, low_open=True)


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
