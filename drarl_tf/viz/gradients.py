"""Gradient statistics of the policy with respect to its input pixels (paper Fig. 8)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from drarl_tf.networks import POLICY_LOGITS, SCALE_LAYER

# The paper's intervals of |d y^a / d pixel| (pixels scaled to [0, 1]).
GRADIENT_EDGES = (0.0, 1e-4, 1e-3, 1e-2, 2e-2, np.inf)


def input_gradient_histogram(model, obs: np.ndarray, actions: np.ndarray | None = None,
                             edges=GRADIENT_EDGES) -> dict:
    """Share of input pixels per interval of |d logit_a / d pixel| over a batch (Fig. 8).

    Returns {"edges": edges, "fractions": [len(edges) - 1], "abs_gradients": flat array}.
    """
    grads = _abs_input_gradients(model, obs, actions)
    return histogram_of(grads, edges)


def histogram_of(abs_gradients: np.ndarray, edges=GRADIENT_EDGES) -> dict:
    """Shares of `abs_gradients` per interval `[edges[i], edges[i + 1])`."""
    grads = np.asarray(abs_gradients).ravel()
    counts, _ = np.histogram(grads, bins=np.asarray(edges, np.float64))
    return {"edges": list(edges), "fractions": (counts / grads.size).tolist(),
            "abs_gradients": grads}


def policy_from_pixels(model):
    """`model`'s policy logits as a function of the pixels scaled to [0, 1]: a Keras
    sub-model from the `scale` layer sharing `model`'s layers and weights (a uint8
    input cannot be differentiated through)."""
    import keras

    return keras.Model(model.get_layer(SCALE_LAYER).output, model.output[POLICY_LOGITS])


def _abs_input_gradients(model, obs, actions):
    policy = policy_from_pixels(model)
    pixels = tf.constant(np.asarray(obs), tf.float32) / 255.0
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        logits = policy(pixels)
        if actions is None:
            actions = tf.argmax(logits, axis=-1)
        chosen = tf.reduce_sum(tf.gather(logits, actions, batch_dims=1))
    return np.abs(tape.gradient(chosen, pixels).numpy()).ravel()


def plot_gradient_histogram(histogram: dict, path, title: str = "") -> str:
    """Bar chart PNG of the shares per gradient interval (the paper's Fig. 8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = histogram["edges"]
    labels = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f"> {lo:g}"
              for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.bar(labels, 100.0 * np.asarray(histogram["fractions"]))
    ax.set_xlabel("|d logit of the chosen action / d pixel| (pixels in [0, 1])")
    ax.set_ylabel("% of pixels")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
