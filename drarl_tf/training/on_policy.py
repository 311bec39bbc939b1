"""The synchronous on-policy loop shared by A2C and PPO: collect a rollout, update, repeat."""

from __future__ import annotations

import time

import tensorflow as tf

from drarl_tf.bookkeeping.session import TrainingSession, TrainResult
from drarl_tf.configs import OnPolicyConfig
from drarl_tf.envs import EnvSpec, make_env
from drarl_tf.errors import DrarlError
from drarl_tf.training.hardware import set_cpu_threads
from drarl_tf.training.rollout import RolloutCollector, make_policy


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
      env_fn: optional `f(num_envs)` returning a `VecEnv` or a `gymnasium.vector.VectorEnv`
        (wrapped) for a custom environment.
    """
    set_cpu_threads(config.cpu_threads)
    env = make_env(config.game, config.num_envs, env_fn, training=True)
    session = None
    try:
        spec = EnvSpec.of(env)
        frames_per_update = config.num_envs * config.unroll_length * spec.frames_per_step
        tf.keras.utils.set_random_seed(config.seed)
        learner = make_learner(spec.obs_shape, spec.num_actions, frames_per_update)
        session = TrainingSession(algo, config, spec, learner.model, learner.optimizer)
        if session.finished:
            session.log(session.finished_message())
            return session.close()
        # Seeded by where the run (re)starts, so a resumed run is reproducible too.
        seed = config.seed * 1_000_003 + session.start_frames // frames_per_update
        collector = RolloutCollector(env, make_policy(learner.model, spec.obs_shape),
                                     config.unroll_length, config.discount,
                                     config.reward_clip, seed)
        session.log(f"{config.num_envs} envs x {config.unroll_length} steps per update, net "
                    f"{config.net} ({learner.model.count_params():,} params), "
                    f"logs in {session.run.root}")
        update_seconds = 0.0
        try:
            with session.stop_on_interrupt():
                while session.running:
                    rollout, episodes = collector.collect()
                    start = time.perf_counter()
                    metrics = learner.update(rollout)
                    update_seconds += time.perf_counter() - start
                    collector.reset_policy_cache()  # on-policy: act with the updated weights
                    session.check_update(metrics, rollout)
                    metrics.update(_time_shares(collector.seconds, update_seconds))
                    session.record(frames_per_update, episodes.returns, metrics,
                                   obs=rollout.obs if session.wants_states else None)
        except DrarlError:
            session.save_checkpoint()  # the learner's state is good: keep the work done
            raise
        finally:
            session.stop_clock()
        return session.close()
    finally:
        if session is not None:
            session.release_lock()  # a failed run: another command may write there now
        env.close()
