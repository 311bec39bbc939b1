"""Optimiser pieces shared by the trainers: the linear LR decay and clipped updates."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="drarl_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial * max(0, 1 - step / total_steps)`: the paper's linear decay to 0."""

    def __init__(self, initial: float, total_steps: int):
        self.initial = float(initial)
        self.total_steps = max(int(total_steps), 1)

    def __call__(self, step):
        fraction = tf.cast(step, tf.float32) / float(self.total_steps)
        return self.initial * tf.maximum(0.0, 1.0 - fraction)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps}


class LossScale:
    """Dynamic loss scaling for `mixed_float16`, whose float16 gradients underflow
    unscaled: the loss is multiplied by `scale` before differentiation and the
    gradients divided by it after. A step whose gradients overflow is skipped and
    halves the scale; `growth_interval` finite steps in a row double it. Disabled
    (every method the identity) for other precisions. Create it under the strategy's
    scope. The scale is not checkpointed: a resumed run starts again at `initial` and
    finds its level within a few skipped steps.
    """

    def __init__(self, precision: str, initial: float = 2.0**15, growth_interval: int = 2000):
        self.enabled = precision == "mixed_float16"
        self.growth_interval = growth_interval
        if self.enabled:
            self.scale = tf.Variable(initial, trainable=False, dtype=tf.float32,
                                     name="loss_scale")
            self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64,
                                          name="loss_scale_good_steps")

    def scale_loss(self, loss):
        return loss * self.scale if self.enabled else loss

    def unscale(self, grads):
        return [g / self.scale for g in grads] if self.enabled else grads

    def metrics(self, replicas: int = 1) -> dict:
        """{"loss_scale": ...} when enabled (divided by `replicas` for a SUM reduction)."""
        return {"loss_scale": self.scale / replicas} if self.enabled else {}

    def update(self, finite) -> tf.Tensor:
        """After a step (cross-replica context): adjusts the scale. Returns 1.0 if the
        non-finite gradients are an error (always without scaling; with it, only once
        the scale is down to 1), else 0.0."""
        if not self.enabled:
            return tf.where(finite, 0.0, 1.0)
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.growth_interval)
        self.scale.assign(tf.where(grow, self.scale * 2.0, tf.where(
            finite, self.scale, tf.maximum(self.scale / 2.0, 1.0))))
        self.good_steps.assign(tf.where(tf.logical_and(finite, tf.logical_not(grow)),
                                        self.good_steps + 1, 0))
        return tf.where(tf.logical_or(finite, self.scale > 1.0), 0.0, 1.0)


def apply_if_finite(optimizer, grads, variables, loss_scale: LossScale | None = None
                    ) -> tf.Tensor:
    """Applies `grads` if all are finite; else changes nothing (no weight, optimizer slot
    or step counter). Returns 1.0 for a skipped step that is an error (see
    `LossScale.update`; every skipped step without loss scaling), else 0.0.

    Works in any tf.distribute replica context: the decision is taken once, in the
    cross-replica context, since an optimizer step inside a `cond` in a replica
    context is not supported. `grads` must be identical on every replica (all-reduced).
    """
    finite = tf.math.is_finite(tf.linalg.global_norm(grads))

    def cross_replica(strategy, grads, finite):
        finite = strategy.experimental_local_results(finite)[0]

        def apply():
            strategy.extended.call_for_each_replica(
                lambda g: optimizer.apply_gradients(zip(g, variables, strict=True)),
                args=(grads,))
            return tf.constant(0.0)

        tf.cond(finite, apply, lambda: tf.constant(1.0))
        return (loss_scale or LossScale("float32")).update(finite)

    return tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, finite))


def apply_clipped_gradients(optimizer, grads, variables, max_norm: float,
                            loss_scale: LossScale | None = None):
    """Clips `grads` to global norm `max_norm` and applies them unless any is non-finite.

    Returns (the norm before clipping, 1.0 if the step was skipped as an error else 0.0).
    """
    clipped, norm = tf.clip_by_global_norm(grads, max_norm)
    return norm, apply_if_finite(optimizer, clipped, variables, loss_scale)
