"""IMPALA (V-trace) with process actors and a tf.distribute learner."""

from drarl_tf.impala.config import ImpalaConfig
from drarl_tf.impala.driver import train

__all__ = ["ImpalaConfig", "train"]
