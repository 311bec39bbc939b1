"""The project's explanation figures: masks and Grad-CAM of one or more models on the same
states, per-channel masks, and the batch grids written to TensorBoard.

Every figure states its scales: masks on their absolute range [0, 1] (a colour bar
and the values' range in the footer), Grad-CAM from 0 to the largest value in the
figure (shared by every model or checkpoint shown, so that rows compare).
"""

from __future__ import annotations

import numpy as np

from drarl_tf.viz.overlay import afterimage
from drarl_tf.viz.scale import MASK_RANGE, compose, fmt, grey_tile, heat_tile

MASK_BAR = "attention mask"
CAM_BAR = "Grad-CAM"


def _range(values) -> str:
    values = np.asarray(values)
    return f"{fmt(values.min())}-{fmt(values.max())}"


def explanation_rows(rows: list[tuple[str, dict, np.ndarray | None]], obs: np.ndarray,
                     scale: int) -> tuple[np.ndarray, list[list[tuple]], list[str]]:
    """One row per model (or checkpoint) on the same observation `[H, W, C]`:
    the frame stack (afterimage), each attention mask (channel mean, absolute [0, 1])
    and Grad-CAM (0 to the largest value over the rows).

    Args:
      rows: `(label, {mask name: [h, w, C] mask}, Grad-CAM [h, w] or None)` per row.
      scale: enlargement of the `[H, W]` frame.

    Returns:
      (RGB image, tile corners per row, column titles).
    """
    height, width = obs.shape[0] * scale, obs.shape[1] * scale
    names = sorted({name for _, masks, _ in rows for name in masks})
    cams = [cam for _, _, cam in rows if cam is not None]
    cam_max = max([float(np.max(c)) for c in cams] + [1e-12])
    frame = grey_tile(afterimage(obs), height, width)
    blank = np.full((height, width, 3), 255, np.uint8)
    tiles, footer = [], []
    for label, masks, cam in rows:
        row = [frame]
        row += [heat_tile(masks[n].mean(-1), height, width, *MASK_RANGE) if n in masks
                else blank for n in names]
        if cams:
            row.append(heat_tile(cam, height, width, 0.0, cam_max) if cam is not None else blank)
        tiles.append(row)
        ranges = ", ".join(f"{n[5:]} {_range(masks[n].mean(-1))}" for n in names if n in masks)
        footer.append(f"{label}: mask means {ranges or 'none (no attention)'}"
                      + (f"; Grad-CAM max {fmt(np.max(cam))}" if cam is not None else ""))
    titles = ["frames", *[n.replace("mask_", "") for n in names]] + (["Grad-CAM"] if cams else [])
    bars = [(f"{MASK_BAR} (absolute)", *MASK_RANGE)] if names else []
    if cams:
        bars.append((f"{CAM_BAR} (shared by the rows)", 0.0, cam_max))
    image, boxes = compose(tiles, titles, [label for label, _, _ in rows], footer, bars)
    return image, boxes, titles


def channel_grid(name: str, mask: np.ndarray, scale: int, per_row: int = 8) -> np.ndarray:
    """Every channel of one mask `[h, w, C]` on the absolute scale [0, 1]."""
    h, w, channels = mask.shape
    height, width = max(h * scale, 8), max(w * scale, 8)
    tiles = [heat_tile(mask[..., c], height, width, *MASK_RANGE) for c in range(channels)]
    blank = np.full((height, width, 3), 255, np.uint8)
    tiles += [blank] * (-channels % per_row)
    rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
    labels = [f"ch {i}-{min(i + per_row, channels) - 1}" for i in range(0, channels, per_row)]
    footer = [f"{name}: {channels} channels, values {_range(mask)} (channel mean "
              f"{_range(mask.mean(-1))})"]
    image, _ = compose(rows, None, labels, footer, [(f"{MASK_BAR} (absolute)", *MASK_RANGE)])
    return image


def batch_grid(frames: np.ndarray, maps: np.ndarray, lo: float, hi: float, title: str,
               stretched: bool, scale: int) -> tuple[np.ndarray, list[list[tuple]]]:
    """TensorBoard's view of a batch: one row per state, [newest frame | map on [lo, hi]]
    (+ the map min-max stretched per state, its min and max in the footer)."""
    height, width = frames.shape[1] * scale, frames.shape[2] * scale
    rows, footer = [], []
    for n, (frame, heat) in enumerate(zip(frames, maps, strict=True)):
        row = [grey_tile(frame, height, width), heat_tile(heat, height, width, lo, hi)]
        if stretched:
            row.append(heat_tile(heat, height, width, float(heat.min()), float(heat.max())))
            footer.append(f"state {n}: min {fmt(heat.min())}, max {fmt(heat.max())} "
                          "(stretched column: bottom to top of the bar)")
        rows.append(row)
    titles = ["frame", title] + (["stretched"] if stretched else [])
    footer.insert(0, f"{title}: all states {_range(maps)}, mean {fmt(np.mean(maps))}")
    return compose(rows, titles, None, footer, [(title, lo, hi)])


def mask_frame(frame: np.ndarray, mask: np.ndarray, name: str, height: int = 168) -> np.ndarray:
    """One video frame: the grey frame `[H, W]` and a channel-mean mask `[h, w]` beside it on
    the absolute scale [0, 1], with the colour bar and the mask's range of values."""
    scale = max(1, int(np.ceil(height / frame.shape[0])))
    h, w = frame.shape[0] * scale, frame.shape[1] * scale
    image, _ = compose([[grey_tile(frame, h, w), heat_tile(mask, h, w, *MASK_RANGE)]],
                       ["frame", name], None, [f"values {_range(mask)}"],
                       [("mask", *MASK_RANGE)])
    return image
