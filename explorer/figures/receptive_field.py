"""Figures of the receptive-fields page: growth with depth, one unit's box on the photo, the layer's map
(clickable), the effective field, and the lecture's toy stack. Data in, go.Figure out.

Layer names may come from a student's own network; they are drawn through `safe_text.plain`.
"""

from __future__ import annotations

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from explorer.figures.images import data_uri
from explorer.figures.safe_text import plain
from explorer.receptive_field import LayerRF

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
BOX = "#e6194b"
#: At most this many clickable markers on a layer's map (larger maps get one per 2, 3, … units).
MAX_MARKERS = 4096


def growth_figure(series: dict[str, list[LayerRF]], input_side: int, selected: str | None = None) -> go.Figure:
    """Field size against depth, one line per network (the first one also gets its jump), with the input side.

    Args:
        series: title -> `receptive_fields(...)` of that network, the main network first.
        input_side: the input size drawn as a horizontal line (px).
        selected: a layer of the first network to ring.
    """
    fig = go.Figure()
    for i, (title, fields) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        sizes = [max(f.size) for f in fields]
        custom = [[plain(f.name), f.kind, f"{f.size[0]}×{f.size[1]}", f"{f.jump[0]:g}",
                   f"{f.output_size[0]}×{f.output_size[1]}",
                   "; sees the whole image through a global average" if f.global_context else ""] for f in fields]
        fig.add_trace(go.Scatter(
            x=[f.depth for f in fields], y=sizes, mode="lines+markers", name=plain(title), customdata=custom,
            line=dict(color=colour, width=2 if i == 0 else 1.5),
            marker=dict(size=7 if i == 0 else 5, color=colour,
                        symbol=["circle-open" if f.global_context else "circle" for f in fields]),
            hovertemplate=(f"<b>{plain(title)}</b><br>%{{customdata[0]}} (%{{customdata[1]}})<br>depth %{{x}}: "
                           "field %{customdata[2]} px, jump %{customdata[3]} px, map %{customdata[4]}"
                           "%{customdata[5]}<extra></extra>")))
        first = next((f for f, s in zip(fields, sizes) if s >= input_side), None)
        if first is not None:
            fig.add_trace(go.Scatter(
                x=[first.depth], y=[max(first.size)], mode="markers", showlegend=False, hoverinfo="skip",
                marker=dict(symbol="star", size=15, color=colour, line=dict(color="white", width=1))))
        if i == 0:
            fig.add_trace(go.Scatter(
                x=[f.depth for f in fields], y=[f.jump[0] for f in fields], mode="lines", yaxis="y2",
                line=dict(color=colour, dash="dot", shape="hv"), name=f"{plain(title)}: jump (right axis)",
                hovertemplate="depth %{x}: jump %{y:g} px<extra></extra>"))
            chosen = next((f for f in fields if f.name == selected), None)
            if chosen is not None:
                fig.add_trace(go.Scatter(
                    x=[chosen.depth], y=[max(chosen.size)], mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=BOX, width=3))))
    fig.add_hline(y=input_side, line=dict(color="#555", dash="dash"),
                  annotation_text=f"input: {input_side} px", annotation_position="top left")
    fig.update_layout(
        title="Receptive field against depth (★ first layer whose field is as large as the input)",
        xaxis_title="depth: convolutions on the longest path from the input",
        yaxis=dict(title="receptive field (px)", rangemode="tozero"),
        yaxis2=dict(title="jump (px, log scale)", overlaying="y", side="right", type="log", dtick=np.log10(2),
                    showgrid=False),
        legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0), height=460,
        margin=dict(l=10, r=10, t=50, b=10), hovermode="closest")
    return fig


def unit_figure(seen: np.ndarray, box: tuple[int, int, int, int], title: str,
                earlier: list[tuple[int, int, int, int]] = ()) -> go.Figure:
    """The model's input with one unit's box; the part of the box outside the image (zero padding) hatched.

    Args:
        seen: uint8 [H, W, 3], what the model sees (pixel (r, c) centred at x = c, y = r).
        box: (top, left, bottom, right), inclusive, possibly beyond the image.
        earlier: boxes of earlier layers around the same point, drawn faintly (the growth).
    """
    h, w = seen.shape[:2]
    top, left, bottom, right = box
    x0, x1 = min(left, 0) - 0.5, max(right, w - 1) + 0.5
    y0, y1 = min(top, 0) - 0.5, max(bottom, h - 1) + 0.5
    margin = 0.03 * max(x1 - x0, y1 - y0)
    fig = go.Figure()
    xs, ys = [], []
    for r0, r1, c0, c1 in _outside(box, h, w):  # the box minus the image: up to four bands of padding
        xs += [c0 - 0.5, c1 + 0.5, c1 + 0.5, c0 - 0.5, c0 - 0.5, None]
        ys += [r0 - 0.5, r0 - 0.5, r1 + 0.5, r1 + 0.5, r0 - 0.5, None]
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", mode="lines", line=dict(width=0), hoverinfo="skip",
                                 fillcolor="rgba(120,120,120,0.25)", showlegend=False,
                                 fillpattern=dict(shape="/", fgcolor="rgba(80,80,80,0.6)", size=8)))
    fig.add_trace(go.Image(source=data_uri(seen, "jpeg"), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    fig.add_shape(type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, line=dict(color="#333", width=1))
    for t, lft, b, r in earlier:
        fig.add_shape(type="rect", x0=lft - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                      line=dict(color="rgba(255,255,255,0.8)", width=1, dash="dot"))
    fig.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                  line=dict(color=BOX, width=3))
    fig.add_trace(go.Scatter(x=[(left + right) / 2], y=[(top + bottom) / 2], mode="markers", showlegend=False,
                             marker=dict(symbol="x-thin", size=12, line=dict(color=BOX, width=2)),
                             hovertemplate="field centre: row %{y:g}, col %{x:g}<extra></extra>"))
    fig.update_xaxes(range=[x0 - margin, x1 + margin], showgrid=False, zeroline=False, title="column (px)")
    fig.update_yaxes(range=[y1 + margin, y0 - margin], showgrid=False, zeroline=False, title="row (px)",
                     scaleanchor="x")
    fig.update_layout(title=plain(title), height=460, margin=dict(l=10, r=10, t=50, b=10),
                      plot_bgcolor="white", dragmode=False)
    return fig


def _outside(box: tuple[int, int, int, int], h: int, w: int) -> list[tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) bands, inclusive, of `box` that lie outside an h×w image."""
    top, left, bottom, right = box
    bands = []
    if top < 0:
        bands.append((top, min(-1, bottom), left, right))
    if bottom >= h:
        bands.append((max(h, top), bottom, left, right))
    r0, r1 = max(top, 0), min(bottom, h - 1)
    if r0 <= r1:
        if left < 0:
            bands.append((r0, r1, left, min(-1, right)))
        if right >= w:
            bands.append((r0, r1, max(w, left), right))
    return bands


def map_figure(values: np.ndarray, unit: tuple[int, int], title: str, colorbar: str = "activation") -> go.Figure:
    """A layer's map [H', W'] as a heat map, the chosen unit outlined; each unit carries a clickable marker.

    Selecting a marker (st.plotly_chart(on_select=...)) reports x = col, y = row.
    """
    h, w = values.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / MAX_MARKERS))))
    rows, cols = np.meshgrid(np.arange(0, h, step), np.arange(0, w, step), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    height = 420
    cell = max(3, int(0.8 * (height - 90) / max(h, w)) * step)
    fig = go.Figure(go.Heatmap(z=values, colorscale="Viridis", hoverinfo="skip", colorbar=dict(title=colorbar)))
    fig.add_trace(go.Scattergl(
        x=cols, y=rows, mode="markers", customdata=np.stack([rows, cols, values[rows, cols]], axis=1),
        marker=dict(size=cell, symbol="square", color="rgba(255,255,255,0.01)"), showlegend=False,
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
        hovertemplate="unit (row %{customdata[0]}, col %{customdata[1]}): %{customdata[2]:.3g}"
                      "<extra>click to pick</extra>"))
    r, c = unit
    fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color=BOX, width=3))
    fig.update_xaxes(range=[-0.5, w - 0.5], showgrid=False, zeroline=False, title="column")
    fig.update_yaxes(range=[h - 0.5, -0.5], showgrid=False, zeroline=False, title="row", scaleanchor="x")
    fig.update_layout(title=plain(title), height=height, margin=dict(l=10, r=10, t=50, b=10), clickmode="event+select",
                      dragmode=False)
    return fig


def erf_figure(erf: np.ndarray, box: tuple[int, int, int, int], centre: tuple[float, float], side: int,
               title: str) -> go.Figure:
    """An effective receptive field [H, W] (sums to 1) with the theoretical box (dashed) and the centred
    square holding the chosen share of it (solid), zoomed on the box within the image."""
    h, w = erf.shape
    top, left, bottom, right = box
    r0, r1 = max(top, 0), min(bottom, h - 1)
    c0, c1 = max(left, 0), min(right, w - 1)
    peak = float(erf.max()) or 1.0
    inferno = pc.sequential.Inferno  # an explicit list: Streamlit's theme replaces named scales
    scale = [[i / (len(inferno) - 1), c] for i, c in enumerate(inferno)]
    fig = go.Figure(go.Heatmap(z=erf / peak, colorscale=scale, zmin=0, zmax=1,
                               colorbar=dict(title="gradient<br>(share of max)"),
                               hovertemplate="row %{y}, col %{x}: %{z:.3f} of the peak<extra></extra>"))
    fig.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                  line=dict(color="#4da3ff", width=2, dash="dash"))
    half = side / 2
    fig.add_shape(type="rect", x0=centre[1] - half, x1=centre[1] + half, y0=centre[0] - half, y1=centre[0] + half,
                  line=dict(color="white", width=2))
    fig.update_xaxes(range=[c0 - 0.5, c1 + 0.5], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[r1 + 0.5, r0 - 0.5], showgrid=False, zeroline=False, scaleanchor="x")
    fig.update_layout(title=plain(title), height=400, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def toy_figure(counts: list[np.ndarray], sizes: list[int]) -> go.Figure:
    """The toy stack's field growing layer by layer: one frame per layer, the number of paths from each input
    pixel to the centre unit of that layer (blank: no path). Play/slider run in the browser."""
    side = counts[-1].shape[0]
    text = side <= 25

    def heat(z: np.ndarray) -> go.Heatmap:
        z = np.where(z > 0, z, np.nan).astype(float)
        return go.Heatmap(z=z, colorscale="Blues", showscale=False, xgap=1, ygap=1, zmin=0,
                          text=z if text else None, texttemplate="%{z:.0f}" if text else None,
                          hovertemplate="row %{y}, col %{x}: %{z:.0f} paths<extra></extra>")

    names = [f"layer {i + 1}" for i in range(len(counts))]
    titles = [f"after {n}: the centre unit sees {s}×{s} input pixels (number = paths from that pixel)"
              for n, s in zip(names, sizes)]
    fig = go.Figure(data=[heat(counts[-1])],
                    frames=[go.Frame(data=[heat(z)], name=n, layout=dict(title=t))
                            for z, n, t in zip(counts, names, titles)])
    fig.update_layout(
        title=titles[-1], height=520, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white",
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=-0.06, xanchor="left", yanchor="top",
                          buttons=[dict(label="▶ grow", method="animate",
                                        args=[None, dict(frame=dict(duration=900, redraw=True), fromcurrent=False,
                                                         transition=dict(duration=0))])])],
        sliders=[dict(active=len(counts) - 1, x=0.12, y=-0.02, len=0.88, currentvalue=dict(prefix="showing "),
                      steps=[dict(label=n, method="animate",
                                  args=[[n], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                             for n in names])])
    fig.update_xaxes(range=[-0.5, side - 0.5], showgrid=False, zeroline=False, title="input column")
    fig.update_yaxes(range=[side - 0.5, -0.5], showgrid=False, zeroline=False, title="input row", scaleanchor="x")
    return fig
