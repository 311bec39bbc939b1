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


def apply_clipped_gradients(optimizer, grads, variables, max_norm: float) -> tf.Tensor:
    """Clips `grads` to global norm `max_norm`, applies them; returns the norm before clipping."""
    grads, norm = tf.clip_by_global_norm(grads, max_norm)
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return norm
