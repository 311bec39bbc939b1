"""The learner skeleton every trainer shares: model, optimizer, schedule and one gradient step.

An algorithm supplies only its loss, as `loss_fn(model, batch) -> (loss, metrics)`
(the loss a scalar tensor, `metrics` a dict of scalar tensors), and its config.
`Learner` builds from the config the network and the optimiser the config names
(`optim.make_optimizer`) with the linear decay to 0 (`LinearDecay`), scales the
loss for float16, compiles the
forward and backward pass with XLA on request, clips the gradients to a global norm
and applies them only if every weight stays finite (`apply_if_finite`).

Metric names are the same in every trainer: `loss/total`, `loss/policy`,
`loss/value`, `entropy` (the mean entropy of the policy over real steps: a bonus,
higher is more random), `grad_norm` (before clipping), `nonfinite` (1 for a
skipped step), `learning_rate`, and `loss_scale` with float16. The `loss/*` values
are what each algorithm optimises, so their scale differs: IMPALA's are sums over
the batch's steps (as in the original implementation), A2C's and PPO's means.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from drarl_tf.networks import build_network
from drarl_tf.training.hardware import resolve_precision
from drarl_tf.training.optim import LinearDecay, LossScale, apply_if_finite, make_optimizer

LossFn = Callable[[object, object], tuple[tf.Tensor, dict]]


def total_steps(total_frames: int, frames_per_update: int, steps_per_update: int = 1) -> int:
    """Optimizer steps in a run of `total_frames`: what the learning rate decays over."""
    return -(-total_frames // frames_per_update) * steps_per_update


class Learner:
    """Owns the model and its optimizer; `update(batch)` applies one gradient step.

    Everything but the loss comes from `config`, here and only here: the network
    (`net`, `precision`), the optimiser (`make_optimizer`: `config.OPTIMIZER` and its
    settings), the linear decay of `learning_rate` to 0 over the run's optimiser steps,
    the global-norm clip `max_grad_norm` and `xla`.

    Args:
      config: a trainer's config.
      obs_shape, num_actions: the network's input and number of actions.
      frames_per_update: env frames per `update` call; with `steps_per_update` (optimiser
        steps per call) it gives the steps the learning rate decays over.
      loss_fn: `f(model, batch) -> (loss, metrics)`, traced inside the step.
      batch_spec: the step's input signature (a structure of `tf.TensorSpec`): the
        step is traced once.
      strategy: the tf.distribute strategy whose scope holds the variables (default:
        the current one). `update` runs the step on one replica; a subclass that
        spreads a batch over replicas overrides `_step` and calls `replica_step`
        in each (gradients are then summed over the replicas).
    """

    def __init__(self, config, obs_shape, num_actions: int, frames_per_update: int, *,
                 loss_fn: LossFn, batch_spec, steps_per_update: int = 1,
                 strategy: tf.distribute.Strategy | None = None):
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.loss_fn = loss_fn
        self.max_grad_norm = config.max_grad_norm
        self.trace_count = 0  # how often the step was traced (once, with a fixed signature)
        decay_steps = total_steps(config.total_frames, frames_per_update, steps_per_update)
        precision = resolve_precision(config.precision)  # "auto": this machine's
        with self.strategy.scope():
            self.model = build_network(config.net, num_actions, obs_shape, precision=precision)
            self.optimizer = make_optimizer(config, LinearDecay(config.learning_rate,
                                                                decay_steps))
            self.optimizer.build(self.model.trainable_variables)
            self.loss_scale = LossScale(precision)  # mixed_float16 only
        self._gradients = (tf.function(self._gradients_fn, jit_compile=True) if config.xla
                           else self._gradients_fn)
        self._compiled_step = tf.function(self._traced_step, input_signature=[batch_spec])

    @property
    def updates(self) -> int:
        """Optimizer steps taken (restored with the checkpoint)."""
        return int(self.optimizer.iterations.numpy())

    def weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def _gradients_fn(self, batch):
        """Forward pass, loss and gradients (XLA-compiled with `xla`)."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss, metrics = self.loss_fn(self.model, batch)
            scaled = self.loss_scale.scale_loss(loss)  # on the tape
        grads = self.loss_scale.unscale(tape.gradient(scaled, variables))
        return {"loss/total": loss, **metrics}, grads

    def replica_step(self, batch) -> dict:
        """One step in a replica context: the gradients are summed over the replicas,
        clipped, and applied if finite. Returns this replica's metrics."""
        metrics, grads = self._gradients(batch)
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        if replicas > 1:
            # Each replica's loss covers its share of the batch, so the global gradient
            # is the sum over replicas; clip that, then hand each replica 1/n of it,
            # since the optimizer sums the replicas' updates again.
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, grad_norm = tf.clip_by_global_norm(grads, self.max_grad_norm)
        if replicas > 1:
            grads = [g / replicas for g in grads]
        skipped = apply_if_finite(self.optimizer, grads, self.model.trainable_variables,
                                  self.loss_scale)
        return {**metrics, **self.loss_scale.metrics(), "grad_norm": grad_norm,
                "nonfinite": skipped}

    def _step(self, batch) -> dict:
        return self.replica_step(batch)

    def _traced_step(self, batch):
        self.trace_count += 1  # a Python side effect: runs once per trace
        return {**self._step(batch), "learning_rate": self.optimizer.learning_rate}

    def update(self, batch) -> dict[str, float]:
        """One step on a numpy batch (the structure of `batch_spec`); float metrics."""
        return {k: float(v) for k, v in self._compiled_step(batch).items()}


def flatten_time(x: tf.Tensor) -> tf.Tensor:
    """`[T, N, ...]` -> `[T * N, ...]`."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


def evaluate_unroll(model, obs: tf.Tensor):
    """The model on time-major observations `[T, N, ...]`: (logits `[T, N, A]`, values
    `[T, N]`), as one batch of `T * N`."""
    T, N = tf.shape(obs)[0], tf.shape(obs)[1]
    out = model(flatten_time(obs), training=True)
    return (tf.reshape(out["policy_logits"], [T, N, -1]),
            tf.reshape(out["value"], [T, N]))
