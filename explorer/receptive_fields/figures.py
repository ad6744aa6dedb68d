"""Figures of the receptive-fields page: growth with depth, one unit's box on the photo, the layer's map
(clickable), the effective field, and the lecture's toy stack. Data in, figure out.

The figures are plain-dict specs wrapped in `RawFigure` (explorer.convolution.figures): plotly's
validation costs ~100 ms per figure, more than the whole click-to-box budget (≤ 150 ms server time).
Colour scales are therefore given as lists (plotly.js knows only a few by name). Layer names may come
from a student's own network and titles from file names: they are drawn through `safe_text.plain`.
"""

from __future__ import annotations

import numpy as np
import plotly.colors as pc

from explorer.figures.raw import RawFigure
from explorer.figures.images import data_uri
from explorer.figures.safe_text import plain
from explorer.receptive_fields.fields import LayerRF

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
BOX = "#e6194b"
#: At most this many clickable markers (SVG) on a layer's map; larger maps get one per 2, 3, … units.
MAX_MARKERS = 2500
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def _scale(colours: list[str]) -> list[list]:
    """A plotly colour-scale list. Streamlit's theme uses #000001…#00000n as placeholders for its own colours
    (Inferno starts at #000004, which turned pink), so near-black colours are nudged off them."""
    colours = ["#000000" if c.lower().startswith("#00000") else c for c in colours]
    return [[i / (len(colours) - 1), c] for i, c in enumerate(colours)]


def _rect(box: tuple[float, float, float, float], **line) -> dict:
    """A layout rectangle around inclusive pixel box (top, left, bottom, right)."""
    top, left, bottom, right = box
    return {"type": "rect", "x0": left - 0.5, "x1": right + 0.5, "y0": top - 0.5, "y1": bottom + 0.5,
            "line": line}


def _pixel_axes(x_range: list[float], y_range: list[float], x_title: str, y_title: str) -> dict:
    """Axes in pixel coordinates, rows downwards, square pixels."""
    return {"xaxis": {"range": x_range, "showgrid": False, "zeroline": False, "title": {"text": x_title}},
            "yaxis": {"range": y_range, "showgrid": False, "zeroline": False, "title": {"text": y_title},
                      "scaleanchor": "x"}}


def growth_figure(series: dict[str, list[LayerRF]], input_side: int) -> RawFigure:
    """Field size against depth, one line per network (the first one also gets its jump), with the input side.

    Args:
        series: title -> `receptive_fields(...)` of that network, the main network first.
        input_side: the input size drawn as a horizontal line (px); ★ marks each network's first layer
            whose field is at least that large.

    Global poolings (1×1 maps) are left out: they see the whole image, and their "field" is the span of
    every unit below them, which would read as a sudden jump.
    """
    data = []
    for i, (title, fields) in enumerate(series.items()):
        fields = [f for f in fields if f.output_size != (1, 1) or f.input_size == (1, 1)]  # no global pooling:
        colour, name = _COLOURS[i % len(_COLOURS)], plain(title)  # its field is "everything", not a size
        sizes = [max(f.size) for f in fields]
        custom = [[plain(f.name), f.kind, f"{f.size[0]}×{f.size[1]}", f"{f.jump[0]:g}",
                   f"{f.output_size[0]}×{f.output_size[1]}",
                   "; sees the whole image through a global average" if f.global_context else ""] for f in fields]
        data.append({
            "type": "scatter", "x": [f.depth for f in fields], "y": sizes, "mode": "lines+markers", "name": name,
            "customdata": custom, "line": {"color": colour, "width": 2 if i == 0 else 1.5},
            "marker": {"size": 7 if i == 0 else 5, "color": colour,
                       "symbol": ["circle-open" if f.global_context else "circle" for f in fields]},
            "hovertemplate": (f"<b>{name}</b><br>%{{customdata[0]}} (%{{customdata[1]}})<br>depth %{{x}}: field "
                              "%{customdata[2]} px, jump %{customdata[3]} px, map %{customdata[4]}%{customdata[5]}"
                              "<extra></extra>")})
        first = next((f for f, s in zip(fields, sizes) if s >= input_side), None)
        if first is not None:
            data.append({"type": "scatter", "x": [first.depth], "y": [max(first.size)], "mode": "markers",
                         "showlegend": False, "hoverinfo": "skip",
                         "marker": {"symbol": "star", "size": 15, "color": colour,
                                    "line": {"color": "white", "width": 1}}})
        if i == 0:
            data.append({"type": "scatter", "x": [f.depth for f in fields], "y": [f.jump[0] for f in fields],
                         "mode": "lines", "yaxis": "y2", "name": f"{name}: jump (right axis)",
                         "line": {"color": colour, "dash": "dot", "shape": "hv"},
                         "hovertemplate": "depth %{x}: jump %{y:g} px<extra></extra>"})
    layout = {
        "title": {"text": "Receptive field against depth (★ first layer whose field is as large as the input)"},
        "xaxis": {"title": {"text": "depth: convolutions on the longest path from the input"}},
        "yaxis": {"title": {"text": "receptive field (px)"}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "jump (px, log scale)"}, "overlaying": "y", "side": "right", "type": "log",
                   "dtick": float(np.log10(2)), "showgrid": False},
        "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": input_side, "y1": input_side,
                    "line": {"color": "#555", "dash": "dash"}}],
        "annotations": [{"xref": "paper", "x": 0, "y": input_side, "yanchor": "bottom", "xanchor": "left",
                         "showarrow": False, "text": f"input: {input_side} px", "font": {"size": 11}}],
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0}, "height": 460, "margin": _MARGIN,
        "hovermode": "closest"}
    return RawFigure({"data": data, "layout": layout})


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


def unit_figure(seen: np.ndarray, box: tuple[int, int, int, int], title: str, subtitle: str = "",
                earlier: list[tuple[int, int, int, int]] = ()) -> RawFigure:
    """The model's input with one unit's box; the part of the box outside the image (zero padding) hatched.

    Args:
        seen: uint8 [H, W, 3], what the model sees (pixel (r, c) centred at x = c, y = r).
        box: (top, left, bottom, right), inclusive, possibly beyond the image.
        title, subtitle: e.g. the layer and unit, and which photo (user text: drawn literally).
        earlier: boxes of earlier layers around the same point, drawn dotted (the growth).
    """
    h, w = seen.shape[:2]
    top, left, bottom, right = box
    x0, x1 = min(left, 0) - 0.5, max(right, w - 1) + 0.5
    y0, y1 = min(top, 0) - 0.5, max(bottom, h - 1) + 0.5
    margin = 0.03 * max(x1 - x0, y1 - y0)
    xs, ys = [], []
    for r0, r1, c0, c1 in _outside(box, h, w):  # the box minus the image: up to four bands of padding
        xs += [c0 - 0.5, c1 + 0.5, c1 + 0.5, c0 - 0.5, c0 - 0.5, None]
        ys += [r0 - 0.5, r0 - 0.5, r1 + 0.5, r1 + 0.5, r0 - 0.5, None]
    data = [{"type": "image", "source": data_uri(seen, "jpeg"), "x0": 0, "y0": 0, "dx": 1, "dy": 1,
             "hoverinfo": "skip"}]
    if xs:  # (plotly draws scatter traces above images, so the hatching only covers the padding bands)
        data.append({"type": "scatter", "x": xs, "y": ys, "fill": "toself", "mode": "lines", "line": {"width": 0},
                     "hoverinfo": "skip", "fillcolor": "rgba(120,120,120,0.25)", "showlegend": False,
                     "fillpattern": {"shape": "/", "fgcolor": "rgba(80,80,80,0.6)", "size": 8}})
    data.append({"type": "scatter", "x": [(left + right) / 2], "y": [(top + bottom) / 2], "mode": "markers",
                 "showlegend": False, "marker": {"symbol": "x-thin", "size": 12, "line": {"color": BOX, "width": 2}},
                 "hovertemplate": "field centre: row %{y:g}, col %{x:g}<extra></extra>"})
    shapes = ([_rect((0, 0, h - 1, w - 1), color="#333", width=1)]
              + [_rect(b, color="rgba(255,255,255,0.85)", width=1, dash="dot") for b in earlier]
              + [_rect(box, color=BOX, width=3)])
    layout = {"title": {"text": plain(title), "subtitle": {"text": plain(subtitle)}}, "height": 460,
              "margin": {**_MARGIN, "t": 70}, "plot_bgcolor": "white", "dragmode": False, "shapes": shapes,
              **_pixel_axes([x0 - margin, x1 + margin], [y1 + margin, y0 - margin], "column (px)", "row (px)")}
    return RawFigure({"data": data, "layout": layout})


def map_figure(values: np.ndarray, unit: tuple[int, int], title: str, colorbar: str = "activation") -> RawFigure:
    """A layer's map [H', W'] as a heat map, the chosen unit outlined; each unit carries a clickable marker.

    Selecting a marker (st.plotly_chart(on_select=...)) reports x = col, y = row.
    """
    h, w = values.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / MAX_MARKERS))))
    rows, cols = np.meshgrid(np.arange(0, h, step), np.arange(0, w, step), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    height = 420
    cell = max(3, int(0.8 * (height - 90) / max(h, w)) * step)
    data = [
        {"type": "heatmap", "z": values.astype(np.float32), "colorscale": "Viridis", "hoverinfo": "skip",
         "colorbar": {"title": {"text": colorbar}}},
        {"type": "scatter", "x": cols, "y": rows, "mode": "markers", "showlegend": False,
         "customdata": values[rows, cols].astype(np.float32),
         "marker": {"size": cell, "symbol": "square", "color": "rgba(255,255,255,0.01)"},
         "selected": {"marker": {"opacity": 1}}, "unselected": {"marker": {"opacity": 1}},
         "hovertemplate": "unit (row %{y}, col %{x}): %{customdata:.3g}<extra>click to pick</extra>"}]
    layout = {"title": {"text": plain(title)}, "height": height, "margin": _MARGIN, "clickmode": "event+select",
              "dragmode": False, "shapes": [_rect((unit[0], unit[1], unit[0], unit[1]), color=BOX, width=3)],
              **_pixel_axes([-0.5, w - 0.5], [h - 0.5, -0.5], "column", "row")}
    return RawFigure({"data": data, "layout": layout})


def erf_figure(erf: np.ndarray, box: tuple[int, int, int, int], centre: tuple[float, float], side: int,
               title: str) -> RawFigure:
    """An effective receptive field [H, W] (sums to 1) with the theoretical box (dashed) and the centred
    square holding the chosen share of it (solid), zoomed on the box within the image."""
    h, w = erf.shape
    top, left, bottom, right = box
    r0, r1 = max(top, 0), min(bottom, h - 1)
    c0, c1 = max(left, 0), min(right, w - 1)
    peak = float(erf.max()) or 1.0
    half = side / 2
    data = [{"type": "heatmap", "z": (erf / peak).astype(np.float32), "colorscale": _scale(pc.sequential.Inferno),
             "zmin": 0, "zmax": 1, "colorbar": {"title": {"text": "gradient<br>(share of max)"}},
             "hovertemplate": "row %{y}, col %{x}: %{z:.3f} of the peak<extra></extra>"}]
    shapes = [_rect(box, color="#4da3ff", width=2, dash="dash"),
              {"type": "rect", "x0": centre[1] - half, "x1": centre[1] + half, "y0": centre[0] - half,
               "y1": centre[0] + half, "line": {"color": "white", "width": 2}}]
    layout = {"title": {"text": plain(title)}, "height": 400, "margin": _MARGIN, "shapes": shapes,
              **_pixel_axes([c0 - 0.5, c1 + 0.5], [r1 + 0.5, r0 - 0.5], "column (px)", "row (px)")}
    return RawFigure({"data": data, "layout": layout})


def toy_figure(counts: list[np.ndarray], sizes: list[int]) -> RawFigure:
    """The toy stack's field growing layer by layer: one frame per layer, the number of paths from each input
    pixel to the centre unit of that layer (blank: no path). Play/slider run in the browser."""
    side = counts[-1].shape[0]
    text = side <= 25

    def heat(z: np.ndarray) -> dict:
        cells = [[int(v) if v > 0 else None for v in row] for row in z]
        trace = {"type": "heatmap", "z": cells, "colorscale": _scale(pc.sequential.Blues), "showscale": False, "xgap": 1, "ygap": 1,
                 "zmin": 0, "hovertemplate": "row %{y}, col %{x}: %{z} paths<extra></extra>"}
        if text:
            trace["texttemplate"] = "%{z}"
        return trace

    names = [f"layer {i + 1}" for i in range(len(counts))]
    titles = [f"after {n}: the centre unit sees {s}×{s} input pixels (number = paths from that pixel)"
              for n, s in zip(names, sizes)]
    frames = [{"data": [heat(z)], "name": n, "layout": {"title": {"text": t}}}
              for z, n, t in zip(counts, names, titles)]
    layout = {
        "title": {"text": titles[-1]}, "height": 520, "margin": _MARGIN, "plot_bgcolor": "white",
        "updatemenus": [{"type": "buttons", "showactive": False, "x": 0, "y": -0.06, "xanchor": "left",
                         "yanchor": "top",
                         "buttons": [{"label": "▶ grow", "method": "animate",
                                      "args": [None, {"frame": {"duration": 900, "redraw": True},
                                                      "fromcurrent": False, "transition": {"duration": 0}}]}]}],
        "sliders": [{"active": len(counts) - 1, "x": 0.12, "y": -0.02, "len": 0.88,
                     "currentvalue": {"prefix": "showing "},
                     "steps": [{"label": n, "method": "animate",
                                "args": [[n], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}]}
                               for n in names]}],
        **_pixel_axes([-0.5, side - 0.5], [side - 0.5, -0.5], "input column", "input row")}
    return RawFigure({"data": [heat(counts[-1])], "layout": layout, "frames": frames})
