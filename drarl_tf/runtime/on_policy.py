"""The synchronous on-policy loop shared by A2C and PPO: collect a rollout, update, repeat."""

from __future__ import annotations

import dataclasses
import time

import tensorflow as tf

from drarl_tf.envs import check_game, make_vector_env
from drarl_tf.errors import DrarlError
from drarl_tf.networks import check_net_name
from drarl_tf.runtime.rollout import RolloutCollector, make_policy
from drarl_tf.runtime.session import TrainingSession, TrainResult


@dataclasses.dataclass
class OnPolicyConfig:
    """Fields shared by A2C and PPO; each algorithm's config sets the paper's defaults."""

    net: str = "drarl"
    game: str = "RoadRunner"
    seed: int = 0
    total_frames: int = 200_000_000
    num_envs: int = 16
    unroll_length: int = 5
    learning_rate: float = 7e-4  # linearly to 0 over total_frames
    max_grad_norm: float = 0.5
    discount: float = 0.99
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    reward_clip: float = 1.0  # rewards clipped to [-1, 1] for learning; 0 disables
    logdir: str = "runs"
    export_dir: str = "saved_models"  # the final SavedModel goes to <export_dir>/<run name>/
    checkpoint_minutes: float = 10.0
    log_interval_seconds: float = 10.0

    def __post_init__(self):
        self.net = check_net_name(self.net)
        self.game = check_game(self.game)
        for name in ("total_frames", "num_envs", "unroll_length"):
            if int(getattr(self, name)) < 1:
                raise DrarlError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "max_grad_norm", "checkpoint_minutes",
                     "log_interval_seconds"):
            if not getattr(self, name) > 0:
                raise DrarlError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.discount <= 1.0:
            raise DrarlError(f"discount must be in [0, 1], got {self.discount}")


def _time_shares(rollout_seconds: dict, update_seconds: float) -> dict:
    total = sum(rollout_seconds.values()) + update_seconds
    shares = {f"time/{k}_share": v / total for k, v in rollout_seconds.items()}
    shares["time/update_share"] = update_seconds / total
    return shares


def train_on_policy(algo: str, config: OnPolicyConfig, make_learner, env_fn=None) -> TrainResult:
    """Runs `algo` until `config.total_frames`, resuming from the run directory.

    Args:
      make_learner: `f(obs_shape, num_actions, frames_per_update)` returning an object
        with `model`, `optimizer` and `update(rollout) -> metrics`.
      env_fn: optional `f(num_envs) -> VecEnv` for a custom environment.
    """
    env = (env_fn(config.num_envs) if env_fn is not None
           else make_vector_env(config.game, config.num_envs, training=True))
    try:
        frames_per_update = config.num_envs * config.unroll_length * env.frames_per_step
        tf.keras.utils.set_random_seed(config.seed)
        learner = make_learner(env.obs_shape, env.num_actions, frames_per_update)
        session = TrainingSession(algo, config, env, learner.model, learner.optimizer)
        if session.finished:
            session.log(f"already finished ({session.start_frames:,} frames)")
            return session.close()
        # Seeded by where the run (re)starts, so a resumed run is reproducible too.
        seed = config.seed * 1_000_003 + session.start_frames // frames_per_update
        collector = RolloutCollector(env, make_policy(learner.model, env.obs_shape),
                                     config.unroll_length, config.discount,
                                     config.reward_clip, seed)
        session.log(f"{config.num_envs} envs x {config.unroll_length} steps per update, net "
                    f"{config.net} ({learner.model.count_params():,} params), "
                    f"logs in {session.run.root}")
        update_seconds = 0.0
        try:
            while not session.finished:
                rollout = collector.collect()
                start = time.perf_counter()
                metrics = learner.update(rollout)
                update_seconds += time.perf_counter() - start
                collector.reset_policy_cache()  # on-policy: act with the updated weights
                metrics.update(_time_shares(collector.seconds, update_seconds))
                session.record(frames_per_update, rollout["episode_returns"], metrics)
        finally:
            session.stop_clock()
        return session.close()
    finally:
        env.close()
