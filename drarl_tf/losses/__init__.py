"""Losses and returns as pure functions over `[T, B]` tensors: V-trace, GAE, IMPALA, A2C, PPO."""

from drarl_tf.losses.actor_critic import ActorCriticLoss, a2c_loss, masked_mean, ppo_loss
from drarl_tf.losses.gae import GaeReturns, gae_advantages
from drarl_tf.losses.impala_loss import ImpalaLossOutput, impala_loss
from drarl_tf.losses.vtrace import VTraceReturns, vtrace_returns

__all__ = [
    "ActorCriticLoss",
    "GaeReturns",
    "ImpalaLossOutput",
    "VTraceReturns",
    "a2c_loss",
    "gae_advantages",
    "impala_loss",
    "masked_mean",
    "ppo_loss",
    "vtrace_returns",
]
