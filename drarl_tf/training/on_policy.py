"""The synchronous on-policy acting of A2C and PPO: collect a rollout, update, repeat."""

from __future__ import annotations

import contextlib
import time

from drarl_tf.configs import OnPolicyConfig
from drarl_tf.envs import EnvSpec, make_env
from drarl_tf.training.loop import Update, finish, finished_already, open_session, run, start
from drarl_tf.training.rollout import RolloutCollector, make_policy
from drarl_tf.training.seeds import run_seed


def _time_shares(rollout_seconds: dict, update_seconds: float) -> dict:
    total = sum(rollout_seconds.values()) + update_seconds
    shares = {f"time/{k}_share": v / total for k, v in rollout_seconds.items()}
    shares["time/update_share"] = update_seconds / total
    return shares


@contextlib.contextmanager
def collecting(env, learner, config: OnPolicyConfig, spec: EnvSpec, seed: int,
               frames_per_update: int):
    """Yields the on-policy `step`: one rollout of `config.unroll_length` steps of the
    env with the learner's current weights, then one `learner.update` on it."""
    collector = RolloutCollector(env, make_policy(learner.model, spec.obs_shape),
                                 config.unroll_length, config.discount, config.reward_clip,
                                 seed)
    update_seconds = 0.0

    def step() -> Update:
        nonlocal update_seconds
        rollout, episodes = collector.collect()
        begin = time.perf_counter()
        metrics = learner.update(rollout)
        update_seconds += time.perf_counter() - begin
        collector.reset_policy_cache()  # on-policy: act with the updated weights
        metrics.update(_time_shares(collector.seconds, update_seconds))
        return Update(frames_per_update, episodes.returns, metrics, rollout)

    yield step


def train_on_policy(algo: str, config: OnPolicyConfig, make_learner, env_fn=None,
                    images=None):
    """Runs `algo` until `config.total_frames`, resuming from the run directory.

    Args:
      make_learner: `f(config, obs_shape, num_actions, frames_per_update)` returning a
        `training.learner.Learner`.
      env_fn: optional `f(num_envs)` returning a `VecEnv` or a `gymnasium.vector.VectorEnv`
        (wrapped) for a custom environment.
      images: the TensorBoard images' maker (see `training.loop.open_session`).
    """
    config = start(config)
    env = make_env(config.game, config.num_envs, env_fn, training=True)
    try:
        spec = EnvSpec.of(env)
        frames_per_update = config.num_envs * config.unroll_length * spec.frames_per_step
        learner = make_learner(config, spec.obs_shape, spec.num_actions, frames_per_update)
        with open_session(algo, config, spec, learner, images) as session:
            if finished_already(session):
                return finish(session)
            # Seeded by where the run (re)starts, so a resumed run is reproducible too.
            seed = run_seed(config.seed, "rollout", session.start_frames // frames_per_update)
            session.log(f"{config.num_envs} envs x {config.unroll_length} steps per update, "
                        f"net {config.net} ({learner.model.count_params():,} params), "
                        f"logs in {session.run.root}")
            with collecting(env, learner, config, spec, seed, frames_per_update) as step:
                run(session, step)
            return finish(session)
    finally:
        env.close()
