"""Image helpers: frames from observations, upsampling, enlargement."""

from __future__ import annotations

import numpy as np


def upsample_bilinear(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of `[..., h, w]` maps to `[..., height, width]` (numpy only)."""
    h, w = maps.shape[-2:]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = maps[..., y0, :][..., x0] * (1 - wx) + maps[..., y0, :][..., x1] * wx
    bottom = maps[..., y1, :][..., x0] * (1 - wx) + maps[..., y1, :][..., x1] * wx
    return top * (1 - wy) + bottom * wy


# One colour per object channel (MinAtar), on black; a cell holding several objects shows
# the highest channel's (as MinAtar's own display does). Ten distinct hues cover its games.
OBJECT_COLOURS = np.array([
    (255, 255, 255), (255, 64, 64), (64, 160, 255), (255, 200, 0), (64, 220, 64),
    (255, 96, 255), (0, 230, 230), (255, 140, 40), (160, 120, 255), (190, 190, 120),
], np.uint8)
COLOUR_NAMES = ("white", "red", "blue", "yellow", "green", "pink", "cyan", "orange", "violet",
                "khaki")


def legend(channels) -> str:
    """`objects: paddle white, ball red, ...` for the object channels drawn by
    `object_picture` (empty for a frame stack)."""
    if not channels:
        return ""
    return "objects: " + ", ".join(f"{name} {COLOUR_NAMES[k % len(COLOUR_NAMES)]}"
                                   for k, name in enumerate(channels))


def object_picture(obs: np.ndarray) -> np.ndarray:
    """RGB uint8 `[H, W, 3]` of object channels `[H, W, C]` (0 or 255): channel k in
    `OBJECT_COLOURS[k]`, empty cells black."""
    on = np.asarray(obs) > 127
    c = on.shape[-1]
    top = c - 1 - np.argmax(on[..., ::-1], axis=-1)  # the highest channel present
    picture = OBJECT_COLOURS[top % len(OBJECT_COLOURS)]
    picture[~on.any(-1)] = 0
    return picture


def picture(obs: np.ndarray, objects=(), newest: bool = False) -> np.ndarray:
    """RGB uint8 `[H, W, 3]` of one observation `[H, W, C]`: object channels in colour
    (`objects`: their names, MinAtar; see `legend`), else a frame stack in grey: its newest frame (`newest`) or
    all of it as an afterimage."""
    if objects:
        return object_picture(obs)
    grey = np.asarray(obs)[..., -1] if newest else afterimage(obs)
    return np.repeat(grey[..., None], 3, -1)


def afterimage(obs: np.ndarray) -> np.ndarray:
    """An `[H, W, C]` frame stack as one grey frame, older frames fainter (paper Fig. 6)."""
    obs = obs.astype(np.float32)
    c = obs.shape[-1]
    weights = 0.35 ** np.arange(c - 1, -1, -1)  # newest frame (last channel) at full weight
    return np.clip((obs * weights).max(axis=-1), 0, 255).astype(np.uint8)


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an `[H, W(, 3)]` image."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
