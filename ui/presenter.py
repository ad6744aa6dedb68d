"""Presenter mode (issue 21): `?present=1` in a teacher's link shows a page for a projector.

The intro is folded away, the sidebar starts collapsed (the router reads the same address key), the few settings
the picture needs sit beside it, and chart text is at least `explorer.figures.large_text.MIN_PX` px. The address
value is checked by `ui.address.flag` (an unusable one: one sentence, and the normal view).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.figures import layout
from explorer.figures.large_text import enlarged
from explorer.figures.raw import RawFigure
from ui import address

KEY = "present"  # the address key


def on() -> bool:
    """Whether this page run is in presenter mode (`?present=1`)."""
    return address.flag(KEY, "presenter mode")


def sidebar_state() -> str:
    """The router's `initial_sidebar_state`: collapsed in presenter mode (read before the address check runs)."""
    return "collapsed" if address.flag_value(st.query_params.get_all(KEY)) else "auto"


def section(number: int, title: str) -> str:
    """A section heading: "2 · Maps side by side", or without its number in presenter mode, where a page may show
    its sections in another order (the picture first)."""
    return title if on() else f"{number} · {title}"


def intro(text: str) -> None:
    """The page's introduction (markdown): as it is, or folded into an expander in presenter mode."""
    if on():
        with st.expander("About this page"):
            st.markdown(text)
    else:
        st.markdown(text)


def active() -> bool:
    """Whether presenter mode is on, without a second sentence about an unusable value (`on` says it once)."""
    return bool(address.flag_value(st.query_params.get_all(KEY)))


#: Characters of a chart title per line in presenter mode on a chart as wide as the main column (the sidebar
#: folded): at 150% zoom about 750 CSS px, about 68 characters of an 18 px title.
PRESENTED_TITLE_CHARS = 68
#: Less room above the title in presenter mode (Streamlit leaves 6rem): the picture moves up by 64 px.
STYLE = '<style>[data-testid="stMainBlockContainer"] { padding-top: 2rem; }</style>'


def style() -> None:
    """The page's style in presenter mode (call once per run, from the router)."""
    if active():
        st.html(STYLE)


def figure(fig: go.Figure, share: float = 1.0, fit: int | None = None) -> go.Figure:
    """`fig` as the page shows it: in presenter mode with every font at least 18 px (and at most `fit` px tall, so
    that it ends on the first 1280×720 screen), and its title wrapped to fit a chart `share` of the main column wide
    at 150% zoom (`layout.wrapped_title`). A copy when anything changes (a `RawFigure`); the figure given (often a
    shared, cached one) is unchanged. A plain `go.Figure` is turned into its dict first."""
    present = active()
    chars = max(14, int((PRESENTED_TITLE_CHARS if present else layout.TITLE_CHARS) * share))
    if not isinstance(fig, RawFigure):
        if not present and len(fig.layout.title.text or "") <= chars:
            return fig
        fig = RawFigure(fig.to_dict())
    raw = enlarged(fig) if present else fig  # first: the wrapped lines' height follows the enlarged font
    spec = layout.wrapped_title(raw.spec, chars)
    if present and fit is not None and spec.get("layout", {}).get("height", fit) > fit:
        spec = {**spec, "layout": {**spec["layout"], "height": fit}}
    return raw if spec is raw.spec else RawFigure(spec)


def aside() -> DeltaGenerator:
    """Where the settings a projected page rarely needs go (the image picker): the sidebar in presenter mode, which
    starts collapsed, so that the picture comes first; the page itself otherwise."""
    return st.sidebar if active() else st.container()
