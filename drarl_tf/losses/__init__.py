"""Losses and returns as pure functions over `[T, B]` tensors: V-trace, IMPALA loss."""

from drarl_tf.losses.impala_loss import ImpalaLossOutput, impala_loss
from drarl_tf.losses.vtrace import VTraceReturns, vtrace_returns

__all__ = ["ImpalaLossOutput", "VTraceReturns", "impala_loss", "vtrace_returns"]
