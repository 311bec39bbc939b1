"""Networks: IMPALA ResNet, DRARL residual attention and the two ablations, as Keras layers."""

from drarl_tf.networks.builder import (
    LAST_CONV_FEATURES,
    MASK_PREFIX,
    NET_NAMES,
    POLICY_LOGITS,
    PRECISIONS,
    SCALE_LAYER,
    VALUE,
    build_network,
    check_net_name,
    check_obs_shape,
    check_precision,
    mask_output_names,
    quiet_grappler,
    torso_parameter_count,
)
from drarl_tf.networks.layers import AttentionModule, ResidualBlock

__all__ = [
    "AttentionModule",
    "LAST_CONV_FEATURES",
    "MASK_PREFIX",
    "NET_NAMES",
    "POLICY_LOGITS",
    "PRECISIONS",
    "ResidualBlock",
    "SCALE_LAYER",
    "VALUE",
    "build_network",
    "check_net_name",
    "check_obs_shape",
    "check_precision",
    "mask_output_names",
    "quiet_grappler",
    "torso_parameter_count",
]
