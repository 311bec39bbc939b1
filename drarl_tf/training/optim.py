"""Optimiser pieces shared by the trainers: the linear LR decay, loss scaling, finite steps."""

from __future__ import annotations

import keras
import tensorflow as tf


def make_optimizer(config, learning_rate) -> keras.optimizers.Optimizer:
    """The optimiser a trainer's config names (`config.OPTIMIZER`), with its settings:
    RMSProp (`rmsprop_decay`, `rmsprop_epsilon`, `rmsprop_momentum` if declared) or Adam
    (`adam_epsilon`); `learning_rate` is a schedule or a number."""
    if config.OPTIMIZER == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, epsilon=config.adam_epsilon)
    if config.OPTIMIZER == "rmsprop":
        return keras.optimizers.RMSprop(
            learning_rate=learning_rate, rho=config.rmsprop_decay,
            momentum=getattr(config, "rmsprop_momentum", 0.0), epsilon=config.rmsprop_epsilon)
    raise ValueError(f"unknown optimizer {config.OPTIMIZER!r}")


@keras.saving.register_keras_serializable(package="drarl_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial * max(0, 1 - step / total_steps)`: the paper's linear decay to 0.

    In general `value * max(0, 1 - (step - anchor) / (end - anchor))` with the anchor,
    its value and the end in `state` (checkpointed with the run): at first 0, `initial`
    and `total_steps`. A run resumed with another total (a raised `--total_frames`)
    calls `rebase`: the rate then goes on linearly from where it is to 0 at the new
    end, without a jump.
    """

    def __init__(self, initial: float, total_steps: int):
        self.initial = float(initial)
        self.total_steps = max(int(total_steps), 1)
        self.state = tf.Module(name="lr_schedule")
        self.state.anchor_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name="anchor_step")
        self.state.anchor_value = tf.Variable(self.initial, dtype=tf.float32, trainable=False,
                                              name="anchor_value")
        self.state.end_step = tf.Variable(self.total_steps, dtype=tf.int64, trainable=False,
                                          name="end_step")

    def __call__(self, step):
        anchor = tf.cast(self.state.anchor_step, tf.float32)
        span = tf.maximum(tf.cast(self.state.end_step, tf.float32) - anchor, 1.0)
        fraction = (tf.cast(step, tf.float32) - anchor) / span
        return self.state.anchor_value * tf.maximum(0.0, 1.0 - fraction)

    def rebase(self, step: int) -> float | None:
        """After a restore: if the restored end is not `total_steps`, continue from the
        rate at `step` linearly to 0 at `total_steps`. Returns that rate, or None when
        nothing changed."""
        if int(self.state.end_step.numpy()) == self.total_steps:
            return None
        current = float(self(step))
        self.state.anchor_value.assign(current)
        self.state.anchor_step.assign(int(step))
        self.state.end_step.assign(self.total_steps)
        return current

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

    def metrics(self) -> dict:
        """{"loss_scale": ...} when enabled."""
        return {"loss_scale": self.scale} if self.enabled else {}

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
    """Applies `grads` if all are finite and the step leaves every weight and optimizer
    slot finite; else changes nothing (no weight, optimizer slot or step counter).
    Returns 1.0 for a skipped step that is an error (non-finite weights after the step,
    or non-finite gradients: see `LossScale.update`), else 0.0.

    Finite gradients can still make non-finite weights (an infinite learning rate, an
    RMSProp decay above 1): the step is taken, checked, and undone from a copy taken
    before it, so that no such weight is ever trained on, checkpointed or exported.

    Works in any tf.distribute replica context: the decision is taken once, in the
    cross-replica context, since an optimizer step inside a `cond` in a replica
    context is not supported. `grads` must be identical on every replica (all-reduced).
    The optimizer must be built (`optimizer.build(variables)`).
    """
    finite = tf.math.is_finite(tf.linalg.global_norm(grads))
    state = list(variables) + [v for v in optimizer.variables
                               if not any(v is w for w in variables)]

    def cross_replica(strategy, grads, finite):
        finite = strategy.experimental_local_results(finite)[0]

        def apply():
            before = [tf.identity(v) for v in state]
            strategy.extended.call_for_each_replica(
                lambda g: optimizer.apply_gradients(zip(g, variables, strict=True)),
                args=(grads,))
            healthy = all_finite(state)

            def undo():
                for v, value in zip(state, before, strict=True):
                    v.assign(value)
                return tf.constant(False)

            return tf.cond(healthy, lambda: tf.constant(True), undo)

        kept = tf.cond(finite, apply, lambda: tf.constant(False))
        error = (loss_scale or LossScale("float32")).update(finite)
        return tf.where(tf.logical_and(finite, tf.logical_not(kept)), 1.0, error)

    return tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, finite))


def all_finite(variables) -> tf.Tensor:
    """True if every floating-point value of `variables` is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))
              for v in variables if tf.as_dtype(v.dtype).is_floating]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)

