"""A2C and PPO losses (the paper's eq. 6-7 and 11-12), as in OpenAI baselines."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
import tensorflow_probability as tfp


class ActorCriticLoss(NamedTuple):
    total: tf.Tensor
    policy: tf.Tensor
    value: tf.Tensor
    entropy: tf.Tensor  # mean entropy (a bonus: subtracted in total)
    clip_fraction: tf.Tensor  # PPO: share of samples whose ratio was clipped (0 for A2C)
    approx_kl: tf.Tensor  # PPO: mean(old log pi - new log pi) (0 for A2C)


def _float32(*tensors):
    return [tf.cast(t, tf.float32) for t in tensors]


def masked_mean(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of `x` over the entries where `mask` is 1."""
    mask = tf.cast(mask, x.dtype)
    return tf.reduce_sum(mask * x) / tf.maximum(tf.reduce_sum(mask), 1.0)


def a2c_loss(logits, values, actions, returns, mask, value_coef: float = 0.5,
             entropy_coef: float = 0.01) -> ActorCriticLoss:
    """A2C: -mean(A log pi(a|x)) + value_coef * mean((R - V)^2) - entropy_coef * mean(H),
    with A = R - V (no gradient through A); baselines' A2C uses a plain squared error.

    All inputs are flat `[N]` (`logits` `[N, A]`); `mask` 0 drops autoreset steps.
    """
    logits, values, returns, mask = _float32(logits, values, returns, mask)
    pi = tfp.distributions.Categorical(logits=logits)
    advantages = tf.stop_gradient(returns - values)
    policy = masked_mean(-advantages * pi.log_prob(actions), mask)
    value = masked_mean(tf.square(returns - values), mask)
    entropy = masked_mean(pi.entropy(), mask)
    total = policy + value_coef * value - entropy_coef * entropy
    zero = tf.zeros([], tf.float32)
    return ActorCriticLoss(total, policy, value, entropy, zero, zero)


def ppo_loss(logits, values, actions, old_log_probs, old_values, advantages, returns, mask,
             clip_ratio: float = 0.1, value_clip: float = 0.1, value_coef: float = 0.5,
             entropy_coef: float = 0.01, normalize_advantages: bool = True) -> ActorCriticLoss:
    """PPO2's clipped surrogate with clipped value loss (baselines `ppo2/model.py`).

      r = pi(a|x) / pi_old(a|x);  policy = mean(max(-A r, -A clip(r, 1-e, 1+e)))
      value = 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -e_v, e_v) - R)^2))
      total = policy + value_coef * value - entropy_coef * mean(H)

    Advantages are normalised over the minibatch's real transitions. All inputs are
    flat `[N]`; `mask` 0 drops autoreset steps from every term and statistic.
    """
    logits, values, old_log_probs, old_values, advantages, returns, mask = _float32(
        logits, values, old_log_probs, old_values, advantages, returns, mask)
    if normalize_advantages:
        mean = masked_mean(advantages, mask)
        std = tf.sqrt(masked_mean(tf.square(advantages - mean), mask))
        advantages = (advantages - mean) / (std + 1e-8)
    pi = tfp.distributions.Categorical(logits=logits)
    log_probs = pi.log_prob(actions)
    ratio = tf.exp(tf.where(mask > 0, log_probs - old_log_probs, 0.0))
    surrogate = tf.maximum(-advantages * ratio,
                           -advantages * tf.clip_by_value(ratio, 1 - clip_ratio, 1 + clip_ratio))
    policy = masked_mean(surrogate, mask)
    clipped_values = old_values + tf.clip_by_value(values - old_values, -value_clip, value_clip)
    value = 0.5 * masked_mean(
        tf.maximum(tf.square(values - returns), tf.square(clipped_values - returns)), mask)
    entropy = masked_mean(pi.entropy(), mask)
    total = policy + value_coef * value - entropy_coef * entropy
    clip_fraction = masked_mean(tf.cast(tf.abs(ratio - 1.0) > clip_ratio, tf.float32), mask)
    approx_kl = masked_mean(old_log_probs - log_probs, mask)
    return ActorCriticLoss(total, policy, value, entropy, clip_fraction, approx_kl)
