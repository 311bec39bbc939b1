"""Networks: IMPALA ResNet, DRARL residual attention and the two ablations, as Keras
models (builder.py, attention.py) and as Sonnet 2 modules (sonnet_nets.py), both built
from one table (table.py), in the precisions of precision.py.

Names, checks and the table (`NET_NAMES`, `NETWORKS`, `check_net_name`, ...) import no
TensorFlow; the builders, layers and Sonnet modules load it when first asked for.
"""

import importlib

from drarl_tf.networks.precision import PRECISIONS, check_precision
from drarl_tf.networks.table import NET_NAMES, NETWORKS, NetSpec, check_net_name, net_spec

# Lazily loaded names: "module" (the same name there) or "module:name".
_LAZY = {
    "LAST_CONV_FEATURES": "builder",
    "MASK_PREFIX": "builder",
    "POLICY_LOGITS": "builder",
    "SCALE_LAYER": "builder",
    "VALUE": "builder",
    "build_network": "builder",
    "check_obs_shape": "builder",
    "mask_output_names": "builder",
    "net_name_of": "builder",
    "torso_parameter_count": "builder",
    "AttentionModule": "attention",
    "ResidualBlock": "attention",
    "SonnetAttentionModule": "sonnet_nets:AttentionModule",
    "SonnetNetwork": "sonnet_nets:Network",
    "SonnetResidualBlock": "sonnet_nets:ResidualBlock",
    "SonnetTorso": "sonnet_nets:Torso",
    "build_sonnet_network": "sonnet_nets",
    "copy_keras_to_sonnet": "sonnet_nets",
    "copy_sonnet_to_keras": "sonnet_nets",
    "sonnet_from_keras": "sonnet_nets",
}


def __getattr__(name):
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        return getattr(importlib.import_module(f"drarl_tf.networks.{module}"), attribute or name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # noqa: PLE0604
    "NET_NAMES", "NETWORKS", "PRECISIONS", "NetSpec", "check_net_name", "check_precision",
    "net_spec", *sorted(_LAZY)]
