"""Pictures of the lecture's kernel steps: the kernel as a grid of numbers, and each map as an image.

The kernel figure is a plain dict (`explorer.figures.raw`): as a go.Figure, Streamlit's `to_dict()` deep-copied
and walked it again on every rerun of the page, cached or not.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from explorer.figures.images import colorize, to_uint8, upscale
from explorer.figures.raw import RawFigure, colorscale, typed


def kernel_figure(kernel: np.ndarray, title: str) -> RawFigure:
    """The kernel's values as a small annotated grid (red positive, blue negative, white zero)."""
    k = np.asarray(kernel, dtype=np.float64)
    m = float(np.abs(k).max()) or 1.0
    text = [[str(Fraction(v).limit_denominator(64)) for v in row] for row in k]
    data = [{"type": "heatmap", "z": typed(k), "text": text, "texttemplate": "%{text}", "colorscale": colorscale("RdBu"),
             "reversescale": True, "zmin": -m, "zmax": m, "showscale": False, "xgap": 2, "ygap": 2,
             "hovertemplate": "row %{y}, col %{x}: %{z:.4g}<extra></extra>"}]
    layout = {"xaxis": {"visible": False, "constrain": "domain"},  # square cells in a narrow column: smaller, not cut
              "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x", "constrain": "domain"},
              "title": {"text": title}, "height": 230, "margin": {"l": 0, "r": 0, "t": 40, "b": 0}}
    return RawFigure({"data": data, "layout": layout})


def step_pixels(x: np.ndarray, side: int = 320) -> tuple[np.ndarray, str]:
    """A step's map as an image for display, and a caption of how its values were mapped.

    Args:
        x: float [H, W] (grayscale) or [H, W, 3] (per channel), pixel units (1.0 = white).
        side: the longer side is upscaled (nearest neighbour, integer factor) to about this many
            pixels, so that a pooled map shows its coarser grid instead of being smoothed.

    Maps with negative values use a diverging scale (grayscale: blue < 0 < red, white = 0;
    colour: mid-gray = 0) from -m to +m, m = max |x|. Non-negative maps go from 0 (black) to
    their maximum, or to 1 when the maximum is below 1 (so a plain photo looks like itself).
    """
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6:
        m = max(abs(lo), abs(hi))
        if x.ndim == 2:
            pixels = colorize(x, -m, m, "RdBu_r")
            how = f"blue = −{m:.3g}, white = 0, red = +{m:.3g}"
        else:
            pixels = to_uint8(0.5 + x / (2 * m))
            how = f"per channel: dark = −{m:.3g}, mid-gray = 0, bright = +{m:.3g}"
    else:
        top = max(hi, 1.0)
        pixels = to_uint8(x / top)
        how = f"black = 0, white = {top:.3g}"
    factor = max(1, side // max(x.shape[:2]))
    return upscale(pixels, factor), f"values {lo:.3g} … {hi:.3g}; {how}"
