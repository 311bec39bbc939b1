"""Settings every trainer shares, validated once; each algorithm's config extends them."""

from __future__ import annotations

import dataclasses
import math

from drarl_tf.envs import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks import check_net_name
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
