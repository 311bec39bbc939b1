"""Grad-CAM for the policy (paper section 3.3, eq. 13-14) through tf-keras-vis."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from drarl_tf.errors import DrarlError
from drarl_tf.networks import LAST_CONV_FEATURES, POLICY_LOGITS, build_network, net_name_of


def float_twin(model: keras.Model) -> keras.Model:
    """The same network with a float32 input (pixel values 0-255) and `model`'s weights.

    tf-keras-vis watches the input on its gradient tape, which a uint8 input defeats.
    """
    num_actions = model.output[POLICY_LOGITS].shape[-1]
    twin = build_network(net_name_of(model), num_actions, model.input.shape[1:],
                         input_dtype="float32")
    twin.set_weights(model.get_weights())
    return twin


def grad_cam(model: keras.Model, obs: np.ndarray, actions: np.ndarray | None = None,
             layer: str = LAST_CONV_FEATURES, upsample: bool = True,
             twin: keras.Model | None = None) -> np.ndarray:
    """Grad-CAM maps of the chosen actions' logits (before the softmax).

    alpha_k = mean_ij d y^a / d A^k_ij (eq. 13), L = ReLU(sum_k alpha_k A^k) (eq. 14),
    with A the feature maps of `layer` (default: the last convolutional features).

    Args:
      model: a network from `build_network`.
      obs: uint8 `[B, H, W, C]`.
      actions: int `[B]`; default the greedy actions.
      upsample: bilinear resize of the maps to `[H, W]` (the paper's figures).
      twin: a `float_twin(model)` to reuse (its weights are refreshed from `model`).

    Returns:
      float32 `[B, h, w]` maps (or `[B, H, W]` with `upsample`), not normalised.
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import CategoricalScore

    try:
        model.get_layer(layer)
    except ValueError:
        valid = ", ".join(sorted(lyr.name for lyr in model.layers if lyr.name != "observation"))
        raise DrarlError(f"no layer '{layer}' in {model.name}; layers: {valid}") from None
    if twin is None:
        twin = float_twin(model)
    else:
        twin.set_weights(model.get_weights())
    policy = keras.Model(twin.input, twin.output[POLICY_LOGITS], name=f"{model.name}_policy")
    obs = np.asarray(obs)
    pixels = tf.constant(obs, tf.float32)
    if actions is None:
        actions = np.argmax(policy(pixels).numpy(), axis=-1)
    gradcam = Gradcam(policy, clone=False)
    cam = gradcam(CategoricalScore(list(np.asarray(actions).ravel())), pixels,
                  penultimate_layer=layer, seek_penultimate_conv_layer=False,
                  expand_cam=False, normalize_cam=False)
    cam = np.maximum(np.asarray(cam, np.float32), 0.0)  # tf-keras-vis applies no ReLU itself
    if upsample:
        cam = tf.image.resize(cam[..., None], obs.shape[1:3], method="bilinear")[..., 0].numpy()
    return cam
