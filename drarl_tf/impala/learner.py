"""IMPALA learner: the V-trace update on batches of unrolls, under a tf.distribute strategy."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from drarl_tf.configs import ImpalaConfig
from drarl_tf.losses import impala_loss
from drarl_tf.networks import build_network
from drarl_tf.runtime.optim import LinearDecay, LossScale, apply_if_finite


def make_strategy(name: str, collective_timeout_seconds: float = 600.0
                  ) -> tf.distribute.Strategy:
    """`default`: one device (the first GPU, else the CPU). `mirrored`: all local GPUs
    (or every logical CPU device when there is no GPU). `multi_worker`: the machines of
    TF_CONFIG (see drarl_tf.impala.cluster), each with its local GPUs or its CPU."""
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


def batch_spec(config: ImpalaConfig, obs_shape, num_actions) -> dict:
    """This worker's share of a batch (all of it unless multi_worker)."""
    T, B = config.unroll_length, config.local_batch_size
    return dict(
        obs=tf.TensorSpec((T + 1, B) + tuple(obs_shape), tf.uint8),
        actions=tf.TensorSpec((T, B), tf.int32),
        behaviour_logits=tf.TensorSpec((T, B, num_actions), tf.float32),
        rewards=tf.TensorSpec((T, B), tf.float32),
        discounts=tf.TensorSpec((T, B), tf.float32),
        mask=tf.TensorSpec((T, B), tf.float32),
    )


class Learner:
    """Owns the model and optimizer; `update(batch)` applies one V-trace step.

    `batch` arrays are time-major `[T(+1), B, ...]` (see `batch_spec`). The update
    is a `tf.function` with a fixed input signature, traced once.
    """

    def __init__(self, config: ImpalaConfig, obs_shape, num_actions: int, frames_per_update: int,
                 strategy: tf.distribute.Strategy | None = None):
        self.config = config
        self.strategy = strategy or make_strategy(config.strategy,
                                                  config.collective_timeout_seconds)
        self.trace_count = 0
        self._vote = None  # any_worker's traced all-reduce
        total_updates = -(-config.total_frames // frames_per_update)
        with self.strategy.scope():
            self.model = build_network(config.net, num_actions, obs_shape,
                                       precision=config.precision)
            self.optimizer = keras.optimizers.RMSprop(
                learning_rate=LinearDecay(config.learning_rate, total_updates),
                rho=config.rmsprop_decay,
                momentum=config.rmsprop_momentum,
                epsilon=config.rmsprop_epsilon,
            )
            self.optimizer.build(self.model.trainable_variables)
            self.loss_scale = LossScale(config.precision)  # mixed_float16 only
        self._spec = batch_spec(config, obs_shape, num_actions)
        self._update = tf.function(self._distributed_update, input_signature=[self._spec])
        self._loss_and_grads = (tf.function(self._loss_and_grads_fn, jit_compile=True)
                                if config.xla else self._loss_and_grads_fn)

    @property
    def updates(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def _loss_and_grads_fn(self, batch):
        """Forward pass, V-trace loss and gradients (XLA-compiled with `--xla`)."""
        cfg = self.config
        T1, B = tf.shape(batch["obs"])[0], tf.shape(batch["obs"])[1]
        with tf.GradientTape() as tape:
            flat_obs = tf.reshape(batch["obs"], tf.concat([[T1 * B], tf.shape(batch["obs"])[2:]], 0))
            out = self.model(flat_obs, training=True)
            logits = tf.reshape(out["policy_logits"], [T1, B, -1])
            values = tf.reshape(out["value"], [T1, B])
            loss = impala_loss(
                logits=logits[:-1], values=values[:-1], bootstrap_value=values[-1],
                actions=batch["actions"], behaviour_logits=batch["behaviour_logits"],
                rewards=batch["rewards"], discounts=batch["discounts"], mask=batch["mask"],
                baseline_cost=cfg.baseline_cost, entropy_cost=cfg.entropy_cost,
                clip_rho_threshold=cfg.clip_rho_threshold, clip_c_threshold=cfg.clip_c_threshold,
            )
            scaled = self.loss_scale.scale_loss(loss.total)  # on the tape
        grads = self.loss_scale.unscale(tape.gradient(scaled, self.model.trainable_variables))
        losses = {"loss/total": loss.total, "loss/policy": loss.policy,
                  "loss/baseline": loss.baseline, "loss/entropy": loss.entropy}
        return losses, grads

    def _replica_update(self, batch):
        cfg = self.config
        losses, grads = self._loss_and_grads(batch)
        variables = self.model.trainable_variables
        context = tf.distribute.get_replica_context()
        # The losses are sums over the batch, so the global gradient is the sum over
        # replicas; clip that, then hand each replica 1/n of it, since Keras sums again.
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, grad_norm = tf.clip_by_global_norm(grads, cfg.max_grad_norm)
        n = tf.cast(context.num_replicas_in_sync, tf.float32)
        skipped = apply_if_finite(self.optimizer, [g / n for g in grads], variables,
                                  self.loss_scale)
        return {**losses, **self.loss_scale.metrics(n), "grad_norm": grad_norm / n,
                "nonfinite": skipped / n}

    def _distributed_update(self, batch):
        self.trace_count += 1  # Python side effect: runs once per trace
        worker = self.config.worker
        local_replicas = self.strategy.num_replicas_in_sync // worker.num_workers
        per_replica = self.config.local_batch_size // local_replicas

        def split(ctx):
            local_id = ctx.replica_id_in_sync_group - worker.index * local_replicas
            start = local_id * per_replica
            return {k: v[:, start : start + per_replica] for k, v in batch.items()}

        local = self.strategy.experimental_distribute_values_from_function(split)
        metrics = self.strategy.run(self._replica_update, args=(local,))
        out = {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
               for k, v in metrics.items()}
        out["learning_rate"] = self.optimizer.learning_rate
        return out

    def update(self, batch: dict) -> dict:
        """One update on a numpy batch; returns float metrics."""
        tensors = {k: batch[k] for k in self._spec}
        return {k: float(v) for k, v in self._update(tensors).items()}

    def weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

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
