"""Figures as plain dicts: Plotly figures that skip Plotly's per-property validation.

Plotly validates and deep-copies every property set on a `go.Figure` (`update_layout`, `add_trace`,
frames). For a figure rebuilt on a click that costs far more than drawing the numbers themselves
(2.6 s for 256 small animation frames), and under a class it was about 14% of the server's GIL time
(issue 17). `RawFigure(spec)` carries a prebuilt plain-dict spec straight to `st.plotly_chart`.

What go.Figure did on the way, the helpers here do once, at build time: named colour scales become
lists (`colorscale`), numpy and pandas arrays become plotly.js typed arrays (`typed`), make_subplots'
axes and titles are written out (`subplot_row`), and the trace colours of Streamlit's template are
named (`COLORWAY`), since a plain-dict figure carries no template.
"""

from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

#: The trace colours Streamlit's light theme gives a go.Figure through the template it adds to every figure
#: (its chartCategoricalColors). A plain-dict figure has no template: one whose traces take their colours
#: in turn sets these as its layout's `colorway`, so it looks as it did.
COLORWAY = ["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0",
            "#d5dae5"]

#: The colours Streamlit's template uses as placeholders, which its front end replaces wherever they occur.
_PLACEHOLDERS = {f"#0000{i:02d}" for i in range(1, 41)}

#: numpy dtype -> plotly.js typed-array type (plotly.js has no 64-bit integers).
_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
          "float32": "f4", "float64": "f8"}


class RawFigure(go.Figure):
    """A go.Figure that serialises a prebuilt plain-dict spec (data, layout, frames) as it is.

    plotly validates and deep-copies every trace and frame object (2.6 s for 256 small frames, and
    still ~100 ms with validation off); the page must recompute in ≤ 30 ms, so these figures skip that
    machinery. `to_dict()` (what st.plotly_chart, plotly.io.to_json and fig.show() serialise) returns
    the spec; read it through `.spec` (`.data`/`.layout` of the go.Figure itself stay empty).
    """

    def __init__(self, spec: dict):  # noqa: D107 (never runs the costly go.Figure.__init__, see __new__)
        pass

    def __new__(cls, spec: dict):
        # go.Figure() builds its validators on every construction (~10 ms); copy an empty one's state instead.
        obj = object.__new__(cls)
        obj.__dict__.update(_empty_state())
        object.__setattr__(obj, "_spec", spec)
        return obj

    @property
    def spec(self) -> dict:
        """The figure as plain dicts: {"data": [...], "layout": {...}, "frames": [...]}."""
        return self._spec

    @property
    def raw_frames(self) -> list[dict]:
        """The animation frames (name, traces, data, layout)."""
        return self._spec.get("frames", [])

    def to_dict(self) -> dict:
        return dict(self._spec)


_EMPTY: list[go.Figure] = []


def _empty_state() -> dict:
    if not _EMPTY:
        _EMPTY.append(go.Figure())
    return dict(_EMPTY[0].__dict__)


@lru_cache(maxsize=None)
def _named_scale(name: str) -> tuple[tuple[float, str], ...]:
    colours = [c for _, c in pc.get_colorscale(name)]
    # Streamlit replaces the strings #000001…#000040 anywhere in a figure with its theme's colours (they are
    # its template's placeholders): Inferno's #000004 turned its dark end light purple. Nudged to black.
    colours = ["#000000" if c.lower() in _PLACEHOLDERS else c for c in colours]
    return tuple((i / (len(colours) - 1), c) for i, c in enumerate(colours))


def colorscale(name: str) -> list[list]:
    """A plotly.py colour scale by name ("Viridis", "Inferno", "RdBu_r": `_r` reverses) as [[position, colour], …].

    The list go.Figure sends for the name (plotly.js knows only a few names, and its "RdBu" runs the other
    way), except that near-black #0000xx colours are drawn as #000000 (see `_named_scale`).
    """
    return [list(stop) for stop in _named_scale(name)]


def typed(values: object) -> dict | list:
    """A numeric numpy array or pandas Series as plotly.js's typed array: {"dtype", "bdata"[, "shape"]}.

    What go.Figure.to_dict() sends for numpy and pandas arrays: the raw bytes in base64 (a float64 takes
    about 11 characters instead of up to 24 in JSON text). 64-bit integers are narrowed to the smallest type
    that holds them, as plotly does; anything plotly.js has no type for (empty, text) stays a list.
    """
    a = np.asarray(values)
    if a.dtype == np.int64 and a.size:
        a = a.astype(next(t for t in (np.int8, np.int16, np.int32, np.int64)
                          if np.iinfo(t).min <= a.min() and a.max() <= np.iinfo(t).max))
    if a.dtype.name not in _TYPED or not a.size:
        return a.tolist()
    spec = {"dtype": _TYPED[a.dtype.name], "bdata": base64.b64encode(np.ascontiguousarray(a)).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in a.shape)
    return spec


def subplot_row(titles: list[str], spacing: float | None = None, shared_y: bool = False) -> dict:
    """The layout make_subplots(rows=1, cols=len(titles)) writes, as plain dicts; traces of panel i (from 1)
    name axes "x{i}"/"y{i}" ("x"/"y" for the first).

    Args:
        titles: one per panel, drawn above it (annotations in paper coordinates, font 16, as plotly's).
        spacing: the gap between panels as a share of the width (default 0.2 / panels, as make_subplots').
        shared_y: every y axis shows the first one's range (`matches`), with tick labels on the first only.

    Returns:
        {"xaxis": ..., "yaxis": ..., "xaxis2": ..., ..., "annotations": [...]}: merge the axes' own settings in.
    """
    n = len(titles)
    spacing = 0.2 / n if spacing is None else spacing
    width = (1.0 - spacing * (n - 1)) / n
    layout: dict = {}
    annotations = []
    for i, title in enumerate(titles):
        start = sum([width] * i) + i * spacing  # make_subplots' arithmetic, so the domains match it exactly
        domain = [start, start + width]
        suffix = str(i + 1) if i else ""
        layout["xaxis" + suffix] = {"anchor": "y" + suffix, "domain": domain}
        layout["yaxis" + suffix] = {"anchor": "x" + suffix, "domain": [0.0, 1.0]}
        if shared_y and i:
            layout["yaxis" + suffix].update(matches="y", showticklabels=False)
        annotations.append({"font": {"size": 16}, "showarrow": False, "text": title, "x": sum(domain) / 2.0,
                            "xanchor": "center", "xref": "paper", "y": 1.0, "yanchor": "bottom", "yref": "paper"})
    layout["annotations"] = annotations
    return layout
