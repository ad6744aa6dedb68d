"""Figures of the Attributions page: maps over the photo, the randomization cascade, deletion/insertion curves.

Maps are blended into the model's input crop on the server and sent as one JPEG each (a 224×224
heat map as JSON would be ten times larger); a colour bar beside each map gives its scale.
Sign conventions (`attributions.MethodInfo.sign`):
- "signed": diverging colours, red for the class, blue against it, white at 0, symmetric range;
- "absolute" and "positive": a sequential scale from 0 up.
Every range is clipped at a percentile of |map| so that a few extreme pixels do not wash the rest out.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from explorer.figures.images import colorize, data_uri, mosaic, tile_origin
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
               scale: str = "Inferno", clip: float = 99.0, height: int = 400) -> go.Figure:
    """One map over the photo, with a horizontal colour bar of its values underneath.

    Args:
        pixels, heat, signed, opacity, scale, clip: as `overlay`.
        title: the method (and layer); drawn as given (no user text here).
        units: colour-bar title, e.g. "|∂logit/∂pixel|".
        height: of the figure in px; the image takes the width of the column (up to height − 110).
    """
    blended, (lo, hi) = overlay(pixels, heat, signed, opacity, scale, clip)
    size = pixels.shape[0]
    fig = go.Figure(go.Image(source=data_uri(blended, "jpeg"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(  # carries the colour bar only
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker=dict(colorscale=DIVERGING if signed else scale, cmin=lo, cmax=hi, color=[lo], showscale=True,
                    colorbar=dict(orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top", len=0.9,
                                  thickness=10, tickformat=".2~g", title=dict(text=units, side="bottom")))))
    fig.update_xaxes(visible=False, range=[0, size])
    fig.update_yaxes(visible=False, range=[size, 0], scaleanchor="x")
    fig.update_layout(title=dict(text=f"<b>{title}</b>", x=0.01, xanchor="left", font=dict(size=15, color="#31333F")),
                      font=dict(family="Source Sans Pro, sans-serif"), margin=dict(l=0, r=0, t=34, b=72),
                      height=height, dragmode=False, plot_bgcolor="white", paper_bgcolor="white")
    return fig


def randomization_figure(pixels: np.ndarray, trained: np.ndarray, steps: list, title: str, tile: int = 112,
                         columns: int = 6) -> go.Figure:
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
    fig = go.Figure(go.Image(source=data_uri(grid, "jpeg"), hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[0, grid.shape[1]])
    fig.update_yaxes(visible=False, range=[grid.shape[0], 0], scaleanchor="x")
    fig.update_layout(
        title=dict(text=f"{title}: the map as the weights are re-initialized from the top block down "
                        "(each map on its own scale)", font=dict(size=14)),
        margin=dict(l=0, r=0, t=36, b=0), height=grid.shape[0] + 50, dragmode=False,
        annotations=[dict(x=x + 3, y=y + 3, text=text, showarrow=False, xanchor="left", yanchor="top",
                          font=dict(size=11, color="white"), bgcolor="rgba(0,0,0,0.6)", borderpad=2)
                     for (x, y), text in zip((tile_origin(i, columns, (tile, tile)) for i in range(len(tiles))),
                                             labels)])
    return fig


def randomization_curves(results: dict[str, list], threshold: float) -> go.Figure:
    """Spearman ρ of |map| against the trained map, per cascade step, one line per method (Adebayo et al., fig. 2).

    Args:
        results: {method title: [RandomizationStep, ...]} with the same blocks in the same order.
        threshold: the pass line (a map that stays above it did not change).
    """
    fig = go.Figure()
    for title, steps in results.items():
        fig.add_trace(go.Scatter(x=["trained"] + [s.block for s in steps],
                                 y=[1.0] + [0.0 if math.isnan(s.spearman) else s.spearman for s in steps],
                                 mode="lines+markers", name=title))
    fig.add_hline(y=threshold, line=dict(dash="dot", color="gray"),
                  annotation_text=f"ρ = {threshold}: below it the map has changed", annotation_position="bottom left")
    fig.update_layout(title="Cascading randomization: similarity to the trained model's map",
                      xaxis_title="re-initialized down to (top block first)", yaxis_title="Spearman ρ of |map|",
                      yaxis_range=[-0.2, 1.05], height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.35))
    fig.update_xaxes(type="category")
    return fig


def deletion_insertion_figure(result, title: str, label: str) -> go.Figure:
    """Deletion (left) and insertion (right) curves of one map, its inverse and a random order, with areas.

    Args:
        result: a `sanity_checks.DeletionInsertion`.
        title: the method's title; drawn as given.
        label: the target class's name (user text for trained models: escaped here).
    """
    names = {"map": "most relevant first", "inverse": "least relevant first (inverse)", "random": "random order"}
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "deletion: pixels → grey (lower area is better)", "insertion: pixels → blurred image (higher is better)"))
    for col, kind in ((1, "deletion"), (2, "insertion")):
        for order in ("map", "inverse", "random"):
            fig.add_trace(go.Scatter(
                x=result.fractions, y=result.curves[(kind, order)], mode="lines",
                name=f"{names[order]}", legendgroup=order, showlegend=col == 1,
                line=dict(color=_CURVE_COLOURS[order], width=3 if order == "map" else 2,
                          dash="dot" if order == "random" else None),
                hovertemplate=f"{names[order]}<br>%{{x:.0%}} of pixels: p = %{{y:.3f}}<extra></extra>"), 1, col)
        areas = "<br>".join(f"{names[o].split(' (')[0]}: {result.auc(kind, o):.3f}"
                            for o in ("map", "inverse", "random"))
        fig.add_annotation(text=f"area under the curve<br>{areas}", xref=f"x{'' if col == 1 else col} domain",
                           yref=f"y{'' if col == 1 else col} domain", x=0.98, y=0.98, showarrow=False,
                           xanchor="right", yanchor="top", align="right", font=dict(size=11),
                           bgcolor="rgba(255,255,255,0.85)")
    fig.update_xaxes(title_text="share of pixels changed", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text=f"p({plain(label)})", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(title=dict(text=f"{title}: deletion and insertion (RISE)", font=dict(size=14)), height=360,
                      margin=dict(l=10, r=10, t=80, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def top_classes(top: list[tuple[str, float]], title: str, highlight: int | None = None) -> go.Figure:
    """Horizontal bars of [(class name, probability)], highest on top; `highlight` (index in `top`) in red.

    Class names and the title may be user text (a trained model's classes, a file name) and are escaped.
    """
    labels = [plain(name) for name, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    colours = ["#d62728" if highlight is not None and i == len(top) - 1 - highlight else "#1f77b4"
               for i in range(len(top))]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", text=[f"{p:.1%}" for p in probs],
                           textposition="auto", marker_color=colours, hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(title=plain(title), xaxis_title="probability", xaxis_range=[0, 1], height=90 + 36 * len(top),
                      margin=dict(l=10, r=10, t=40, b=10))
    fig.update_yaxes(type="category")
    return fig
