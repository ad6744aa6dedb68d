"""Figures for a projector: every font of a plain-dict figure at least `MIN_PX` pixels (issue 21, presenter mode).

Read from the back of a lit classroom, the sliding window's 13 px digits and 10 px kernel subscripts are too
small. `enlarged` raises every font size the figure sets (traces' text, tick labels, titles, annotations, the
slider's labels, in the layout and in every animation frame) and the layout's default font, without touching the
cached figure it is given.
"""

from __future__ import annotations

import copy
import re

from explorer.figures.raw import RawFigure

MIN_PX = 18  # the smallest chart text a back row reads on a 1280×720 projector
_FONTS = {"font", "textfont", "tickfont", "titlefont", "insidetextfont", "outsidetextfont"}
LEGEND_DROP = 0.12  # how much lower (in plot heights) a legend under the plot goes, past 18 px axis text
_AXIS = re.compile(r"[xy]axis\d*|coloraxis\d*")
_SCALED = {"heatmap", "contour", "histogram2d", "histogram2dcontour"}  # traces that draw a colour bar of their own


def _titled(owner: dict, min_px: int) -> None:
    """Give the title of `owner` (a layout, axis or colour bar) an explicit font size: a plain-string title
    becomes {"text": ...}."""
    title = owner.get("title")
    if isinstance(title, str):
        owner["title"] = title = {"text": title}
    if isinstance(title, dict):
        title.setdefault("font", {}).setdefault("size", min_px)
        if isinstance(title.get("subtitle"), dict):  # plotly draws a subtitle at 0.7 × the title's size
            title["subtitle"].setdefault("font", {}).setdefault("size", min_px)


def _explicit(spec: dict, min_px: int) -> None:
    """Explicit sizes where the figure leaves them to the template: Streamlit's theme template sets chart titles
    to 16 px, axis titles to 14 and tick labels to 12, and a template's sizes win over the layout's font."""
    layout = spec["layout"]
    layout.setdefault("xaxis", {})
    layout.setdefault("yaxis", {})
    _titled(layout, min_px)
    legend = layout.setdefault("legend", {})
    legend.setdefault("font", {}).setdefault("size", min_px)
    if legend.get("orientation") == "h" and isinstance(legend.get("y"), (int, float)) and legend["y"] < 0:
        legend["y"] -= LEGEND_DROP  # below the plot: clear of the taller tick labels and axis title
    for key, axis in list(layout.items()):
        if _AXIS.fullmatch(key) and isinstance(axis, dict):
            owner = axis.setdefault("colorbar", {}) if key.startswith("color") else axis
            owner.setdefault("tickfont", {}).setdefault("size", min_px)
            _titled(owner, min_px)
    for trace in spec.get("data", []):
        bar = trace.get("colorbar") if trace.get("type") not in _SCALED else trace.setdefault("colorbar", {})
        marker_bar = (trace.get("marker") or {}).get("colorbar")
        for owner in (bar, marker_bar):
            if isinstance(owner, dict):
                owner.setdefault("tickfont", {}).setdefault("size", min_px)
                _titled(owner, min_px)


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
    _explicit(spec, min_px)
    _raise(spec, min_px)
    return RawFigure(spec)


def stacked_menus(fig: RawFigure, row_px: int = 50) -> RawFigure:
    """`fig` with its button menus over the plot on two rows: the first menu alone on the lower row, the others
    above it, the first of them at the left and the last at the right (a copy; `fig` is not changed).

    With 18 px text (or at 150% browser zoom) three menus on one row overlap: the conv page's play, step and speed
    buttons did. The figure grows by `row_px` at the top to make room; its plot area keeps its size.
    """
    spec = copy.deepcopy(fig.spec)
    layout = spec.get("layout", {})
    menus = layout.get("updatemenus", [])
    if len(menus) < 2:
        return RawFigure(spec)
    margin = layout.setdefault("margin", {})
    top = margin.get("t", 100)
    plot_px = max(1, layout.get("height", 450) - top - margin.get("b", 80))
    margin["t"] = top + row_px
    layout["height"] = layout.get("height", 450) + row_px
    upper = 1.0 + row_px / plot_px  # paper coordinates: one row higher
    menus[0].update(x=0.0, xanchor="left", y=1.0, yanchor="bottom")
    for i, menu in enumerate(menus[1:]):
        last = i == len(menus) - 2
        menu.update(x=1.0 if last else 0.0, xanchor="right" if last else "left", y=upper, yanchor="bottom")
    return RawFigure(spec)


def one_row(fig: RawFigure, hidden: int, row_px: int = 50) -> RawFigure:
    """`fig` (with `stacked_menus`' two rows) back on one row: menu `hidden` hidden, the first menu at the left and
    the last at the right of the row just above the plot, and the figure `row_px` shorter (a shallow copy; menus
    keep their indices, which the animation frames address). For a wide projector screen, where two groups of
    buttons fit side by side even at 150% zoom once the speed menu is gone."""
    spec = fig.spec
    layout = dict(spec.get("layout", {}))
    menus = [dict(menu) for menu in layout.get("updatemenus", [])]
    for i, menu in enumerate(menus):
        if i == hidden:
            menu["visible"] = False
        else:
            last = i == len(menus) - 1
            menu.update(x=1.0 if last else 0.0, xanchor="right" if last else "left", y=1.0, yanchor="bottom")
    layout["updatemenus"] = menus
    _shorter(layout, "t", 100, row_px)
    return RawFigure({**spec, "layout": layout})


def without_slider(fig: RawFigure, bottom_px: int = 10) -> RawFigure:
    """`fig` without its slider, its bottom margin `bottom_px` and its height as much smaller (a shallow copy: the
    frames are shared, `fig` is not changed). For a projector, where the play and step buttons are enough and the
    picture must end on the first screen."""
    spec = fig.spec
    layout = dict(spec.get("layout", {}))
    layout.pop("sliders", None)
    _shorter(layout, "b", 80, max(0, dict(layout.get("margin", {})).get("b", 80) - bottom_px))
    return RawFigure({**spec, "layout": layout})


def _shorter(layout: dict, side: str, default: float, px: float) -> None:
    """Take `px` off the `side` margin of `layout` (plotly's `default` when unset) and off its height, if set
    (`layout` is a copy: changed in place, its margin dict replaced)."""
    margin = dict(layout.get("margin", {}))
    margin[side] = max(0, margin.get(side, default) - px)
    layout["margin"] = margin
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] -= px


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
