"""Heat maps on a stated colour scale: values -> colours (and back), colour bars, labelled grids.

Attention masks are drawn on their absolute range [0, 1], so that images can be
compared across steps, states and nets; a min-max stretched view, where one is
drawn, has its own colour bar labelled with its min and max (`labelled_bar`).
Maps are enlarged by nearest neighbour, so every pixel of a tile shows one value
of the map.
"""

from __future__ import annotations

import functools

import numpy as np

MASK_RANGE = (0.0, 1.0)  # sigmoid outputs: the absolute scale of every attention mask
GAP = 2  # white pixels between tiles
TEXT_HEIGHT = 12  # one line of the bitmap font, with its margin
CHAR_WIDTH = 6  # every character of the bitmap font is 6 pixels wide
BAR_WIDTH = 10


@functools.lru_cache(maxsize=1)
def colour_table() -> np.ndarray:
    """The 256 colours of the scale (matplotlib's viridis: perceptually uniform, its
    lightness grows with the value, readable in grey), uint8 `[256, 3]`, low to high."""
    import matplotlib

    table = np.round(matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255)
    table = table.astype(np.int64)
    # Rounded to 8 bits, two neighbours of viridis coincide; a blue step of one level
    # tells them apart, so that every value of the scale reads back (`from_rgb`).
    for i in range(1, 256):
        if (table[i] == table[i - 1]).all():
            table[i, 2] += 1 if table[i, 2] < 255 else -1
    assert len(np.unique(table, axis=0)) == 256
    return table.astype(np.uint8)


def to_rgb(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """uint8 RGB `[..., 3]` of `values` on the scale [lo, hi] (clipped to it)."""
    values = np.asarray(values, np.float64)
    span = hi - lo if hi > lo else 1.0
    index = np.clip(np.round((values - lo) / span * 255), 0, 255).astype(np.int64)
    return colour_table()[index]


def from_rgb(rgb: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The values that `to_rgb` drew as `rgb` (nearest colour of the scale), to half a
    level (1/510) of the range."""
    table = colour_table().astype(np.int64)
    flat = np.asarray(rgb, np.int64).reshape(-1, 1, 3)
    index = np.argmin(((flat - table[None]) ** 2).sum(-1), axis=1)
    span = hi - lo if hi > lo else 1.0
    return (lo + index / 255.0 * span).reshape(np.shape(rgb)[:-1])


def resize_nearest(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """`[..., h, w]` -> `[..., height, width]` by nearest neighbour (no new values)."""
    h, w = maps.shape[-2:]
    rows = (np.arange(height) * h) // height
    cols = (np.arange(width) * w) // width
    return maps[..., rows, :][..., cols]


def heat_tile(heat: np.ndarray, height: int, width: int, lo: float, hi: float) -> np.ndarray:
    """A `[h, w]` map as an RGB tile `[height, width, 3]` on the scale [lo, hi]."""
    return to_rgb(resize_nearest(np.asarray(heat, np.float32), height, width), lo, hi)


def picture_tile(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """A grey uint8 frame `[h, w]` or an RGB picture `[h, w, 3]` as an RGB tile
    `[height, width, 3]` (nearest neighbour)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return np.repeat(resize_nearest(frame, height, width)[..., None], 3, -1)
    return np.moveaxis(resize_nearest(np.moveaxis(frame, -1, 0), height, width), 0, -1)


def colour_bar(height: int, width: int = BAR_WIDTH) -> np.ndarray:
    """RGB `[height, width, 3]`: the scale's colours, the top row the highest value."""
    values = np.linspace(1.0, 0.0, height)[:, None].repeat(width, 1)
    return to_rgb(values, 0.0, 1.0)


@functools.lru_cache(maxsize=1)
def _font():
    """Pillow's built-in bitmap font: `CHAR_WIDTH` pixels per character, spaces included,
    no anti-aliasing. (Pillow >= 10.1's `load_default` is a proportional vector font
    whose 2-pixel spaces run words together and whose text outgrows the layout.)"""
    from PIL import ImageFont

    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def text_image(lines: list[str], width: int) -> np.ndarray:
    """White RGB strip `[TEXT_HEIGHT * len(lines), width, 3]` with `lines` of black text
    (Pillow's bitmap font, `CHAR_WIDTH` pixels a character)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (max(width, 1), TEXT_HEIGHT * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((1, n * TEXT_HEIGHT + 1), line, fill="black", font=_font())
    return np.asarray(image)


def fmt(value: float) -> str:
    return f"{value:.3g}"


def bar_width(lo: float, hi: float) -> int:
    """Width of a `labelled_bar` for [lo, hi]: the bar or its longer label."""
    return max(BAR_WIDTH, CHAR_WIDTH * max(len(fmt(hi)), len(fmt(lo))))


def labelled_bar(height: int, lo: float, hi: float, width: int = 0) -> np.ndarray:
    """RGB `[height, max(width, bar_width(lo, hi)), 3]` on white: `fmt(hi)` on top, the
    colour bar (`colour_bar`, its top row `hi`) and `fmt(lo)` under it, the latter
    where the height leaves room for it (at least `2 * TEXT_HEIGHT + 8` rows)."""
    width = max(width, bar_width(lo, hi))
    tile = np.full((height, width, 3), 255, np.uint8)
    tile[:TEXT_HEIGHT] = text_image([fmt(hi)], width)[:height]
    bar_h = max(height - 2 * TEXT_HEIGHT, 8)
    room = max(height - TEXT_HEIGHT, 0)
    tile[TEXT_HEIGHT:TEXT_HEIGHT + bar_h, :BAR_WIDTH] = colour_bar(bar_h)[:room]
    if TEXT_HEIGHT + bar_h + TEXT_HEIGHT <= height:
        tile[TEXT_HEIGHT + bar_h:2 * TEXT_HEIGHT + bar_h] = text_image([fmt(lo)], width)
    return tile


def compose(rows: list[list[np.ndarray]], column_titles: list[str] | None = None,
            row_titles: list[str] | None = None, footer: list[str] | None = None,
            bars: list[tuple[str, float, float]] = ()) -> tuple[np.ndarray, list[list[tuple]]]:
    """Lays RGB tiles out in a grid with titles, colour bars and footer lines.

    Args:
      rows: rows of equally tall RGB tiles (each row's tiles as wide as the same column's).
      column_titles / row_titles: text above the columns / left of the rows.
      footer: text lines under the grid (scales, ranges).
      bars: `(label, lo, hi)` per colour bar drawn right of the grid, lo at the bottom.

    Returns:
      (RGB uint8 image, the top-left `(y, x)` of every tile, as `rows`).
    """
    tile_h = rows[0][0].shape[0]
    widths = [t.shape[1] for t in rows[0]]
    label_w = 0
    if row_titles:
        label_w = CHAR_WIDTH * max(len(t) for t in row_titles) + 4
    top = TEXT_HEIGHT if column_titles else 0
    grid_w = label_w + sum(widths) + GAP * (len(widths) - 1)
    grid_h = top + len(rows) * tile_h + GAP * (len(rows) - 1)
    bars_w = sum(bar_width(lo, hi) + 3 * GAP for _, lo, hi in bars)
    width = grid_w + bars_w
    image = np.full((grid_h, width, 3), 255, np.uint8)
    if column_titles:
        x = label_w
        for title, w in zip(column_titles, widths, strict=True):
            image[:TEXT_HEIGHT, x:x + w] = text_image([title], w)[:, :w]
            x += w + GAP
    boxes = []
    for r, row in enumerate(rows):
        y = top + r * (tile_h + GAP)
        if row_titles:
            strip = text_image([row_titles[r]], label_w)
            image[y:y + TEXT_HEIGHT, :label_w] = strip[:, :label_w]
        x, row_boxes = label_w, []
        for tile in row:
            image[y:y + tile_h, x:x + tile.shape[1]] = tile
            row_boxes.append((y, x))
            x += tile.shape[1] + GAP
        boxes.append(row_boxes)
    x = grid_w + 2 * GAP
    for _, lo, hi in bars:
        bar = labelled_bar(grid_h - top, lo, hi)
        image[top:grid_h, x:x + bar.shape[1]] = bar
        x += bar.shape[1] + 3 * GAP
    lines = list(footer or []) + [f"colour bar {i + 1}: {label}, {fmt(lo)} (bottom) to "
                                  f"{fmt(hi)} (top)" for i, (label, lo, hi) in enumerate(bars)]
    if lines:
        text_w = max(width, CHAR_WIDTH * max(len(line) for line in lines) + 4)
        if text_w > width:
            image = np.concatenate(
                [image, np.full((grid_h, text_w - width, 3), 255, np.uint8)], axis=1)
        image = np.concatenate([image, text_image(lines, text_w)], axis=0)
    return image, boxes
