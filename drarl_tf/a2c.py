"""A2C (synchronous advantage actor-critic) with OpenAI baselines' Atari defaults."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from drarl_tf.configs import A2CConfig
from drarl_tf.losses import a2c_loss, gae_advantages
from drarl_tf.networks import build_network
from drarl_tf.runtime.on_policy import train_on_policy
from drarl_tf.runtime.optim import LinearDecay, LossScale, apply_clipped_gradients
from drarl_tf.runtime.session import TrainResult


class A2CLearner:
    """One RMSProp step per rollout on the n-step-return actor-critic loss."""

    def __init__(self, config: A2CConfig, obs_shape, num_actions: int, frames_per_update: int):
        self.config = config
        self.model = build_network(config.net, num_actions, obs_shape, precision=config.precision)
        total_updates = -(-config.total_frames // frames_per_update)
        self.optimizer = keras.optimizers.RMSprop(
            learning_rate=LinearDecay(config.learning_rate, total_updates),
            rho=config.rmsprop_decay, epsilon=config.rmsprop_epsilon)
        self.optimizer.build(self.model.trainable_variables)
        self.loss_scale = LossScale(config.precision)  # mixed_float16 only
        T, N = config.unroll_length, config.num_envs
        spec = dict(
            obs=tf.TensorSpec((T + 1, N) + tuple(obs_shape), tf.uint8),
            values=tf.TensorSpec((T + 1, N), tf.float32),
            actions=tf.TensorSpec((T, N), tf.int32),
            rewards=tf.TensorSpec((T, N), tf.float32),
            discounts=tf.TensorSpec((T, N), tf.float32),
            mask=tf.TensorSpec((T, N), tf.float32),
        )
        self._keys = tuple(spec)
        self._update = tf.function(self._step, input_signature=[spec])
        self._loss_and_grads = (tf.function(self._loss_and_grads_fn, jit_compile=True)
                                if config.xla else self._loss_and_grads_fn)

    def _loss_and_grads_fn(self, batch):
        """n-step returns, forward pass, loss and gradients (XLA-compiled with `--xla`)."""
        cfg = self.config
        # lambda = 1: the n-step returns, bootstrapped from V(x_T) (baselines' A2C).
        returns = gae_advantages(batch["rewards"], batch["values"][:-1], batch["values"][-1],
                                 batch["discounts"], batch["mask"], lambda_=1.0).returns
        obs = batch["obs"][:-1]
        flat = lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))  # noqa: E731
        with tf.GradientTape() as tape:
            out = self.model(flat(obs), training=True)
            loss = a2c_loss(out["policy_logits"], out["value"], flat(batch["actions"]),
                            flat(returns), flat(batch["mask"]), cfg.value_coef, cfg.entropy_coef)
            scaled = self.loss_scale.scale_loss(loss.total)  # on the tape
        grads = self.loss_scale.unscale(tape.gradient(scaled, self.model.trainable_variables))
        return {"loss/total": loss.total, "loss/policy": loss.policy, "loss/value": loss.value,
                "entropy": loss.entropy}, grads

    def _step(self, batch):
        losses, grads = self._loss_and_grads(batch)
        norm, skipped = apply_clipped_gradients(self.optimizer, grads,
                                                self.model.trainable_variables,
                                                self.config.max_grad_norm, self.loss_scale)
        return {**losses, **self.loss_scale.metrics(), "grad_norm": norm, "nonfinite": skipped,
                "learning_rate": self.optimizer.learning_rate}

    def update(self, rollout: dict) -> dict:
        out = self._update({k: rollout[k] for k in self._keys})
        return {k: float(np.asarray(v)) for k, v in out.items()}


def train(config: A2CConfig, env_fn=None) -> TrainResult:
    """Trains A2C until `config.total_frames`; resumes from the run directory's checkpoint."""
    return train_on_policy(
        "a2c", config, lambda obs_shape, num_actions, fpu: A2CLearner(config, obs_shape,
                                                                     num_actions, fpu),
        env_fn)
