"""IMPALA learner: the V-trace update on batches of unrolls, under a tf.distribute strategy."""

from __future__ import annotations

import tensorflow as tf

from drarl_tf.configs import ImpalaConfig
from drarl_tf.losses import impala_loss
from drarl_tf.training.learner import Learner as LearnerBase
from drarl_tf.training.learner import evaluate_unroll
from drarl_tf.training.unroll import Unroll, slice_envs, unroll_spec


def make_strategy(name: str, collective_timeout_seconds: float = 600.0
                  ) -> tf.distribute.Strategy:
    """`default`: one device (the first GPU, else the CPU). `mirrored`: all local GPUs
    (or every logical CPU device when there is no GPU). `multi_worker`: the machines of
    TF_CONFIG (see drarl_tf.cluster), each with its local GPUs or its CPU."""
    if name == "multi_worker":  # TF_CONFIG was checked by ImpalaConfig (config.worker)
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=collective_timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def vtrace_loss_fn(config: ImpalaConfig):
    """IMPALA's `loss_fn`: the V-trace actor-critic loss on a time-major `Unroll`
    (sums over time and batch, as in the original implementation)."""

    def loss_fn(model, batch: Unroll):
        logits, values = evaluate_unroll(model, batch.obs)
        loss = impala_loss(
            logits=logits[:-1], values=values[:-1], bootstrap_value=values[-1],
            actions=batch.actions, behaviour_logits=batch.behaviour_logits,
            rewards=batch.rewards, discounts=batch.discounts, mask=batch.mask,
            baseline_cost=config.baseline_cost, entropy_cost=config.entropy_cost,
            clip_rho_threshold=config.clip_rho_threshold,
            clip_c_threshold=config.clip_c_threshold,
        )
        steps = tf.maximum(tf.reduce_sum(tf.cast(batch.mask, tf.float32)), 1.0)
        # The loss's entropy term is minus the summed entropy; report the mean entropy.
        return loss.total, {"loss/policy": loss.policy, "loss/value": loss.baseline,
                            "entropy": -loss.entropy / steps}

    return loss_fn


class Learner(LearnerBase):
    """The V-trace learner: RMSProp on `vtrace_loss_fn`, each batch spread over the
    strategy's replicas (and, with `multi_worker`, over machines).

    `update(batch)` takes this worker's share of a batch: an `Unroll` of
    `config.local_batch_size` envs, traced once.
    """

    def __init__(self, config: ImpalaConfig, obs_shape, num_actions: int, frames_per_update: int,
                 strategy: tf.distribute.Strategy | None = None):
        self._vote = None  # any_worker's traced all-reduce
        super().__init__(
            config, obs_shape, num_actions, frames_per_update, loss_fn=vtrace_loss_fn(config),
            batch_spec=unroll_spec(config.unroll_length, config.local_batch_size, obs_shape,
                                   num_actions),
            strategy=strategy or make_strategy(config.strategy,
                                               config.collective_timeout_seconds))

    def _step(self, batch: Unroll) -> dict:
        worker = self.config.worker
        local_replicas = self.strategy.num_replicas_in_sync // worker.num_workers
        per_replica = self.config.local_batch_size // local_replicas

        def split(ctx):
            start = (ctx.replica_id_in_sync_group - worker.index * local_replicas) * per_replica
            return slice_envs(batch, start, start + per_replica)

        local = self.strategy.experimental_distribute_values_from_function(split)
        metrics = self.strategy.run(self.replica_step, args=(local,))
        # Losses are sums over each replica's share; every other metric is a mean or
        # the same on every replica.
        return {k: self.strategy.reduce(
            tf.distribute.ReduceOp.SUM if k.startswith("loss/") else tf.distribute.ReduceOp.MEAN,
            v, axis=None) for k, v in metrics.items()}

    def broadcast_from_chief(self, extra_variables=()) -> None:
        """Gives every worker the chief's model, optimizer state and `extra_variables`
        (e.g. the run's frame counter), after the chief alone restored a checkpoint.
        A collective: every worker must call it. Nothing to do on one worker."""
        if self.config.worker.num_workers == 1:
            return
        chief = 1 if self.config.worker.is_chief else 0
        # Each local replica adds the same value: divide by the chief's replica count.
        local = self.strategy.num_replicas_in_sync // self.config.worker.num_workers
        variables = list(self.model.variables) + list(self.optimizer.variables) + list(
            extra_variables)

        def sums():  # traced: eager reductions leave a thread pool behind if one fails
            return [self._sum_over_replicas(
                tf.convert_to_tensor(v) * tf.cast(chief, tf.as_dtype(v.dtype)))
                for v in variables]

        for v, total in zip(variables, tf.function(sums)(), strict=True):
            v.assign(total / local if tf.as_dtype(v.dtype).is_floating else total // local)

    def _sum_over_replicas(self, value):
        return self.strategy.reduce(
            tf.distribute.ReduceOp.SUM, self.strategy.run(tf.identity, args=(value,)), axis=None)

    def any_worker(self, flag: bool) -> bool:
        """True on every worker if `flag` is true on any (e.g. a stop request); a
        collective, called by every worker once per update."""
        if self.config.worker.num_workers == 1:
            return bool(flag)
        if self._vote is None:
            self._vote = tf.function(self._sum_over_replicas)
        return bool(self._vote(tf.constant(1.0 if flag else 0.0)).numpy() > 0)
