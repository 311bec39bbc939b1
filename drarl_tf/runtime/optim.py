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


def apply_if_finite(optimizer, grads, variables) -> tf.Tensor:
    """Applies `grads` if all are finite; else changes nothing (no weight, optimizer slot
    or step counter). Returns 1.0 for a skipped step, else 0.0.

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

        return tf.cond(finite, apply, lambda: tf.constant(1.0))

    return tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, finite))


def apply_clipped_gradients(optimizer, grads, variables, max_norm: float):
    """Clips `grads` to global norm `max_norm` and applies them unless any is non-finite.

    Returns (the norm before clipping, 1.0 if the step was skipped else 0.0).
    """
    clipped, norm = tf.clip_by_global_norm(grads, max_norm)
    return norm, apply_if_finite(optimizer, clipped, variables)
