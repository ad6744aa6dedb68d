"""Figures for a projector: every font of a plain-dict figure at least `MIN_PX` pixels (issue 21, presenter mode).

Read from the back of a lit classroom, the sliding window's 13 px digits and 10 px kernel subscripts are too
small. `enlarged` raises every font size the figure sets (traces' text, tick labels, titles, annotations, the
slider's labels, in the layout and in every animation frame) and the layout's default font, without touching the
cached figure it is given.
"""

from __future__ import annotations

import copy

from explorer.figures.raw import RawFigure

MIN_PX = 18  # the smallest chart text a back row reads on a 1280×720 projector
_FONTS = {"font", "textfont", "tickfont", "titlefont", "insidetextfont", "outsidetextfont"}


def _raise(node: object, min_px: int) -> None:
    """Raise, in place, the `size` of every font dict under `node` (a number, or one number per point)."""
    if isinstance(node, list):
        for item in node:
            _raise(item, min_px)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _FONTS and isinstance(value, dict) and "size" in value:
            size = value["size"]
            if isinstance(size, (int, float)):
                value["size"] = max(size, min_px)
            elif isinstance(size, list):
                value["size"] = [max(s, min_px) for s in size]
        _raise(value, min_px)


def enlarged(fig: RawFigure, min_px: int = MIN_PX) -> RawFigure:
    """A copy of `fig` whose every font is at least `min_px` px (the layout's default font included)."""
    spec = copy.deepcopy(fig.spec)
    layout = spec.setdefault("layout", {})
    font = layout.setdefault("font", {})
    font["size"] = max(font.get("size", 12), min_px)  # plotly's default is 12
    for trace in spec.get("data", []):  # a heatmap's cell text without a textfont is fitted to its cells, smaller
        if "texttemplate" in trace or "text" in trace:
            trace.setdefault("textfont", {}).setdefault("size", min_px)
    _raise(spec, min_px)
    return RawFigure(spec)


def smallest_font(fig: RawFigure) -> float:
    """The smallest font size the figure sets anywhere (12, plotly's default, when it sets none)."""
    sizes: list[float] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in _FONTS and isinstance(value, dict) and "size" in value:
                    size = value["size"]
                    sizes.extend(size if isinstance(size, list) else [size])
                walk(value)

    walk(fig.spec)
    return min(sizes, default=12)
