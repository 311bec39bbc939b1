"""PPO (clipped surrogate, PPO2 of OpenAI baselines) with its Atari defaults."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from drarl_tf.bookkeeping.session import TrainResult
from drarl_tf.configs import PPOConfig
from drarl_tf.losses import gae_advantages, ppo_loss
from drarl_tf.training.learner import Learner
from drarl_tf.training.on_policy import train_on_policy
from drarl_tf.training.unroll import Unroll


def ppo_loss_fn(config: PPOConfig):
    """PPO's `loss_fn` on a minibatch (a dict of flat arrays, see `PPOLearner`)."""

    def loss_fn(model, mb):
        out = model(mb["obs"], training=True)
        loss = ppo_loss(out["policy_logits"], out["value"], mb["actions"], mb["old_log_probs"],
                        mb["old_values"], mb["advantages"], mb["returns"], mb["mask"],
                        config.clip_ratio, config.value_clip, config.value_coef,
                        config.entropy_coef)
        return loss.total, {"loss/policy": loss.policy, "loss/value": loss.value,
                            "entropy": loss.entropy, "clip_fraction": loss.clip_fraction,
                            "approx_kl": loss.approx_kl}

    return loss_fn


class PPOLearner(Learner):
    """GAE on the rollout, then `num_epochs` passes of `num_minibatches` Adam steps."""

    def __init__(self, config: PPOConfig, obs_shape, num_actions: int, frames_per_update: int,
                 seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.minibatch = M = config.unroll_length * config.num_envs // config.num_minibatches
        spec = dict(
            obs=tf.TensorSpec((M,) + tuple(obs_shape), tf.uint8),
            actions=tf.TensorSpec((M,), tf.int32),
            old_log_probs=tf.TensorSpec((M,), tf.float32),
            old_values=tf.TensorSpec((M,), tf.float32),
            advantages=tf.TensorSpec((M,), tf.float32),
            returns=tf.TensorSpec((M,), tf.float32),
            mask=tf.TensorSpec((M,), tf.float32),
        )
        super().__init__(
            config, obs_shape, num_actions, frames_per_update, loss_fn=ppo_loss_fn(config),
            batch_spec=spec, steps_per_update=config.num_epochs * config.num_minibatches)
        self._targets = tf.function(self._gae)

    def _gae(self, rewards, values, discounts, mask, behaviour_logits, actions):
        gae = gae_advantages(rewards, values[:-1], values[-1], discounts, mask,
                             self.config.gae_lambda)
        old_log_probs = tfp.distributions.Categorical(logits=behaviour_logits).log_prob(actions)
        return gae.advantages, gae.returns, old_log_probs

    def update(self, rollout: Unroll) -> dict[str, float]:
        """GAE targets, then every minibatch step; metrics averaged over the steps."""
        advantages, returns, old_log_probs = (x.numpy() for x in self._targets(
            rollout.rewards, rollout.values, rollout.discounts, rollout.mask,
            rollout.behaviour_logits, rollout.actions))
        flat = dict(
            obs=rollout.obs[:-1], actions=rollout.actions, old_log_probs=old_log_probs,
            old_values=rollout.values[:-1], advantages=advantages, returns=returns,
            mask=rollout.mask)
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in flat.items()}
        n = flat["actions"].shape[0]
        sums: dict = {}
        for _ in range(self.config.num_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, self.minibatch):
                idx = order[start : start + self.minibatch]
                for k, v in super().update({k: v[idx] for k, v in flat.items()}).items():
                    sums[k] = sums.get(k, 0.0) + v
        steps = self.config.num_epochs * self.config.num_minibatches
        metrics = {k: v / steps for k, v in sums.items()}
        metrics["learning_rate"] = float(self.optimizer.learning_rate)  # after the last step
        return metrics


def train(config: PPOConfig, env_fn=None) -> TrainResult:
    """Trains PPO until `config.total_frames`; resumes from the run directory's checkpoint."""
    from drarl_tf.viz.summaries import RunImages

    def make_learner(config, obs_shape, num_actions, frames_per_update):
        return PPOLearner(config, obs_shape, num_actions, frames_per_update, seed=config.seed)

    return train_on_policy("ppo", config, make_learner, env_fn, images=RunImages)
