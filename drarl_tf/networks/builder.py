"""Builders for the four networks of the paper: impala, large_impala, drarl, simple_drarl."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from drarl_tf.errors import DrarlError
from drarl_tf.networks.attention import AttentionModule, ResidualBlock
from drarl_tf.networks.precision import check_precision
from drarl_tf.networks.table import NetSpec, check_net_name, net_spec
from drarl_tf.tf_settings import configure_tensorflow

POLICY_LOGITS = "policy_logits"
VALUE = "value"
MASK_PREFIX = "mask_section"
# The pixels scaled to [0, 1]: where gradients with respect to the input start.
SCALE_LAYER = "scale"
# The last convolutional feature map (before the head's relu): Grad-CAM's layer.
LAST_CONV_FEATURES = "torso_features"
_HEAD_LAYERS = (POLICY_LOGITS, "value_layer")
# The attribute of a built model that holds its net name (see `net_name_of`).
NET_NAME_ATTRIBUTE = "drarl_net"


def check_obs_shape(obs_shape: Sequence[int]) -> tuple[int, int, int]:
    """Validates an image observation shape `[H, W, C]` (NHWC without the batch)."""
    shape = tuple(int(d) for d in obs_shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise DrarlError(
            f"observations must be images [height, width, channels], got shape {tuple(obs_shape)}"
        )
    return shape


def _section(x, index: int, channels: int, spec: NetSpec):
    """One section: conv -> max-pool 3x3/2 -> body. Returns (features, mask or None)."""
    p = f"section{index}"
    x = keras.layers.Conv2D(channels, 3, padding="same", name=f"{p}_conv")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{p}_pool")(x)
    for j in range(spec.residual_blocks):
        x = ResidualBlock(channels, name=f"{p}_block{j}")(x)
    if not spec.attention:
        return x, None
    attention = AttentionModule(channels, downsample=spec.downsample_mask, name=f"{p}_attention")
    x, mask = attention(x)
    mask = keras.layers.Identity(name=f"{MASK_PREFIX}{index}", dtype="float32")(mask)
    return x, mask


def build_network(
    name: str, num_actions: int, obs_shape: Sequence[int] = (84, 84, 4),
    input_dtype: str = "uint8", precision: str = "float32",
) -> keras.Model:
    """Builds a network of the paper (Fig. 2 and Fig. 5).

    Args:
      name: one of `NET_NAMES` (any case, '-' for '_'; see `check_net_name`).
      num_actions: size of the discrete action set.
      obs_shape: `[H, W, C]` of the uint8 observations; any image size works.
      input_dtype: "uint8" for acting, training and export; "float32" (pixel values
        0-255, same weights) for tools that differentiate through the input, such as
        tf-keras-vis's Grad-CAM, since a uint8 input cannot be watched by a tape.
      precision: "float32", or "mixed_bfloat16" / "mixed_float16": the torso computes
        in bfloat16 / float16 while its variables, the policy logits, the value and the
        masks stay float32 (the trainers scale the loss for float16: training.optim.LossScale)
        (worth it on CPUs with AVX512_BF16/AMX and on GPUs; see docs/benchmarks.md).

    Returns:
      A functional Keras model from uint8 `[B, H, W, C]` to a dict with
      `policy_logits` `[B, A]` (float32), `value` `[B]` (float32) and, for the
      attention nets, `mask_section{0,1,2}` `[B, h_i, w_i, C_i]` in [0, 1]. The
      model's `name` is the canonical net name, also kept as its attribute
      `drarl_net` (read it with `net_name_of`).
    """
    spec = net_spec(name)
    shape = check_obs_shape(obs_shape)
    if int(num_actions) < 1:
        raise DrarlError(f"num_actions must be >= 1, got {num_actions}")
    check_precision(precision)
    configure_tensorflow()
    # Layers take the global dtype policy when they are made: set it for this build only.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        obs = keras.Input(shape=shape, dtype=input_dtype, name="observation")
        x = keras.layers.Rescaling(1.0 / 255.0, name=SCALE_LAYER)(obs)
        masks = {}
        for i, channels in enumerate(spec.channels):
            x, mask = _section(x, i, channels, spec)
            if mask is not None:
                masks[f"{MASK_PREFIX}{i}"] = mask
        x = keras.layers.Identity(name=LAST_CONV_FEATURES)(x)
        x = keras.layers.ReLU(name="torso_relu")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(spec.hidden_units, activation="relu", name="torso_dense")(x)
    finally:
        keras.config.set_dtype_policy(previous)
    logits = keras.layers.Dense(num_actions, name=POLICY_LOGITS, dtype="float32")(x)
    value = keras.layers.Dense(1, name="value_layer", dtype="float32")(x)
    value = keras.layers.Reshape((), name=VALUE, dtype="float32")(value)
    model = keras.Model(obs, {POLICY_LOGITS: logits, VALUE: value, **masks}, name=spec.name)
    setattr(model, NET_NAME_ATTRIBUTE, spec.name)
    return model


def net_name_of(model: keras.Model) -> str:
    """The net name a model was built as (one of `NET_NAMES`).

    `build_network` sets it as the model's attribute `drarl_net`; a model that lacks it
    (made before that attribute, or reloaded from a `.keras` file, which keeps no such
    attribute) falls back to its `name`, which `build_network` sets to the same name.
    """
    name = getattr(model, NET_NAME_ATTRIBUTE, None)
    return check_net_name(name if name is not None else model.name)


def mask_output_names(model: keras.Model) -> list[str]:
    """Names of the attention-mask outputs of `model` (empty for nets without attention)."""
    return sorted(k for k in model.output if k.startswith(MASK_PREFIX))


def torso_parameter_count(model: keras.Model) -> int:
    """Parameters up to and including the dense-256 layer (the paper's count, heads excluded)."""
    head = sum(
        int(np.prod(w.shape)) for n in _HEAD_LAYERS for w in model.get_layer(n).weights
    )
    return model.count_params() - head
