"""Figures as plain dicts: Plotly figures that skip Plotly's per-property validation.

Plotly validates and deep-copies every property set on a `go.Figure` (`update_layout`, `add_trace`,
frames). For a figure rebuilt on a click that costs far more than drawing the numbers themselves
(2.6 s for 256 small animation frames), and under a class it was about 14% of the server's GIL time
(issue 17). `RawFigure(spec)` carries a prebuilt plain-dict spec straight to `st.plotly_chart`.
"""

from __future__ import annotations

import plotly.graph_objects as go


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
