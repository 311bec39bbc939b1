"""Generalized advantage estimation (Schulman et al. 2016; the paper's eq. 10)."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf


class GaeReturns(NamedTuple):
    advantages: tf.Tensor  # [T, B]
    returns: tf.Tensor  # [T, B] advantages + values: the value targets


def gae_advantages(
    rewards: tf.Tensor,
    values: tf.Tensor,
    bootstrap_value: tf.Tensor,
    discounts: tf.Tensor,
    mask: tf.Tensor | None = None,
    lambda_: float = 0.95,
) -> GaeReturns:
    """GAE over time-major `[T, B]` rollouts.

        delta_t = r_t + gamma_t V(x_{t+1}) - V(x_t),
        A_t = delta_t + gamma_t lambda A_{t+1},   A_T = 0,

    with gamma_t = 0 where the episode terminated at t. Autoreset steps
    (`mask` = 0) are not transitions: their advantage is 0 and the recursion
    is cut there; an episode truncated just before one bootstraps from V of its
    final observation (the observation of the masked step). With `lambda_` = 1
    the returns are the n-step returns of A2C.

    Args:
      rewards, values, discounts, mask: [T, B].  bootstrap_value: [B] V(x_T).

    Returns:
      GaeReturns(advantages, returns), [T, B], without gradient.
    """
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        values = tf.cast(values, tf.float32)
    dtype = values.dtype
    rewards, discounts = tf.cast(rewards, dtype), tf.cast(discounts, dtype)
    bootstrap_value = tf.cast(bootstrap_value, dtype)
    mask = tf.ones_like(rewards) if mask is None else tf.cast(mask, dtype)
    values_next = tf.concat([values[1:], bootstrap_value[None]], axis=0)
    deltas = mask * (rewards + discounts * values_next - values)
    decay = mask * discounts * tf.cast(lambda_, dtype)
    advantages = tf.scan(
        lambda acc, x: x[0] + x[1] * acc,
        (deltas, decay),
        initializer=tf.zeros_like(bootstrap_value),
        reverse=True,
    )
    advantages = tf.stop_gradient(advantages)
    return GaeReturns(advantages, tf.stop_gradient(advantages + values))
