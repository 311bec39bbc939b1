"""V-trace off-policy returns (Espeholt et al. 2018, eq. 1; the paper's eq. 2-4)."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf


class VTraceReturns(NamedTuple):
    vs: tf.Tensor  # [T, B] V-trace value targets v_s.
    pg_advantages: tf.Tensor  # [T, B] rho_s (r_s + gamma_s v_{s+1} - V(x_s)).


def vtrace_returns(
    log_rhos: tf.Tensor,
    discounts: tf.Tensor,
    rewards: tf.Tensor,
    values: tf.Tensor,
    bootstrap_value: tf.Tensor,
    mask: tf.Tensor | None = None,
    clip_rho_threshold: float | None = 1.0,
    clip_c_threshold: float | None = 1.0,
    clip_pg_rho_threshold: float | None = 1.0,
) -> VTraceReturns:
    """V-trace targets and policy-gradient advantages for a batch of unrolls.

    With rho_t = min(rho_bar, pi/mu), c_t = min(c_bar, pi/mu) and
    delta_t = rho_t (r_t + gamma_t V(x_{t+1}) - V(x_t)):

        v_s - V(x_s) = delta_s + gamma_s c_s (v_{s+1} - V(x_{s+1})),
        pg_advantage_s = rho_s (r_s + gamma_s v_{s+1} - V(x_s)),

    with v_T = V(x_T) = `bootstrap_value`. `mask` (1 for transitions, 0 for the
    autoreset steps of next-step autoreset) zeroes delta and cuts the trace at
    masked steps, so that v_t = V(x_t) there and nothing flows through them; an
    episode that was truncated before a masked step bootstraps from V of its
    final observation.

    Args:
      log_rhos: [T, B] log(pi(a_t|x_t) / mu(a_t|x_t)).
      discounts: [T, B] gamma_t, 0 where the episode terminated at step t.
      rewards: [T, B] r_t.
      values: [T, B] V(x_t).
      bootstrap_value: [B] V(x_T).
      mask: [T, B] 1.0 for real transitions, 0.0 for autoreset steps (default all 1).
      clip_rho_threshold, clip_c_threshold, clip_pg_rho_threshold: rho-bar, c-bar and
        the pg-advantage clip (1 as in IMPALA); None: no clipping.

    Returns:
      VTraceReturns(vs, pg_advantages), both [T, B] and without gradient.

    Raises:
      ValueError: an input whose rank or static shape does not fit the others.
    """
    log_rhos = tf.convert_to_tensor(log_rhos)
    if not log_rhos.dtype.is_floating:
        log_rhos = tf.cast(log_rhos, tf.float32)
    dtype = log_rhos.dtype
    discounts, rewards, values = (tf.cast(x, dtype) for x in (discounts, rewards, values))
    bootstrap_value = tf.cast(bootstrap_value, dtype)
    mask = tf.ones_like(rewards) if mask is None else tf.cast(mask, dtype)
    _check_shapes(log_rhos=log_rhos, discounts=discounts, rewards=rewards, values=values,
                  mask=mask, bootstrap_value=bootstrap_value)

    rhos = tf.exp(log_rhos)
    clipped_rhos = _clip(rhos, clip_rho_threshold)
    cs = _clip(rhos, clip_c_threshold)
    values_next = tf.concat([values[1:], bootstrap_value[None]], axis=0)
    deltas = mask * clipped_rhos * (rewards + discounts * values_next - values)
    trace = mask * discounts * cs

    def step(acc, x):
        delta, decay = x
        return delta + decay * acc

    # Reverse-time scan: acc_t = delta_t + gamma_t c_t acc_{t+1}, acc_T = 0.
    acc = tf.scan(
        step, (deltas, trace), initializer=tf.zeros_like(bootstrap_value), reverse=True
    )
    vs = values + acc
    vs_next = tf.concat([vs[1:], bootstrap_value[None]], axis=0)
    clipped_pg_rhos = _clip(rhos, clip_pg_rho_threshold)
    pg_advantages = mask * clipped_pg_rhos * (rewards + discounts * vs_next - values)
    return VTraceReturns(tf.stop_gradient(vs), tf.stop_gradient(pg_advantages))


def _clip(rhos: tf.Tensor, threshold: float | None) -> tf.Tensor:
    return rhos if threshold is None else tf.minimum(tf.cast(threshold, rhos.dtype), rhos)


def _check_shapes(bootstrap_value: tf.Tensor, **time_major: tf.Tensor) -> None:
    """Every `[T, B]` input has rank 2 and one shape; `bootstrap_value` is `[B]`."""
    for name, x in time_major.items():
        if x.shape.rank is not None and x.shape.rank != 2:
            raise ValueError(f"vtrace_returns: {name} must be [T, B], got shape {x.shape}")
    shape = time_major["log_rhos"].shape
    for name, x in time_major.items():
        if not x.shape.is_compatible_with(shape):
            raise ValueError(f"vtrace_returns: {name} has shape {x.shape}, log_rhos {shape}")
    if bootstrap_value.shape.rank is not None and bootstrap_value.shape.rank != 1:
        raise ValueError("vtrace_returns: bootstrap_value must be [B], got shape "
                         f"{bootstrap_value.shape}")
    if not bootstrap_value.shape.is_compatible_with(shape[1:]):
        raise ValueError(f"vtrace_returns: bootstrap_value has shape {bootstrap_value.shape}, "
                         f"log_rhos {shape}")
