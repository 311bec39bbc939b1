"""IMPALA configuration with the paper's defaults (DESIGN.md section 4)."""

from __future__ import annotations

import dataclasses

from drarl_tf.envs import check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks import check_net_name

STRATEGIES = ("default", "mirrored")


@dataclasses.dataclass
class ImpalaConfig:
    net: str = "drarl"
    game: str = "RoadRunner"
    seed: int = 0
    total_frames: int = 200_000_000
    # The paper's 32 actor envs, as processes x envs each (DESIGN.md section 5).
    num_actors: int = 2
    envs_per_actor: int = 16
    unroll_length: int = 20
    batch_size: int = 32  # unrolls (env trajectories) per update
    learning_rate: float = 6e-4  # linearly to 0 over total_frames
    rmsprop_decay: float = 0.99
    rmsprop_epsilon: float = 0.01
    rmsprop_momentum: float = 0.0
    max_grad_norm: float = 40.0
    discount: float = 0.99
    baseline_cost: float = 0.5
    entropy_cost: float = 0.01
    clip_rho_threshold: float = 1.0
    clip_c_threshold: float = 1.0
    reward_clip: float = 1.0  # rewards clipped to [-1, 1] for learning; 0 disables
    queue_size: int = 8  # actor messages (unrolls of envs_per_actor envs) in flight
    strategy: str = "default"
    logdir: str = "runs"
    export_dir: str = "saved_models"  # the final SavedModel goes to <export_dir>/<run name>/
    checkpoint_minutes: float = 10.0
    log_interval_seconds: float = 10.0

    def __post_init__(self):
        self.net = check_net_name(self.net)
        self.game = check_game(self.game)
        positive = ("total_frames", "num_actors", "envs_per_actor", "unroll_length",
                    "batch_size", "queue_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise DrarlError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "max_grad_norm", "rmsprop_epsilon"):
            if not getattr(self, name) > 0:
                raise DrarlError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.discount <= 1.0:
            raise DrarlError(f"discount must be in [0, 1], got {self.discount}")
        if self.strategy not in STRATEGIES:
            raise DrarlError(f"unknown strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        if self.batch_size % self.envs_per_actor:
            raise DrarlError(
                f"batch_size ({self.batch_size}) must be a multiple of envs_per_actor "
                f"({self.envs_per_actor}): a batch is made of whole actor unrolls"
            )
        if self.queue_size < self.messages_per_batch:
            raise DrarlError(
                f"queue_size ({self.queue_size}) must hold a batch ({self.messages_per_batch} "
                "actor unrolls), or actors block before the learner can assemble one"
            )
        if self.checkpoint_minutes <= 0 or self.log_interval_seconds <= 0:
            raise DrarlError("checkpoint_minutes and log_interval_seconds must be > 0")

    @property
    def messages_per_batch(self) -> int:
        return self.batch_size // self.envs_per_actor
