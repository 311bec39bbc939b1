"""Networks: IMPALA ResNet, DRARL residual attention and the two ablations, as Keras layers.

Names and checks (`NET_NAMES`, `check_net_name`, ...) import no TensorFlow; the
builders and layers load it when first asked for.
"""

import importlib

from drarl_tf.networks.table import NET_NAMES, PRECISIONS, check_net_name, check_precision

_LAZY = {
    "LAST_CONV_FEATURES": "builder",
    "MASK_PREFIX": "builder",
    "POLICY_LOGITS": "builder",
    "SCALE_LAYER": "builder",
    "VALUE": "builder",
    "build_network": "builder",
    "check_obs_shape": "builder",
    "mask_output_names": "builder",
    "quiet_grappler": "builder",
    "torso_parameter_count": "builder",
    "AttentionModule": "layers",
    "ResidualBlock": "layers",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"drarl_tf.networks.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # noqa: PLE0604
    "NET_NAMES", "PRECISIONS", "check_net_name", "check_precision", *sorted(_LAZY)]
