"""Small image helpers for the figure builders: colour maps, nearest upscaling, PNG data URIs.

Mosaics are sent to the browser as one PNG (a few hundred kB) rather than as float heatmaps
(32 maps of 112×112 floats would be about 9 MB of JSON).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import numpy as np
import plotly.colors as pc
from PIL import Image


@lru_cache(maxsize=8)
def colormap(name: str = "Viridis") -> np.ndarray:
    """A plotly colour scale sampled at 256 points: uint8 [256, 3]."""
    colours = pc.sample_colorscale(name, list(np.linspace(0, 1, 256)))
    return np.array([[int(float(v)) for v in c[c.index("(") + 1:-1].split(",")] for c in colours], dtype=np.uint8)


def colorize(x: np.ndarray, lo: float, hi: float, name: str = "Viridis") -> np.ndarray:
    """Map float [H, W] linearly from [lo, hi] onto a colour scale: uint8 [H, W, 3]."""
    span = hi - lo if hi > lo else 1.0
    index = np.clip((x - lo) / span * 255, 0, 255).astype(np.uint8)
    return colormap(name)[index]


def normalise(x: np.ndarray) -> np.ndarray:
    """Scale an array to [0, 1] by its own min and max (a constant array becomes 0)."""
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x, dtype=np.float32)


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor ([H, W] or [H, W, C]): pixels stay square when shown."""
    if factor <= 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8 0-255 (clipped)."""
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "png") -> bytes:
    """uint8 [H, W] or [H, W, 3] -> the bytes of a PNG or JPEG file.

    "png" is lossless (filters, where every kernel pixel counts); "jpeg" (quality 90) encodes a
    photo-like mosaic about ten times faster and smaller, at the price of faint artefacts.
    """
    buffer = io.BytesIO()
    if fmt == "png":
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    else:
        Image.fromarray(pixels).convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def data_uri(pixels: np.ndarray, fmt: str = "png") -> str:
    """uint8 [H, W] or [H, W, 3] -> "data:image/...;base64,..." for `go.Image(source=...)` (see `encode`)."""
    return f"data:image/{fmt};base64," + base64.b64encode(encode(pixels, fmt)).decode("ascii")


def mosaic(tiles: list[np.ndarray], columns: int, gap: int = 2, background: int = 255) -> np.ndarray:
    """Lay equal-sized uint8 tiles [h, w, 3] out in a grid, row by row: uint8 [rows*(h+gap)-gap, ..., 3]."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), background, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile
    return out


def tile_origin(index: int, columns: int, size: tuple[int, int], gap: int = 2) -> tuple[int, int]:
    """(x, y) pixel of the top-left corner of tile `index` in a `mosaic`."""
    r, c = divmod(index, columns)
    return c * (size[1] + gap), r * (size[0] + gap)
