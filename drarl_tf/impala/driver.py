"""Wires IMPALA together: spawns actors, feeds the learner from the queue, logs, checkpoints."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_lib
import time

import numpy as np
import tensorflow as tf

from drarl_tf.envs import make_vector_env
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import UNROLL_KEYS, run_actor
from drarl_tf.impala.config import ImpalaConfig
from drarl_tf.impala.learner import Learner
from drarl_tf.impala.transport import SharedWeights
from drarl_tf.runtime.session import TrainingSession, TrainResult


class ActorPool:
    """Actor processes (start method spawn) feeding one bounded queue."""

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int):
        self.ctx = mp.get_context("spawn")
        self.queue = self.ctx.Queue(maxsize=config.queue_size)
        self.stop_event = self.ctx.Event()
        self.weights = SharedWeights(self.ctx, weights_shapes)
        self.processes = [
            self.ctx.Process(
                target=run_actor,
                args=(i, config, env_fn, self.queue, self.weights, self.stop_event,
                      seed * 1_000_003 + i),
                name=f"drarl-actor-{i}",
                daemon=True,
            )
            for i in range(config.num_actors)
        ]

    def start(self) -> None:
        for p in self.processes:
            p.start()

    def check_alive(self) -> None:
        for i, p in enumerate(self.processes):
            if not p.is_alive():
                raise DrarlError(
                    f"actor {i} died (exit code {p.exitcode}); any error it printed is above; "
                    "the last checkpoint is kept, rerun the command to resume"
                )

    def get(self, timeout: float = 0.5) -> dict:
        """Next unroll; raises DrarlError as soon as an actor has died."""
        while True:
            self.check_alive()
            try:
                return self.queue.get(timeout=timeout)
            except queue_lib.Empty:
                continue

    def close(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        # Drain so that actors blocked in put() can see the stop event and exit.
        while any(p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            with contextlib.suppress(queue_lib.Empty, OSError, EOFError):
                self.queue.get(timeout=0.05)
        for p in self.processes:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        self.queue.cancel_join_thread()
        self.queue.close()


def _assemble(items: list[dict]) -> dict:
    return {k: np.concatenate([it[k] for it in items], axis=1) for k in UNROLL_KEYS}


def train(config: ImpalaConfig, env_fn=None) -> TrainResult:
    """Trains IMPALA until `config.total_frames`; resumes from the run directory's checkpoint.

    Args:
      config: the run's settings (paper defaults).
      env_fn: optional picklable `f(num_envs) -> VecEnv` for a custom environment
        (e.g. `GymnasiumVecEnv(my_gym_vector_env)`); by default `config.game`.
    """
    probe = env_fn(1) if env_fn is not None else make_vector_env(config.game, 1)
    probe.close()
    obs_shape, num_actions, frames_per_step = probe.obs_shape, probe.num_actions, probe.frames_per_step
    frames_per_update = config.batch_size * config.unroll_length * frames_per_step

    tf.keras.utils.set_random_seed(config.seed)
    learner = Learner(config, obs_shape, num_actions, frames_per_update)
    session = TrainingSession("impala", config, probe, learner.model, learner.optimizer)
    if session.finished:
        session.log(f"already finished ({session.start_frames:,} frames)")
        return session.close()

    # Actor seeds depend on where the run resumes, so a resumed run is reproducible too.
    pool = ActorPool(config, env_fn, [w.shape for w in learner.weights()],
                     seed=config.seed + 7919 * (session.start_frames // frames_per_update))
    pool.weights.publish(learner.weights(), version=learner.updates + 1)
    pool.start()
    session.log(f"{config.num_actors} actors x {config.envs_per_actor} envs, batch "
                f"{config.batch_size} x {config.unroll_length}, net {config.net} "
                f"({learner.model.count_params():,} params), logs in {session.run.root}")
    try:
        with session.stop_on_interrupt():
            while not session.finished:
                items = [pool.get() for _ in range(config.messages_per_batch)]
                metrics = learner.update(_assemble(items))
                pool.weights.publish(learner.weights(), version=learner.updates + 1)
                metrics["policy_lag"] = learner.updates - float(
                    np.mean([it["policy_version"] for it in items]))
                returns = np.concatenate([it["episode_returns"] for it in items])
                session.record(frames_per_update, returns, metrics, obs=items[0]["obs"][0])
    finally:
        session.stop_clock()
        pool.close()
    return session.close()
