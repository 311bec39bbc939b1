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


def afterimage(obs: np.ndarray) -> np.ndarray:
    """An `[H, W, C]` frame stack as one grey frame, older frames fainter (paper Fig. 6)."""
    obs = obs.astype(np.float32)
    c = obs.shape[-1]
    weights = 0.35 ** np.arange(c - 1, -1, -1)  # newest frame (last channel) at full weight
    return np.clip((obs * weights).max(axis=-1), 0, 255).astype(np.uint8)


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an `[H, W(, 3)]` image."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
