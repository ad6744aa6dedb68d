"""Figures of the Attributions page: maps over the photo, the randomization cascade, deletion/insertion curves.

Maps are blended into the model's input crop on the server and sent as one JPEG each (a 224×224
heat map as JSON would be ten times larger); a colour bar beside each map gives its scale.
Sign conventions (`attributions.MethodInfo.sign`):
- "signed": diverging colours, red for the class, blue against it, white at 0, symmetric range;
- "absolute" and "positive": a sequential scale from 0 up.
Every range is clipped at a percentile of |map| so that a few extreme pixels do not wash the rest out.
Figures are plain dicts (`explorer.figures.raw`): built as a go.Figure, a map card took 15 ms instead of 2.5 ms,
and Streamlit's `to_dict()` deep-copied it again on every rerun.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from explorer.figures.images import colorize, data_uri, mosaic, tile_origin
from explorer.figures.layout import wrap_line
from explorer.figures.raw import COLORWAY, RawFigure, colorscale, subplot_row, typed
from explorer.figures.safe_text import plain

#: Sequential colour scales offered for absolute and positive maps (Plotly names).
SEQUENTIAL = ("Inferno", "Viridis", "Jet", "Hot", "Greys")
DIVERGING = "RdBu_r"  # red positive, blue negative
_CURVE_COLOURS = {"map": "#d62728", "inverse": "#1f77b4", "random": "#7f7f7f"}


def value_range(heat: np.ndarray, signed: bool, clip: float = 99.0) -> tuple[float, float]:
    """(lo, hi) of the colour scale: [−c, c] for signed maps, else [0, c]; c = the clip-th percentile of |map|."""
    c = float(np.percentile(np.abs(heat), clip)) if heat.size else 0.0
    c = c if c > 0 else float(np.abs(heat).max()) or 1.0
    return (-c, c) if signed else (0.0, c)


def overlay(pixels: np.ndarray, heat: np.ndarray, signed: bool, opacity: float = 0.6, scale: str = "Inferno",
            clip: float = 99.0) -> tuple[np.ndarray, tuple[float, float]]:
    """Blend a map into the photo: uint8 [S, S, 3], and the (lo, hi) of its colour scale.

    Args:
        pixels: uint8 [S, S, 3], the model's input crop.
        heat: float [S, S], the map (take |map| first for an absolute view).
        signed: diverging colours around 0 (red +, blue −) instead of `scale` from 0.
        opacity: the map's opacity where it is strongest, 0-1; weaker values let the photo through.
        scale: sequential colour scale for unsigned maps (one of `SEQUENTIAL`).
        clip: percentile of |map| at which the colours saturate.

    The photo is shown in gray underneath, so that its own colours do not read as attribution.
    """
    lo, hi = value_range(heat, signed, clip)
    colours = colorize(heat, lo, hi, DIVERGING if signed else scale).astype(np.float32)
    strength = np.clip(np.abs(heat) / hi, 0, 1)[..., None]
    gray = (pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    alpha = opacity * (0.15 + 0.85 * strength)
    out = alpha * colours + (1 - alpha) * gray
    return out.clip(0, 255).astype(np.uint8), (lo, hi)


def map_figure(pixels: np.ndarray, heat: np.ndarray, signed: bool, title: str, units: str, opacity: float = 0.6,
               scale: str = "Inferno", clip: float = 99.0, height: int = 400) -> RawFigure:
    """One map over the photo, with a horizontal colour bar of its values underneath.

    Args:
        pixels, heat, signed, opacity, scale, clip: as `overlay`.
        title: the method (and layer); drawn as given (no user text here).
        units: colour-bar title, e.g. "|∂logit/∂pixel|".
        height: of the figure in px; the image takes the width of the column (up to height − 110).
    """
    blended, (lo, hi) = overlay(pixels, heat, signed, opacity, scale, clip)
    size = pixels.shape[0]
    data = [{"type": "image", "source": data_uri(blended, "jpeg"), "hoverinfo": "skip"},
            {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "showlegend": False,  # the colour bar
             "hoverinfo": "skip",
             "marker": {"colorscale": colorscale(DIVERGING if signed else scale), "cmin": lo, "cmax": hi,
                        "color": [lo], "showscale": True,
                        "colorbar": {"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.02, "yanchor": "top",
                                     "len": 0.9, "thickness": 10, "tickformat": ".2~g",
                                     "title": {"text": wrap_line(units, 16), "side": "bottom"}}}}]
    layout = {"xaxis": {"visible": False, "range": [0, size]},
              "yaxis": {"visible": False, "range": [size, 0], "scaleanchor": "x"},
              "title": {"text": f"<b>{title}</b>", "x": 0.01, "xanchor": "left",
                        "font": {"size": 15, "color": "#31333F"}},
              "font": {"family": "Source Sans Pro, sans-serif"}, "margin": {"l": 0, "r": 0, "t": 34, "b": 72},
              "height": height, "dragmode": False, "plot_bgcolor": "white", "paper_bgcolor": "white"}
    return RawFigure({"data": data, "layout": layout})


def randomization_figure(pixels: np.ndarray, trained: np.ndarray, steps: list, title: str, tile: int = 112,
                         columns: int = 6) -> RawFigure:
    """The trained model's map, then each cascade step's map, in a row (wrapping), each scaled to its own range.

    Args:
        pixels: uint8 [S, S, 3], the model's input crop.
        trained: float [S, S], the trained model's map.
        steps: `sanity_checks.RandomizationStep`s (block, spearman, map), top block first.
        title: e.g. "Grad-CAM"; drawn as given.

    Maps are shown as |map| (the quantity the Spearman correlation compares), each on its own scale.
    """
    def small(a: np.ndarray) -> np.ndarray:
        return F.interpolate(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None],
                           size=(tile, tile), mode="area")[0, 0].numpy()

    photo = small(pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    photo = np.repeat(photo[..., None], 3, axis=2).astype(np.uint8)
    tiles, labels = [], []
    for name, heat, rho in [("trained", trained, 1.0)] + [(s.block, s.map, s.spearman) for s in steps]:
        blended, _ = overlay(photo, small(np.abs(heat)), False, 0.85, "Inferno", 99.0)
        tiles.append(blended)
        labels.append("trained model" if name == "trained" else
                      f"↓ {name} · ρ {'blank' if math.isnan(rho) else f'{rho:.2f}'}")
    columns = min(columns, len(tiles))
    grid = mosaic(tiles, columns)
    corners = (tile_origin(i, columns, (tile, tile)) for i in range(len(tiles)))
    layout = {
        "xaxis": {"visible": False, "range": [0, grid.shape[1]]},
        "yaxis": {"visible": False, "range": [grid.shape[0], 0], "scaleanchor": "x"},
        "title": {"text": f"{title}: the map as the weights are re-initialized from the top block down "
                          "(each map on its own scale)", "font": {"size": 14}},
        "margin": {"l": 0, "r": 0, "t": 36, "b": 0}, "height": grid.shape[0] + 50, "dragmode": False,
        "annotations": [{"x": x + 3, "y": y + 3, "text": text, "showarrow": False, "xanchor": "left", "yanchor": "top",
                         "font": {"size": 11, "color": "white"}, "bgcolor": "rgba(0,0,0,0.6)", "borderpad": 2}
                        for (x, y), text in zip(corners, labels)]}
    return RawFigure({"data": [{"type": "image", "source": data_uri(grid, "jpeg"), "hoverinfo": "skip"}],
                      "layout": layout})


def randomization_curves(results: dict[str, list], threshold: float) -> RawFigure:
    """Spearman ρ of |map| against the trained map, per cascade step, one line per method (Adebayo et al., fig. 2).

    Args:
        results: {method title: [RandomizationStep, ...]} with the same blocks in the same order.
        threshold: the pass line (a map that stays above it did not change).
    """
    data = [{"type": "scatter", "x": ["trained"] + [s.block for s in steps],
             "y": [1.0] + [0.0 if math.isnan(s.spearman) else s.spearman for s in steps], "mode": "lines+markers",
             "name": title} for title, steps in results.items()]
    layout = {
        "title": {"text": "Cascading randomization: similarity to the trained model's map"},
        "xaxis": {"title": {"text": "re-initialized down to (top block first)"}, "type": "category"},
        "yaxis": {"title": {"text": "Spearman ρ of |map|"}, "range": [-0.2, 1.05]},
        "height": 380, "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "legend": {"orientation": "h", "y": -0.35},
        "colorway": COLORWAY,
        "shapes": [{"type": "line", "line": {"color": "gray", "dash": "dot"}, "x0": 0, "x1": 1, "xref": "x domain",
                    "y0": threshold, "y1": threshold, "yref": "y"}],
        "annotations": [{"text": f"ρ = {threshold}: below it the map has changed", "showarrow": False, "x": 0,
                         "xanchor": "left", "xref": "x domain", "y": threshold, "yanchor": "top", "yref": "y"}]}
    return RawFigure({"data": data, "layout": layout})


def deletion_insertion_figure(result, title: str, label: str) -> RawFigure:
    """Deletion (left) and insertion (right) curves of one map, its inverse and a random order, with areas.

    Args:
        result: a `sanity_checks.DeletionInsertion`.
        title: the method's title; drawn as given.
        label: the target class's name (user text for trained models: escaped here).
    """
    names = {"map": "most relevant first", "inverse": "least relevant first (inverse)", "random": "random order"}
    layout = subplot_row(["deletion: pixels → grey (lower area is better)",
                          "insertion: pixels → blurred image (higher is better)"])
    data = []
    fractions = typed(result.fractions)
    for col, kind in ((1, "deletion"), (2, "insertion")):
        suffix = "" if col == 1 else str(col)
        for order in ("map", "inverse", "random"):
            line = {"color": _CURVE_COLOURS[order], "width": 3 if order == "map" else 2}
            if order == "random":
                line["dash"] = "dot"
            data.append({"type": "scatter", "x": fractions, "y": typed(result.curves[(kind, order)]), "mode": "lines",
                         "name": names[order], "legendgroup": order, "showlegend": col == 1, "line": line,
                         "hovertemplate": f"{names[order]}<br>%{{x:.0%}} of pixels: p = %{{y:.3f}}<extra></extra>",
                         "xaxis": "x" + suffix, "yaxis": "y" + suffix})
        areas = "<br>".join(f"{names[o].split(' (')[0]}: {result.auc(kind, o):.3f}"
                            for o in ("map", "inverse", "random"))
        layout["annotations"].append({
            "text": f"area under the curve<br>{areas}", "xref": f"x{suffix} domain", "yref": f"y{suffix} domain",
            "x": 0.98, "y": 0.98, "showarrow": False, "xanchor": "right", "yanchor": "top", "align": "right",
            "font": {"size": 11}, "bgcolor": "rgba(255,255,255,0.85)"})
        layout["xaxis" + suffix].update(title={"text": "share of pixels changed"}, tickformat=".0%", range=[0, 1])
        layout["yaxis" + suffix]["range"] = [0, 1.02]
    layout["yaxis"]["title"] = {"text": f"p({plain(label)})"}
    layout.update(title={"text": f"{title}: deletion and insertion (RISE)", "font": {"size": 14}}, height=360,
                  margin={"l": 10, "r": 10, "t": 80, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return RawFigure({"data": data, "layout": layout})


def top_classes(top: list[tuple[str, float]], title: str, highlight: int | None = None) -> RawFigure:
    """Horizontal bars of [(class name, probability)], highest on top; `highlight` (index in `top`) in red.

    Class names and the title may be user text (a trained model's classes, a file name) and are escaped.
    """
    labels = [plain(name) for name, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    colours = ["#d62728" if highlight is not None and i == len(top) - 1 - highlight else "#1f77b4"
               for i in range(len(top))]
    data = [{"type": "bar", "x": probs, "y": labels, "orientation": "h", "text": [f"{p:.1%}" for p in probs],
             "textposition": "auto", "marker": {"color": colours}, "hovertemplate": "%{y}: %{x:.2%}<extra></extra>"}]
    layout = {"title": {"text": plain(title)}, "xaxis": {"title": {"text": "probability"}, "range": [0, 1]},
              "yaxis": {"type": "category"}, "height": 90 + 36 * len(top), "margin": {"l": 10, "r": 10, "t": 40, "b": 10}}
    return RawFigure({"data": data, "layout": layout})
