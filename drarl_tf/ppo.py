"""PPO (clipped surrogate, PPO2 of OpenAI baselines) with its Atari defaults."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from drarl_tf.configs import PPOConfig
from drarl_tf.losses import gae_advantages, ppo_loss
from drarl_tf.networks import build_network
from drarl_tf.runtime.on_policy import train_on_policy
from drarl_tf.runtime.optim import LinearDecay, LossScale, apply_clipped_gradients
from drarl_tf.runtime.session import TrainResult


class PPOLearner:
    """GAE on the rollout, then `num_epochs` passes of `num_minibatches` Adam steps."""

    def __init__(self, config: PPOConfig, obs_shape, num_actions: int, frames_per_update: int,
                 seed: int = 0):
        self.config = config
        self.model = build_network(config.net, num_actions, obs_shape, precision=config.precision)
        rollouts = -(-config.total_frames // frames_per_update)
        total_steps = rollouts * config.num_epochs * config.num_minibatches
        self.optimizer = keras.optimizers.Adam(
            learning_rate=LinearDecay(config.learning_rate, total_steps),
            epsilon=config.adam_epsilon)
        self.optimizer.build(self.model.trainable_variables)
        self.loss_scale = LossScale(config.precision)  # mixed_float16 only
        self.rng = np.random.default_rng(seed)
        T, N = config.unroll_length, config.num_envs
        self.minibatch = T * N // config.num_minibatches
        M = self.minibatch
        self._mb_spec = dict(
            obs=tf.TensorSpec((M,) + tuple(obs_shape), tf.uint8),
            actions=tf.TensorSpec((M,), tf.int32),
            old_log_probs=tf.TensorSpec((M,), tf.float32),
            old_values=tf.TensorSpec((M,), tf.float32),
            advantages=tf.TensorSpec((M,), tf.float32),
            returns=tf.TensorSpec((M,), tf.float32),
            mask=tf.TensorSpec((M,), tf.float32),
        )
        self._minibatch_step = tf.function(self._step, input_signature=[self._mb_spec])
        self._loss_and_grads = (tf.function(self._loss_and_grads_fn, jit_compile=True)
                                if config.xla else self._loss_and_grads_fn)
        self._targets = tf.function(self._gae)

    def _gae(self, rewards, values, discounts, mask, behaviour_logits, actions):
        gae = gae_advantages(rewards, values[:-1], values[-1], discounts, mask,
                             self.config.gae_lambda)
        old_log_probs = tfp.distributions.Categorical(logits=behaviour_logits).log_prob(actions)
        return gae.advantages, gae.returns, old_log_probs

    def _loss_and_grads_fn(self, mb):
        """Forward pass, PPO loss and gradients (XLA-compiled with `--xla`)."""
        cfg = self.config
        with tf.GradientTape() as tape:
            out = self.model(mb["obs"], training=True)
            loss = ppo_loss(out["policy_logits"], out["value"], mb["actions"],
                            mb["old_log_probs"], mb["old_values"], mb["advantages"],
                            mb["returns"], mb["mask"], cfg.clip_ratio, cfg.value_clip,
                            cfg.value_coef, cfg.entropy_coef)
            scaled = self.loss_scale.scale_loss(loss.total)  # on the tape
        grads = self.loss_scale.unscale(tape.gradient(scaled, self.model.trainable_variables))
        return {"loss/total": loss.total, "loss/policy": loss.policy, "loss/value": loss.value,
                "entropy": loss.entropy, "clip_fraction": loss.clip_fraction,
                "approx_kl": loss.approx_kl}, grads

    def _step(self, mb):
        losses, grads = self._loss_and_grads(mb)
        norm, skipped = apply_clipped_gradients(self.optimizer, grads,
                                                self.model.trainable_variables,
                                                self.config.max_grad_norm, self.loss_scale)
        return {**losses, **self.loss_scale.metrics(), "grad_norm": norm, "nonfinite": skipped}

    def update(self, rollout: dict) -> dict:
        advantages, returns, old_log_probs = (x.numpy() for x in self._targets(
            rollout["rewards"], rollout["values"], rollout["discounts"], rollout["mask"],
            rollout["behaviour_logits"], rollout["actions"]))
        flat = dict(
            obs=rollout["obs"][:-1], actions=rollout["actions"], old_log_probs=old_log_probs,
            old_values=rollout["values"][:-1], advantages=advantages, returns=returns,
            mask=rollout["mask"])
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in flat.items()}
        n = flat["actions"].shape[0]
        sums: dict = {}
        for _ in range(self.config.num_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, self.minibatch):
                idx = order[start : start + self.minibatch]
                out = self._minibatch_step({k: v[idx] for k, v in flat.items()})
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        steps = self.config.num_epochs * self.config.num_minibatches
        metrics = {k: v / steps for k, v in sums.items()}
        metrics["learning_rate"] = float(self.optimizer.learning_rate)
        return metrics


def train(config: PPOConfig, env_fn=None) -> TrainResult:
    """Trains PPO until `config.total_frames`; resumes from the run directory's checkpoint."""
    return train_on_policy(
        "ppo", config, lambda obs_shape, num_actions, fpu: PPOLearner(
            config, obs_shape, num_actions, fpu, seed=config.seed), env_fn)
