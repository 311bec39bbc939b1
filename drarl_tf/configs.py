"""Every trainer's settings as dataclasses with the paper's defaults, validated when made.

`RunConfig` holds what every trainer shares, with one value for all; `ImpalaConfig`,
`A2CConfig` and `PPOConfig` (A2C and PPO through `OnPolicyConfig`) add their own fields
and defaults. Each field and its default is declared once, in one class, with a
one-line help (`field.metadata["help"]`, and `metadata["choices"]` where the values are a
fixed set) that the scripts' flags show in --help. `RunConfig` and `OnPolicyConfig` are
bases only: the learning rate, gradient clip and unroll size differ per algorithm.

This module imports no TensorFlow, so that a script checks its flags (and fails with
one line) before TensorFlow loads; only `precision="auto"` asks TensorFlow for GPUs,
after every other check.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math

from drarl_tf.bookkeeping.numerics import NONFINITE_ACTIONS
from drarl_tf.cluster import WorkerInfo, worker_info
from drarl_tf.envs.minatar import is_minatar, require_minatar
from drarl_tf.envs.registry import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks.table import NET_NAMES, PRECISIONS, check_net_name
from drarl_tf.training.hardware import AUTO, resolve_precision

MAX_SEED = 2**31 - 1  # seeds go to numpy, TensorFlow and the emulator (32-bit)
STRATEGIES = ("default", "mirrored", "multi_worker")
# The frame counter is an int64 (checkpoints, TensorBoard steps).
MAX_FRAMES = 2**63 - 1
# The shortest --actor_timeout_seconds: below it healthy actors get killed (see its check).
MIN_ACTOR_TIMEOUT = 5.0
ACTOR_BACKENDS = ("process", "ray")
INFERENCE_MODES = ("actor", "learner")
PRECISION_CHOICES = (AUTO,) + PRECISIONS


def _field(default, help: str, choices: tuple[str, ...] = ()):  # noqa: A002
    """A dataclass field with its default, its --help line and, for a fixed set of
    values, the values (the flag then accepts only those)."""
    metadata = {"help": help, **({"choices": tuple(choices)} if choices else {})}
    return dataclasses.field(default=default, metadata=metadata)


def _one_of(values) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1]


_LR_DECAY = ", decayed linearly to 0 over total_frames"
_GRAD_CLIP = "Gradients are clipped to this global norm (> 0)."


@dataclasses.dataclass(kw_only=True)
class RunConfig:
    """What every trainer shares (a base: a run is made from one of its subclasses)."""

    net: str = _field("drarl", f"Network: {_one_of(NET_NAMES)} (any case, '-' for '_').")
    game: str = _field(
        "RoadRunner", "Catch, a MinAtar game (e.g. MinAtarBreakout; pip install "
        "'drarl_tf[minatar]') or any ale_py Atari game, e.g. RoadRunner (any case; '_', '-' "
        "and spaces ignored); --list_games lists them.")
    seed: int = _field(0, f"Seed of numpy, TensorFlow and the envs, in [0, {MAX_SEED}]; "
                       "part of the run directory's name.")
    total_frames: int = _field(200_000_000, "Training budget in environment frames (Atari: "
                               "4 per agent step); the paper: 200M.")
    discount: float = _field(0.99, "Discount factor (gamma), in [0, 1].")
    reward_clip: float = _field(1.0, "Rewards are clipped to [-reward_clip, reward_clip] "
                                "for learning (the scores reported stay raw); 0 disables it.")
    logdir: str = _field("runs", "Where the run directory <logdir>/<algo>-<net>-<game>-s<seed> "
                         "goes; rerunning the same command resumes from it.")
    export_dir: str = _field(
        "", "The final SavedModel goes to <export_dir>/<run name>/ instead of <logdir>/<run "
        "name>/saved_model/ (refused before training if that holds anything but an earlier "
        "export of the same run).")
    checkpoint_minutes: float = _field(10.0, "Minutes between checkpoints (> 0).")
    log_interval_seconds: float = _field(10.0, "Seconds between progress lines (> 0).")
    image_every_frames: int = _field(
        1_000_000, "TensorBoard images (attention masks, Grad-CAM) every this many frames, "
        "at the first update and at the end; 0: never.")
    milestone_fractions: tuple = _field(
        (0.0, 0.36, 0.72, 1.0), "Fractions of total_frames at which a checkpoint is kept for "
        "good in <run>/milestones/ (the paper's Fig. 7: 0, 36, 72 and 100 %); empty: none.")
    on_nonfinite: str = _field(
        "stop", "A non-finite loss or gradient never reaches the weights; then stop ends the "
        "run (the checkpoint of the last good state kept) or skip drops that batch and goes "
        "on.", NONFINITE_ACTIONS)
    precision: str = _field(
        "float32", f"Learner precision: {_one_of(PRECISION_CHOICES)}. float32 is the paper's; "
        "mixed_*: the learner's network computes in bfloat16/float16 (variables, logits, "
        "value, losses and optimiser state stay float32; float16 with dynamic loss "
        "scaling); auto: mixed_bfloat16 on a CPU-only machine whose CPU has AMX/AVX512_BF16, "
        "else float32 (config.json records the choice).", PRECISION_CHOICES)
    xla: bool = _field(False, "Compile the loss and gradient computation with XLA.")
    cpu_threads: int = _field(
        0, "Threads TensorFlow may use in this process (0: every core). 1 lets two runs "
        "share a 2-core machine without slowing each other: on small inputs (MinAtar) one "
        "thread trains almost as fast as two (docs/benchmarks.md).")
    target_return: float | None = _field(
        None, "Stop early once the mean return over the last 100 full games reaches this "
        "(unset: train for total_frames); a resumed run may set or change it.")

    def __post_init__(self):
        if type(self) in (RunConfig, OnPolicyConfig):
            raise TypeError(f"{type(self).__name__} is a base; make an ImpalaConfig, "
                            "A2CConfig or PPOConfig")
        self._check()
        # Last: "auto" asks TensorFlow for GPUs, so every cheap check fails before it loads.
        self.precision = resolve_precision(self.precision)

    def _check(self) -> None:
        """Every check but the precision's resolution; subclasses extend it."""
        self.net = check_net_name(self.net)
        self.game = check_game(self.game)
        if is_minatar(self.game):
            require_minatar(self.game)  # the extra named now, before TensorFlow loads
        if self.cpu_threads < 0:
            raise DrarlError(f"cpu_threads must be >= 0 (0: every core), got {self.cpu_threads}")
        if self.precision not in PRECISION_CHOICES:
            raise DrarlError(f"unknown precision '{self.precision}'; choose one of "
                             f"{', '.join(PRECISION_CHOICES)}")
        self._require_at_least_one("total_frames")
        if self.total_frames > MAX_FRAMES:
            raise DrarlError(f"total_frames must be at most {MAX_FRAMES:,} (the frame counter "
                             f"is a 64-bit integer), got {self.total_frames:,}")
        if not str(self.logdir).strip():
            raise DrarlError("logdir must not be empty: the run directory goes under it "
                             "(e.g. --logdir=runs, or --logdir=. for the current directory)")
        if not math.isfinite(self.checkpoint_minutes):
            raise DrarlError(f"checkpoint_minutes must be a finite number of minutes, got "
                             f"{self.checkpoint_minutes} (a checkpoint is always written at the "
                             "end; a large value gives checkpoints only there)")
        if not 0 <= self.seed <= MAX_SEED:
            raise DrarlError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        # Every trainer declares learning_rate and max_grad_norm (with its own default).
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


@dataclasses.dataclass(kw_only=True)
class OnPolicyConfig(RunConfig):
    """What A2C and PPO share (a base); each declares its own num_envs, unroll_length and
    learning_rate."""

    max_grad_norm: float = _field(0.5, _GRAD_CLIP)
    value_coef: float = _field(0.5, "Weight of the value loss.")
    entropy_coef: float = _field(0.01, "Weight of the entropy bonus.")

    def _check(self) -> None:
        super()._check()
        self._require_at_least_one("num_envs", "unroll_length")
        for name in ("value_coef", "entropy_coef"):
            self._require_range(name, 0.0, None)


@dataclasses.dataclass(kw_only=True)
class A2CConfig(OnPolicyConfig):
    """A2C with OpenAI baselines' Atari defaults."""

    num_envs: int = _field(16, "Envs stepped together.")
    unroll_length: int = _field(5, "Agent steps per env per update (the n of the n-step "
                                "returns).")
    learning_rate: float = _field(7e-4, f"RMSProp learning rate{_LR_DECAY}.")
    rmsprop_decay: float = _field(0.99, "RMSProp decay (rho), in [0, 1).")
    rmsprop_epsilon: float = _field(1e-5, "RMSProp epsilon (> 0).")

    def _check(self) -> None:
        super()._check()
        self._require_range("rmsprop_decay", 0.0, 1.0, high_open=True)
        self._require_range("rmsprop_epsilon", 0.0, None, low_open=True)


@dataclasses.dataclass(kw_only=True)
class PPOConfig(OnPolicyConfig):
    """PPO (clipped objective, GAE) with the PPO paper's Atari defaults."""

    num_envs: int = _field(8, "Envs stepped together.")
    unroll_length: int = _field(128, "Agent steps per env per rollout.")
    learning_rate: float = _field(2.5e-4, f"Adam learning rate{_LR_DECAY}.")
    adam_epsilon: float = _field(1e-5, "Adam epsilon (> 0).")
    num_epochs: int = _field(4, "Passes over each rollout.")
    num_minibatches: int = _field(4, "Minibatches per pass; must divide num_envs x "
                                  "unroll_length.")
    gae_lambda: float = _field(0.95, "GAE lambda, in [0, 1].")
    clip_ratio: float = _field(0.1, "Clip range of the probability ratio (epsilon), in "
                               "(0, 1].")
    value_clip: float = _field(0.1, "Clip range of the value update around the rollout's "
                               "values (> 0).")

    def _check(self) -> None:
        super()._check()
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


@dataclasses.dataclass(kw_only=True)
class ImpalaConfig(RunConfig):
    """IMPALA (V-trace) with the paper's defaults."""

    num_actors: int = _field(2, "Actor processes; the paper's 32 actor envs are num_actors x "
                             "envs_per_actor (docs/design.md, Hyperparameters).")
    envs_per_actor: int = _field(16, "Envs each actor steps together.")
    unroll_length: int = _field(20, "Agent steps per unroll (V-trace's trajectory length).")
    batch_size: int = _field(32, "Unrolls (env trajectories) per update; a multiple of "
                             "envs_per_actor.")
    learning_rate: float = _field(6e-4, f"RMSProp learning rate{_LR_DECAY}.")
    rmsprop_decay: float = _field(0.99, "RMSProp decay (rho), in [0, 1).")
    rmsprop_epsilon: float = _field(0.01, "RMSProp epsilon (> 0).")
    rmsprop_momentum: float = _field(0.0, "RMSProp momentum, in [0, 1).")
    max_grad_norm: float = _field(40.0, _GRAD_CLIP)
    baseline_cost: float = _field(0.5, "Weight of the value (baseline) loss.")
    entropy_cost: float = _field(0.01, "Weight of the entropy bonus.")
    clip_rho_threshold: float = _field(1.0, "V-trace's rho-bar: clip of the importance "
                                       "weights of the value targets (> 0).")
    clip_c_threshold: float = _field(1.0, "V-trace's c-bar: clip of the importance weights "
                                     "of the traces (> 0).")
    queue_size: int = _field(8, "Actor messages (unrolls of envs_per_actor envs) in flight; "
                             "must hold a batch.")
    strategy: str = _field(
        "default", "default: one device; mirrored: this machine's GPUs; multi_worker: one "
        "learner over several machines (TF_CONFIG), each with its own actors and batch_size "
        "/ workers unrolls of the batch.", STRATEGIES)
    collective_timeout_seconds: float = _field(
        600.0, "multi_worker: a collective (gradient sum, stop vote) that waits longer than "
        "this for another worker fails, and the run stops with a checkpoint instead of "
        "hanging.")
    actor_backend: str = _field(
        "process", "process: actor processes on this machine; ray: Ray actors (pip install "
        "'drarl_tf[ray]').", ACTOR_BACKENDS)
    inference: str = _field(
        "actor", "actor: every actor runs its own CPU copy of the net (the original "
        "IMPALA); learner: actors only step envs and the learner's device (the first GPU "
        "if any) acts for all of them in batches.", INFERENCE_MODES)
    inference_timeout_ms: float = _field(
        2.0, "--inference=learner: how long a batch of requests waits for the other "
        "actors after the first one (> 0).")
    ray_address: str = _field("", "With --actor_backend=ray: the Ray cluster to join; "
                              "empty: start Ray on this machine.")
    max_actor_restarts: int = _field(
        3, "A dead actor is restarted, unless it died this many times in a row without "
        "delivering an unroll: then the run stops with a message (the checkpoint is kept).")
    actor_timeout_seconds: float = _field(
        120.0, "An actor process that delivers no unroll for this long (stopped, stuck) is "
        "named in a warning, killed and restarted (counted like a death).")

    def _check(self) -> None:
        super()._check()
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
        if self.inference not in INFERENCE_MODES:
            raise DrarlError(f"unknown inference '{self.inference}'; choose one of "
                             f"{', '.join(INFERENCE_MODES)}")
        if self.inference == "learner" and self.actor_backend != "process":
            raise DrarlError("--inference=learner needs --actor_backend=process (Ray actors "
                             "run their own copy of the net)")
        self._require_range("inference_timeout_ms", 0.0, None, low_open=True)
        if self.ray_address and self.actor_backend != "ray":
            raise DrarlError("ray_address is only used with --actor_backend=ray")
        if not self.collective_timeout_seconds > 0:
            raise DrarlError("collective_timeout_seconds must be > 0, got "
                             f"{self.collective_timeout_seconds}")
        self._require_range("actor_timeout_seconds", 0.0, None, low_open=True)
        if self.actor_timeout_seconds < MIN_ACTOR_TIMEOUT:
            raise DrarlError(
                f"actor_timeout_seconds must be >= {MIN_ACTOR_TIMEOUT:g}, got "
                f"{self.actor_timeout_seconds:g}: a healthy actor on a busy machine can take "
                "seconds per unroll (16 Atari envs x 20 steps, each with a forward pass of "
                "the net on a shared CPU), and a shorter timeout would kill it")
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
