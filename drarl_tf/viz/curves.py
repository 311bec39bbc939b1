"""Learning curves over seeds (paper Fig. 4): returns read from runs' TensorBoard logs,
averaged on a common grid of frames, and drawn."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


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
