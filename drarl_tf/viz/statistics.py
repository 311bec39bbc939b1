"""Gradient statistics (paper Fig. 8) and learning curves over seeds (paper Fig. 4)."""

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


def curve_over_seeds(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 50):
    """Mean and std over runs of return vs frames, on a common grid of frames.

    Each curve is (frames, returns); runs are linearly interpolated onto the frames
    that all of them reached.
    """
    end = min(float(f[-1]) for f, _ in curves)
    start = max(float(f[0]) for f, _ in curves)
    grid = np.linspace(start, end, points)
    values = np.stack([np.interp(grid, f, r) for f, r in curves])
    return grid, values.mean(0), values.std(0)


def read_returns(tb_dir) -> tuple[np.ndarray, np.ndarray]:
    """(frames, episode return) from a run's TensorBoard `episode/return` scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    events = acc.Tensors("episode/return") if "episode/return" in acc.Tags()["tensors"] else []
    frames = np.array([e.step for e in events], np.float64)
    returns = np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events])
    order = np.argsort(frames, kind="stable")
    return frames[order], returns[order]


def _draw_groups(ax, groups: dict) -> None:
    for label, curves in sorted(groups.items()):
        grid, mean, std = curve_over_seeds(curves)
        ax.plot(grid, mean, label=f"{label} ({len(curves)} seeds)")
        ax.fill_between(grid, mean - std, mean + std, alpha=0.25)
    ax.set_xlabel("frames")
    ax.set_ylabel("episode return")
    ax.legend(fontsize="small")


def plot_learning_curves(groups: dict, path, title: str = "") -> str:
    """PNG of mean (line) and std (band) over seeds per group {label: [(frames, returns)]}."""
    return plot_curve_panels({title: groups}, path, columns=1)


def plot_curve_panels(panels: dict, path, columns: int = 5) -> str:
    """One panel per key of `panels` (e.g. a game, as the paper's Fig. 4), each drawn as
    `plot_learning_curves` draws its groups."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), dpi=100,
                             squeeze=False)
    for ax, (title, groups) in zip(axes.flat, panels.items(), strict=False):
        _draw_groups(ax, groups)
        ax.set_title(title)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
