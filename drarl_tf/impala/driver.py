"""Wires IMPALA together: starts actors, feeds the learner from them, logs, checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from drarl_tf.bookkeeping.progress import TimeShares
from drarl_tf.bookkeeping.session import TrainingSession, TrainResult
from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import describe
from drarl_tf.errors import DrarlError
from drarl_tf.impala.inference import InferenceServer
from drarl_tf.impala.learner import Learner
from drarl_tf.impala.process_backend import ActorPool, StopWaiting
from drarl_tf.impala.supervision import warn
from drarl_tf.training.hardware import set_cpu_threads
from drarl_tf.training.unroll import concat_episodes, concat_unrolls


def make_actor_pool(config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn,
                    spec=None):
    """The actor backend of `config.actor_backend`: local processes or Ray actors."""
    if config.actor_backend == "ray":
        from drarl_tf.impala.ray_backend import RayActorPool

        return RayActorPool(config, env_fn, weights_shapes, seed, warn)
    return ActorPool(config, env_fn, weights_shapes, seed, warn, spec=spec)


def train(config: ImpalaConfig, env_fn=None) -> TrainResult:
    """Trains IMPALA until `config.total_frames`; resumes from the run directory's checkpoint.

    Args:
      config: the run's settings (paper defaults).
      env_fn: optional picklable `f(num_envs)` returning a `VecEnv` or a
        `gymnasium.vector.VectorEnv` (wrapped) for a custom environment; by default
        `config.game`.
    """
    set_cpu_threads(config.cpu_threads)
    spec = describe(config.game, env_fn)
    frames_per_update = config.batch_size * config.unroll_length * spec.frames_per_step

    tf.keras.utils.set_random_seed(config.seed)
    learner = Learner(config, spec.obs_shape, spec.num_actions, frames_per_update)
    worker = config.worker
    # The chief owns the run directory; other workers log under <logdir>/worker<i>/.
    session = TrainingSession(
        "impala", config if worker.is_chief else dataclasses.replace(
            config, logdir=str(Path(config.logdir) / f"worker{worker.index}")),
        spec, learner.model, learner.optimizer, export_model=worker.is_chief)
    try:
        return _run(config, env_fn, spec, learner, worker, session, frames_per_update)
    finally:
        session.release_lock()  # close() gives it back; a failed run, here


def _run(config: ImpalaConfig, env_fn, spec, learner: Learner, worker, session,
         frames_per_update: int) -> TrainResult:
    """The run of an opened session: actors, the learner loop, the final checkpoint."""
    if worker.num_workers > 1:
        learner.broadcast_from_chief(session.counters)  # the chief's resumed state
        session.counters_set()
        session.log(f"worker {worker.index} of {worker.num_workers}, "
                    f"{config.local_batch_size} of the {config.batch_size} unrolls per update")
    if session.finished:
        session.log(session.finished_message())
        return session.close()

    # Actor seeds depend on where the run resumes, so a resumed run is reproducible too.
    pool = make_actor_pool(config, env_fn, [w.shape for w in learner.weights()],
                           seed=config.seed + 7919 * (session.start_frames // frames_per_update)
                           + 1_000_033 * worker.index, spec=spec)
    server = None
    if config.inference == "learner":
        server = InferenceServer(pool, config.net, spec.num_actions, spec.obs_shape,
                                 config.precision, config.inference_timeout_ms / 1000)

    def publish() -> None:  # the weights the next unrolls are acted with
        if server is not None:
            server.set_weights(learner.weights(), version=learner.updates + 1)
        else:
            pool.publish(learner.weights(), version=learner.updates + 1)

    publish()
    stop_asked = (lambda: session.stop_requested) if worker.num_workers == 1 else (
        lambda: False)

    def stop_waiting() -> bool:
        # One learner alone stops waiting for actors at once when asked to (frozen
        # actors must not hold up its checkpoint); workers stop together by vote.
        if server is not None:
            server.check()
        return stop_asked()

    try:
        pool.start()  # inside the try: actors started before a failed one are stopped
        if server is not None:
            server.start()
        session.log(f"{config.num_actors} actors ({config.actor_backend}) x "
                    f"{config.envs_per_actor} envs, inference on the "
                    f"{'learner' if server else 'actors'}, batch {config.batch_size} x "
                    f"{config.unroll_length}, net {config.net} "
                    f"({learner.model.count_params():,} params), logs in {session.run.root}")
        # The learner's time between progress lines: waiting for unrolls (and for the
        # other workers' stop vote), the update, and publishing the new weights.
        clock = TimeShares()
        with session.stop_on_interrupt():
            while not learner.any_worker(not session.running):  # all workers stop together
                try:
                    messages = [pool.get(should_stop=stop_waiting)
                                for _ in range(config.messages_per_batch)]
                except StopWaiting:
                    break
                batch = concat_unrolls([m.unroll for m in messages])  # a copy: slots go back
                pool.release(messages)
                clock.lap("wait")
                metrics = learner.update(batch)
                session.check_update(metrics, batch)
                clock.lap("update")
                publish()
                clock.lap("publish")
                if server is not None:
                    metrics["inference_batch_envs"] = server.mean_batch_envs()
                metrics["policy_lag"] = learner.updates - float(
                    np.mean([m.policy_version for m in messages]))
                metrics["actor_restarts"] = float(pool.restarts)
                metrics.update(clock.shares())
                episodes = concat_episodes([m.episodes for m in messages])
                if session.record(frames_per_update, episodes.returns, metrics,
                                  obs=batch.obs if session.wants_states else None):
                    clock.reset()  # the shares logged cover the time since the last line
                clock.skip()  # logging and checkpoints are no part of the split
    except DrarlError:
        session.save_checkpoint()  # the learner's state is good: keep the work done so far
        raise
    except tf.errors.OpError as e:
        if worker.num_workers == 1:
            raise
        session.save_checkpoint()
        raise DrarlError(f"worker {worker.index}: lost the other workers ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]}); the last checkpoint is kept, "
                         "rerun every worker's command to resume") from None
    finally:
        session.stop_clock()
        if session.stop_requested:  # a scheduler's grace period is short: checkpoint first
            session.save_checkpoint(announce=False)
        if server is not None:
            server.close()
        pool.close()
    return session.close()
