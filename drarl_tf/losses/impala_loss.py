"""The IMPALA actor-critic loss with V-trace targets (the paper's eq. 3-5)."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
import tensorflow_probability as tfp

from drarl_tf.losses.vtrace import vtrace_returns


class ImpalaLossOutput(NamedTuple):
    total: tf.Tensor
    policy: tf.Tensor
    baseline: tf.Tensor
    entropy: tf.Tensor  # the entropy *loss*: minus the summed entropy


def impala_loss(
    logits: tf.Tensor,
    values: tf.Tensor,
    bootstrap_value: tf.Tensor,
    actions: tf.Tensor,
    behaviour_logits: tf.Tensor,
    rewards: tf.Tensor,
    discounts: tf.Tensor,
    mask: tf.Tensor,
    baseline_cost: float = 0.5,
    entropy_cost: float = 0.01,
    clip_rho_threshold: float = 1.0,
    clip_c_threshold: float = 1.0,
) -> ImpalaLossOutput:
    """IMPALA loss summed over time and batch, as in the original implementation.

    total = policy + baseline_cost * 0.5 * sum((v_s - V)^2) + entropy_cost * (-sum H(pi)),
    policy = -sum(pg_advantage * log pi(a|x)). Masked steps (`mask` = 0, the
    autoreset steps) contribute to no term.

    Args:
      logits: [T, B, A] learner policy logits.  values: [T, B].  bootstrap_value: [B].
      actions: [T, B] int.  behaviour_logits: [T, B, A] the actors' logits.
      rewards: [T, B] (clipped).  discounts: [T, B].  mask: [T, B].
    """
    logits = tf.cast(logits, tf.float32)
    behaviour_logits = tf.cast(behaviour_logits, tf.float32)
    values = tf.cast(values, tf.float32)
    bootstrap_value = tf.cast(bootstrap_value, tf.float32)
    discounts = tf.cast(discounts, tf.float32)
    mask = tf.cast(mask, tf.float32)
    # Masked steps may hold anything (an ignored action, junk logits): neutralise
    # them before they reach a log or an exp, so they cannot produce NaN.
    behaviour_logits = tf.where(mask[..., None] > 0, behaviour_logits, tf.zeros_like(logits))
    pi = tfp.distributions.Categorical(logits=logits)
    mu = tfp.distributions.Categorical(logits=behaviour_logits)
    target_log_probs = pi.log_prob(actions)
    log_rhos = target_log_probs - mu.log_prob(actions)
    returns = vtrace_returns(
        log_rhos=tf.where(mask > 0, log_rhos, 0.0),
        discounts=discounts,
        rewards=tf.where(mask > 0, tf.cast(rewards, tf.float32), 0.0),
        values=values,
        bootstrap_value=bootstrap_value,
        mask=mask,
        clip_rho_threshold=clip_rho_threshold,
        clip_c_threshold=clip_c_threshold,
    )
    policy = -tf.reduce_sum(mask * returns.pg_advantages * target_log_probs)
    baseline = 0.5 * tf.reduce_sum(mask * tf.square(returns.vs - values))
    entropy = -tf.reduce_sum(mask * pi.entropy())
    total = policy + baseline_cost * baseline + entropy_cost * entropy
    return ImpalaLossOutput(total, policy, baseline, entropy)
