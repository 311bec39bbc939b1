"""Every trainer's settings as dataclasses with the paper's defaults, validated when made.

`RunConfig` holds what every trainer shares, with one value for all; `ImpalaConfig`,
`A2CConfig` and `PPOConfig` (A2C and PPO through `OnPolicyConfig`) add their own fields
and defaults. Each field and its default is declared once, in one class, with a
one-line help (`field.metadata["help"]`) that the scripts' flags show in --help, and
what values it takes: `metadata["choices"]` for a fixed set, `metadata["range"]` for a
number (a `Range`). One generic check (`RunConfig._check_fields`) enforces both, with
one-line errors; only the checks that tie fields together are written out.
`RunConfig` and `OnPolicyConfig` are bases only: the learning rate, gradient clip and
unroll size differ per algorithm.

This module never loads TensorFlow, so that a script checks its flags (and fails with
one line) before TensorFlow loads. `precision="auto"` is kept as given: the trainer
resolves it for the machine when the run starts (`training.loop.start`), and
config.json records the choice.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
from typing import ClassVar

from drarl_tf.cluster import WorkerInfo, worker_info
from drarl_tf.envs.minatar import is_minatar, require_minatar
from drarl_tf.envs.registry import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks.precision import PRECISIONS
from drarl_tf.networks.table import NET_NAMES, check_net_name

MAX_SEED = 2**31 - 1  # seeds go to numpy, TensorFlow and the emulator (32-bit)
STRATEGIES = ("default", "mirrored", "multi_worker")
# The frame counter is an int64 (checkpoints, TensorBoard steps).
MAX_FRAMES = 2**63 - 1
# The shortest --actor_timeout_seconds: below it healthy actors get killed (see its check).
MIN_ACTOR_TIMEOUT = 5.0
ACTOR_BACKENDS = ("process", "ray")
INFERENCE_MODES = ("actor", "learner")
AUTO = "auto"  # precision: chosen for the machine when the run starts
PRECISION_CHOICES = (AUTO,) + PRECISIONS
NONFINITE_ACTIONS = ("stop", "skip")


@dataclasses.dataclass(frozen=True)
class Range:
    """The numbers a field takes: finite floats (unless not `finite`), within `low`/`high`
    (None: unbounded), the ends included unless open. `note` follows the condition in the error ("(0
    disables it)"), `why` follows the value given."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    note: str = ""
    why: str = ""
    finite: bool = True  # False: +-inf is a value like any other (e.g. "never")

    def condition(self) -> str:
        """`> 0`, `>= 1`, `in [0, 1)`, or "" (any finite number)."""
        low, high = (None if x is None else _number(x) for x in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{low}, {high}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {high}"
        return ""

    def error(self, name: str, value) -> str | None:
        """The one-line error for `value` of field `name`, or None if it is inside."""
        finite = isinstance(value, int) or math.isfinite(value) or (
            not self.finite and not math.isnan(value))
        inside = finite and (
            (self.low is None or (value > self.low if self.low_open else value >= self.low))
            and (self.high is None or (value < self.high if self.high_open
                                       else value <= self.high)))
        if inside:
            return None
        condition = self.condition()
        number = "a finite number" if self.finite else "a number"
        what = condition if finite else " ".join((number, condition)).strip()
        return f"{name} must be {what}{self.note}, got {value}{self.why}"


def _number(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _field(default, help: str, choices: tuple[str, ...] = (), **bounds):  # noqa: A002
    """A dataclass field with its default, its --help line and the values it takes: for a
    fixed set, `choices` (the flag then accepts only those); for a number, the keywords
    of `Range` (`low`, `high`, `low_open`, `high_open`, `note`, `why`)."""
    metadata = {"help": help, **({"choices": tuple(choices)} if choices else {}),
                **({"range": Range(**bounds)} if bounds else {})}
    return dataclasses.field(default=default, metadata=metadata)


_POSITIVE = dict(low=0.0, low_open=True)
_AT_LEAST_ONE = dict(low=1)
_FRACTION = dict(low=0.0, high=1.0)
_DECAY = dict(low=0.0, high=1.0, high_open=True)


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
                       "part of the run directory's name.", low=0, high=MAX_SEED)
    total_frames: int = _field(200_000_000, "Training budget in environment frames (Atari: "
                               "4 per agent step); the paper: 200M.", **_AT_LEAST_ONE)
    discount: float = _field(0.99, "Discount factor (gamma), in [0, 1].", **_FRACTION)
    reward_clip: float = _field(1.0, "Rewards are clipped to [-reward_clip, reward_clip] "
                                "for learning (the scores reported stay raw); 0 disables it.",
                                low=0.0, note=" (0 disables it)")
    logdir: str = _field("runs", "Where the run directory <logdir>/<algo>-<net>-<game>-s<seed> "
                         "goes; rerunning the same command resumes from it.")
    export_dir: str = _field(
        "", "The final SavedModel goes to <export_dir>/<run name>/ instead of <logdir>/<run "
        "name>/saved_model/ (refused before training if that holds anything but an earlier "
        "export of the same run).")
    checkpoint_minutes: float = _field(10.0, "Minutes between checkpoints (> 0).", **_POSITIVE,
                                      why=": a checkpoint is always written at the end; a "
                                      "large value gives checkpoints only there")
    log_interval_seconds: float = _field(10.0, "Seconds between progress lines (> 0).",
                                         **_POSITIVE, finite=False)
    image_every_frames: int = _field(
        1_000_000, "TensorBoard images (attention masks, Grad-CAM) every this many frames, "
        "at the first update and at the end; 0: never.", low=0)
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
        "thread trains almost as fast as two (docs/benchmarks.md).", low=0, note=" (0: every core)")
    target_return: float | None = _field(
        None, "Stop early once the mean return over the last 100 full games reaches this "
        "(unset: train for total_frames); a resumed run may set or change it.",
        why=" (unset: train for total_frames)")

    def __post_init__(self):
        if type(self) in (RunConfig, OnPolicyConfig):
            raise TypeError(f"{type(self).__name__} is a base; make an ImpalaConfig, "
                            "A2CConfig or PPOConfig")
        self._check()

    def _check(self) -> None:
        """Names canonical, every field's choices and range, then the checks that tie
        fields together (subclasses extend it)."""
        self.net = check_net_name(self.net)
        self.game = check_game(self.game)
        if is_minatar(self.game):
            require_minatar(self.game)  # the extra named now, before TensorFlow loads
        self.milestone_fractions = _fractions(self.milestone_fractions)
        self._check_fields()
        if self.total_frames > MAX_FRAMES:
            raise DrarlError(f"total_frames must be at most {MAX_FRAMES:,} (the frame counter "
                             f"is a 64-bit integer), got {self.total_frames:,}")
        if not str(self.logdir).strip():
            raise DrarlError("logdir must not be empty: the run directory goes under it "
                             "(e.g. --logdir=runs, or --logdir=. for the current directory)")

    def _check_fields(self) -> None:
        """The one check of every field's `choices` and `range` (see `_field`)."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            choices = field.metadata.get("choices")
            if choices and value not in choices:
                raise DrarlError(f"unknown {field.name} '{value}'; choose one of "
                                 f"{', '.join(choices)}")
            bounds = field.metadata.get("range")
            error = bounds.error(field.name, value) if bounds and value is not None else None
            if error:
                raise DrarlError(error)


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

    max_grad_norm: float = _field(0.5, _GRAD_CLIP, **_POSITIVE)
    value_coef: float = _field(0.5, "Weight of the value loss.", low=0.0)
    entropy_coef: float = _field(0.01, "Weight of the entropy bonus.", low=0.0)


@dataclasses.dataclass(kw_only=True)
class A2CConfig(OnPolicyConfig):
    """A2C with OpenAI baselines' Atari defaults."""

    OPTIMIZER: ClassVar[str] = "rmsprop"

    num_envs: int = _field(16, "Envs stepped together.", **_AT_LEAST_ONE)
    unroll_length: int = _field(5, "Agent steps per env per update (the n of the n-step "
                                "returns).", **_AT_LEAST_ONE)
    learning_rate: float = _field(7e-4, f"RMSProp learning rate{_LR_DECAY}.", **_POSITIVE)
    rmsprop_decay: float = _field(0.99, "RMSProp decay (rho), in [0, 1).", **_DECAY)
    rmsprop_epsilon: float = _field(1e-5, "RMSProp epsilon (> 0).", **_POSITIVE)


@dataclasses.dataclass(kw_only=True)
class PPOConfig(OnPolicyConfig):
    """PPO (clipped objective, GAE) with the PPO paper's Atari defaults."""

    OPTIMIZER: ClassVar[str] = "adam"

    num_envs: int = _field(8, "Envs stepped together.", **_AT_LEAST_ONE)
    unroll_length: int = _field(128, "Agent steps per env per rollout.", **_AT_LEAST_ONE)
    learning_rate: float = _field(2.5e-4, f"Adam learning rate{_LR_DECAY}.", **_POSITIVE)
    adam_epsilon: float = _field(1e-5, "Adam epsilon (> 0).", **_POSITIVE)
    num_epochs: int = _field(4, "Passes over each rollout.", **_AT_LEAST_ONE)
    num_minibatches: int = _field(4, "Minibatches per pass; must divide num_envs x "
                                  "unroll_length.", **_AT_LEAST_ONE)
    gae_lambda: float = _field(0.95, "GAE lambda, in [0, 1].", **_FRACTION)
    clip_ratio: float = _field(0.1, "Clip range of the probability ratio (epsilon), in "
                               "(0, 1].", low=0.0, high=1.0, low_open=True)
    value_clip: float = _field(0.1, "Clip range of the value update around the rollout's "
                               "values (> 0).", **_POSITIVE)

    def _check(self) -> None:
        super()._check()
        samples = self.num_envs * self.unroll_length
        if samples % self.num_minibatches:
            raise DrarlError(
                f"num_envs x unroll_length ({samples}) must be a multiple of num_minibatches "
                f"({self.num_minibatches}), so that every minibatch has the same size")


@dataclasses.dataclass(kw_only=True)
class ImpalaConfig(RunConfig):
    """IMPALA (V-trace) with the paper's defaults."""

    OPTIMIZER: ClassVar[str] = "rmsprop"

    num_actors: int = _field(2, "Actor processes; the paper's 32 actor envs are num_actors x "
                             "envs_per_actor (docs/design.md, Hyperparameters).", **_AT_LEAST_ONE)
    envs_per_actor: int = _field(16, "Envs each actor steps together.", **_AT_LEAST_ONE)
    unroll_length: int = _field(20, "Agent steps per unroll (V-trace's trajectory length).",
                                **_AT_LEAST_ONE)
    batch_size: int = _field(32, "Unrolls (env trajectories) per update; a multiple of "
                             "envs_per_actor.", **_AT_LEAST_ONE)
    learning_rate: float = _field(6e-4, f"RMSProp learning rate{_LR_DECAY}.", **_POSITIVE)
    rmsprop_decay: float = _field(0.99, "RMSProp decay (rho), in [0, 1).", **_DECAY)
    rmsprop_epsilon: float = _field(0.01, "RMSProp epsilon (> 0).", **_POSITIVE)
    rmsprop_momentum: float = _field(0.0, "RMSProp momentum, in [0, 1).", **_DECAY)
    max_grad_norm: float = _field(40.0, _GRAD_CLIP, **_POSITIVE)
    baseline_cost: float = _field(0.5, "Weight of the value (baseline) loss.", low=0.0)
    entropy_cost: float = _field(0.01, "Weight of the entropy bonus.", low=0.0)
    clip_rho_threshold: float = _field(1.0, "V-trace's rho-bar: clip of the importance "
                                       "weights of the value targets (> 0).", **_POSITIVE)
    clip_c_threshold: float = _field(1.0, "V-trace's c-bar: clip of the importance weights "
                                     "of the traces (> 0).", **_POSITIVE)
    queue_size: int = _field(8, "Actor messages (unrolls of envs_per_actor envs) in flight; "
                             "must hold a batch.", **_AT_LEAST_ONE)
    strategy: str = _field(
        "default", "default: one device; mirrored: this machine's GPUs; multi_worker: one "
        "learner over several machines (TF_CONFIG), each with its own actors and batch_size "
        "/ workers unrolls of the batch.", STRATEGIES)
    collective_timeout_seconds: float = _field(
        600.0, "multi_worker: a collective (gradient sum, stop vote) that waits longer than "
        "this for another worker fails, and the run stops with a checkpoint instead of "
        "hanging.", **_POSITIVE, finite=False)
    actor_backend: str = _field(
        "process", "process: actor processes on this machine; ray: Ray actors (pip install "
        "'drarl_tf[ray]').", ACTOR_BACKENDS)
    inference: str = _field(
        "actor", "actor: every actor runs its own CPU copy of the net (the original "
        "IMPALA); learner: actors only step envs and the learner's device (the first GPU "
        "if any) acts for all of them in batches.", INFERENCE_MODES)
    inference_timeout_ms: float = _field(
        2.0, "--inference=learner: how long a batch of requests waits for the other "
        "actors after the first one (> 0).", **_POSITIVE)
    ray_address: str = _field("", "With --actor_backend=ray: the Ray cluster to join; "
                              "empty: start Ray on this machine.")
    max_actor_restarts: int = _field(
        3, "A dead actor is restarted, unless it died this many times in a row without "
        "delivering an unroll: then the run stops with a message (the checkpoint is kept).",
        low=0)
    actor_timeout_seconds: float = _field(
        120.0, "An actor process that delivers no unroll for this long (stopped, stuck) is "
        "named in a warning, killed and restarted (counted like a death).",
        low=MIN_ACTOR_TIMEOUT,
        why=": a healthy actor on a busy machine can take seconds per unroll (16 Atari envs x "
        "20 steps, each with a forward pass of the net on a shared CPU), and a shorter "
        "timeout would kill it")

    def _check(self) -> None:
        super()._check()
        if self.actor_backend == "ray" and importlib.util.find_spec("ray") is None:
            raise DrarlError("--actor_backend=ray needs Ray: pip install 'drarl_tf[ray]'")
        if self.inference == "learner" and self.actor_backend != "process":
            raise DrarlError("--inference=learner needs --actor_backend=process (Ray actors "
                             "run their own copy of the net)")
        if self.ray_address and self.actor_backend != "ray":
            raise DrarlError("ray_address is only used with --actor_backend=ray")
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
