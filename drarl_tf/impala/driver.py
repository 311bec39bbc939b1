"""IMPALA in named steps: make the learner, open the run, make the actors and their
channels, run the shared training loop (`drarl_tf.training.loop.run`), finish (final
checkpoint and SavedModel).

An unroll's way: `actor.py` (acts, writes it into a slot; its `ActorPool` starts and
restarts the actor processes) -> `channel.py` (slot index down the actor's pipe; the
learner reads the slot and gives it back) -> `learner.py` (the V-trace update on a
batch of them).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from drarl_tf.bookkeeping.progress import TimeShares
from drarl_tf.bookkeeping.session import TrainResult
from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import describe
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import ActorPool
from drarl_tf.impala.channel import StopWaiting
from drarl_tf.impala.inference import InferenceServer
from drarl_tf.impala.learner import Learner
from drarl_tf.impala.supervision import warn
from drarl_tf.training.loop import Update, finish, finished_already, open_session, run, start
from drarl_tf.training.seeds import run_seed
from drarl_tf.training.unroll import concat_episodes, concat_unrolls


def train(config: ImpalaConfig, env_fn=None) -> TrainResult:
    """Trains IMPALA until `config.total_frames`; resumes from the run directory's checkpoint.

    Args:
      config: the run's settings (paper defaults).
      env_fn: optional picklable `f(num_envs)` returning a `VecEnv` or a
        `gymnasium.vector.VectorEnv` (wrapped) for a custom environment; by default
        `config.game`.
    """
    from drarl_tf.viz.summaries import RunImages

    config = start(config)
    spec = describe(config.game, env_fn)
    frames_per_update = config.batch_size * config.unroll_length * spec.frames_per_step
    learner = Learner(config, spec.obs_shape, spec.num_actions, frames_per_update)
    worker = config.worker
    # The chief owns the run directory; other workers log under <logdir>/worker<i>/.
    own = config if worker.is_chief else dataclasses.replace(
        config, logdir=str(Path(config.logdir) / f"worker{worker.index}"))
    with open_session("impala", own, spec, learner, RunImages,
                      export_model=worker.is_chief) as session:
        if worker.num_workers > 1:
            learner.broadcast_from_chief(session.counters)  # the chief's resumed state
            session.counters_set()
            session.log(f"worker {worker.index} of {worker.num_workers}, "
                        f"{config.local_batch_size} of the {config.batch_size} unrolls per "
                        "update")
        if finished_already(session):
            return finish(session)
        # Actor seeds depend on where the run resumes, so a resumed run is reproducible too.
        seed = run_seed(config.seed, "actors", worker.index,
                        session.start_frames // frames_per_update)
        pool = make_actor_pool(config, env_fn, [w.shape for w in learner.weights()], seed,
                               spec=spec)
        clock = TimeShares()
        with Actors(config, spec, pool, learner, session).running() as actors, \
                workers_fail_together(session, worker):
            run(session, learning_step(actors, learner, frames_per_update, clock),
                stop_together=learner.any_worker, clock=clock)
        return finish(session)


def make_actor_pool(config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn,
                    spec=None):
    """The actor backend of `config.actor_backend`: local processes or Ray actors."""
    if config.actor_backend == "ray":
        from drarl_tf.impala.ray_backend import RayActorPool

        return RayActorPool(config, env_fn, weights_shapes, seed, warn)
    return ActorPool(config, env_fn, weights_shapes, seed, warn, spec=spec)


class Actors:
    """The learner's side of acting: the actor pool (and, with `--inference=learner`, the
    inference server) behind `next_batch` and `publish`."""

    def __init__(self, config: ImpalaConfig, spec, pool, learner: Learner, session):
        self.config, self.pool, self.learner, self.session = config, pool, learner, session
        self.server = None
        if config.inference == "learner":
            self.server = InferenceServer(pool, config.net, spec.num_actions, spec.obs_shape,
                                          config.precision, config.inference_timeout_ms / 1000)

    def publish(self) -> None:
        """The learner's weights, which the next unrolls are acted with."""
        version = self.learner.updates + 1
        if self.server is not None:
            self.server.set_weights(self.learner.weights(), version=version)
        else:
            self.pool.publish(self.learner.weights(), version=version)

    def _stop_waiting(self) -> bool:
        # One learner alone stops waiting for actors at once when asked to (frozen
        # actors must not hold up its checkpoint); workers stop together by vote.
        if self.server is not None:
            self.server.check()
        return self.config.worker.num_workers == 1 and self.session.stop_requested

    def next_batch(self):
        """(messages, batch): the next `config.local_batch_size` envs' unrolls, copied out
        of the channels' slots (which go back to their actors); None if the run was
        asked to stop while waiting."""
        try:
            messages = [self.pool.get(should_stop=self._stop_waiting)
                        for _ in range(self.config.messages_per_batch)]
        except StopWaiting:
            return None
        batch = concat_unrolls([m.unroll for m in messages])  # a copy: slots go back
        self.pool.release(messages)
        return messages, batch

    @contextlib.contextmanager
    def running(self):
        """Starts the actors (and the server), publishes the first weights; stops them at
        the end, whatever happened."""
        try:
            self.publish()
            self.pool.start()  # inside the try: actors started before a failed one stop
            if self.server is not None:
                self.server.start()
            config = self.config
            self.session.log(
                f"{config.num_actors} actors ({config.actor_backend}) x "
                f"{config.envs_per_actor} envs, inference on the "
                f"{'learner' if self.server else 'actors'}, batch {config.batch_size} x "
                f"{config.unroll_length}, net {config.net} "
                f"({self.learner.model.count_params():,} params), logs in "
                f"{self.session.run.root}")
            yield self
        finally:
            if self.server is not None:
                self.server.close()
            self.pool.close()


def learning_step(actors: Actors, learner: Learner, frames_per_update: int,
                  clock: TimeShares):
    """The loop's `step`: wait for a batch, one V-trace update, publish the new weights.
    `clock` splits the learner's time between the three."""

    def step() -> Update | None:
        got = actors.next_batch()
        clock.lap("wait")
        if got is None:
            return None
        messages, batch = got
        metrics = learner.update(batch)
        clock.lap("update")
        actors.publish()
        clock.lap("publish")
        if actors.server is not None:
            metrics["inference_batch_envs"] = actors.server.mean_batch_envs()
        metrics["policy_lag"] = learner.updates - float(
            np.mean([m.policy_version for m in messages]))
        metrics["actor_restarts"] = float(actors.pool.restarts)
        metrics.update(clock.shares())
        episodes = concat_episodes([m.episodes for m in messages])
        return Update(frames_per_update, episodes.returns, metrics, batch)

    return step


@contextlib.contextmanager
def workers_fail_together(session, worker):
    """With several learner workers, a lost worker fails every collective: the others
    keep their checkpoint and stop with one line instead of a TensorFlow trace."""
    try:
        yield
    except tf.errors.OpError as e:
        if worker.num_workers == 1:
            raise
        session.save_checkpoint()
        raise DrarlError(f"worker {worker.index}: lost the other workers ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]}); the last checkpoint is kept, "
                         "rerun every worker's command to resume") from None
