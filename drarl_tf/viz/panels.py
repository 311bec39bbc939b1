"""The project's explanation figures: masks and Grad-CAM of one or more models on the same
states, per-channel masks, and the batch grids written to TensorBoard.

Every figure states its scales: masks on their absolute range [0, 1] (a colour bar
and the values' range in the footer), Grad-CAM from 0 to the largest value in the
figure (shared by every model or checkpoint shown, so that rows compare).
"""

from __future__ import annotations

import numpy as np

from drarl_tf.viz.overlay import legend, picture
from drarl_tf.viz.scale import (
    CHAR_WIDTH,
    MASK_RANGE,
    bar_width,
    compose,
    fmt,
    heat_tile,
    labelled_bar,
    picture_tile,
)

MASK_BAR = "attention mask"
CAM_BAR = "Grad-CAM"


def _range(values) -> str:
    values = np.asarray(values)
    return f"{fmt(values.min())}-{fmt(values.max())}"


def row_footer(label: str, masks: dict, cam: np.ndarray | None) -> str:
    """The footer line of one row of `explanation_rows`, e.g.
    `0% (0 frames) - mask means: section0 0.49-0.53, section1 0.5-0.51; Grad-CAM max 0.3`
    (`masks`: `{mask name: [h, w, C] mask}`; `cam`: `[h, w]` or None)."""
    ranges = ", ".join(f"{name.removeprefix('mask_')} {_range(masks[name].mean(-1))}"
                       for name in sorted(masks))
    text = f"{label} - mask means: {ranges}" if ranges else f"{label} - no attention masks"
    return text + (f"; Grad-CAM max {fmt(np.max(cam))}" if cam is not None else "")


def explanation_rows(rows: list[tuple[str, dict, np.ndarray | None]], obs: np.ndarray,
                     scale: int, objects=()
                     ) -> tuple[np.ndarray, list[list[tuple]], list[str]]:
    """One row per model (or checkpoint) on the same observation `[H, W, C]`:
    the frame stack (afterimage; with `objects`, the names of MinAtar's object channels,
    those in colour, named in the footer),
    each attention mask (channel mean, absolute [0, 1])
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
    frame = picture_tile(picture(obs, objects), height, width)
    blank = np.full((height, width, 3), 255, np.uint8)
    tiles, footer = [], []
    for label, masks, cam in rows:
        row = [frame]
        row += [heat_tile(masks[n].mean(-1), height, width, *MASK_RANGE) if n in masks
                else blank for n in names]
        if cams:
            row.append(heat_tile(cam, height, width, 0.0, cam_max) if cam is not None else blank)
        tiles.append(row)
        footer.append(row_footer(label, masks, cam))
    titles = ["frames", *[n.replace("mask_", "") for n in names]] + (["Grad-CAM"] if cams else [])
    bars = [(f"{MASK_BAR} (absolute)", *MASK_RANGE)] if names else []
    if cams:
        bars.append((f"{CAM_BAR} (shared by the rows)", 0.0, cam_max))
    if objects:
        footer.append(legend(objects))
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
               stretched: bool, scale: int, note: str = ""
               ) -> tuple[np.ndarray, list[list[tuple]]]:
    """TensorBoard's view of a batch: one row per state, [newest frame | map on [lo, hi]]
    (+ [the map min-max stretched | that state's own colour bar, labelled with the map's
    min (bottom) and max (top)]).

    Args:
      frames: uint8 `[N, H, W]`, the newest frame of each state, or RGB `[N, H, W, 3]`
        pictures (see `overlay.picture`).
      maps: `[N, h, w]`, one map per state.
      lo, hi: the scale of the second column (the colour bar right of the grid).
      stretched: add the stretched column and its per-state bars.
      scale: enlargement of the `[H, W]` frames.
      note: a last footer line (e.g. the legend of MinAtar's object colours).

    Returns:
      (RGB image, the top-left `(y, x)` of every tile: per row frame, map (, stretched
      map, its bar)).
    """
    height, width = frames.shape[1] * scale, frames.shape[2] * scale
    spans = [(float(np.min(m)), float(np.max(m))) for m in maps]
    # One width for every state's bar, a character wider than its labels so that they
    # stay apart from the labels of the colour bar right of the grid.
    bar_w = max(bar_width(a, b) for a, b in spans) + CHAR_WIDTH if stretched and spans else 0
    rows, footer = [], []
    for n, (frame, heat, (a, b)) in enumerate(zip(frames, maps, spans, strict=True)):
        row = [picture_tile(frame, height, width), heat_tile(heat, height, width, lo, hi)]
        if stretched:
            row += [heat_tile(heat, height, width, a, b), labelled_bar(height, a, b, bar_w)]
            footer.append(f"state {n}: min {fmt(a)}, max {fmt(b)} (stretched: its own bar)")
        rows.append(row)
    titles = ["frame", title] + (["stretched", "scale"] if stretched else [])
    footer.insert(0, f"{title}: all states {_range(maps)}, mean {fmt(np.mean(maps))}")
    if note:
        footer.append(note)
    return compose(rows, titles, None, footer, [(f"{title} column", lo, hi)])


def mask_frame(frame: np.ndarray, mask: np.ndarray, name: str, height: int = 168) -> np.ndarray:
    """One video frame: the grey frame `[H, W]` (or RGB picture `[H, W, 3]`) and a channel-mean mask `[h, w]` beside it on
    the absolute scale [0, 1], with the colour bar and the mask's range of values."""
    scale = max(1, int(np.ceil(height / frame.shape[0])))
    h, w = frame.shape[0] * scale, frame.shape[1] * scale
    image, _ = compose([[picture_tile(frame, h, w), heat_tile(mask, h, w, *MASK_RANGE)]],
                       ["frame", name], None, [f"values {_range(mask)}"],
                       [("mask", *MASK_RANGE)])
    return image
