"""Presenter mode (issue 21): `?present=1` in a teacher's link shows a page for a projector.

The intro is folded away, the sidebar starts collapsed (the router reads the same address key), the few settings
the picture needs sit beside it, and chart text is at least `explorer.figures.large_text.MIN_PX` px. The address
value is checked by `ui.address.flag` (an unusable one: one sentence, and the normal view).
"""

from __future__ import annotations

import streamlit as st

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


def intro(text: str) -> None:
    """The page's introduction (markdown): as it is, or folded into an expander in presenter mode."""
    if on():
        with st.expander("About this page"):
            st.markdown(text)
    else:
        st.markdown(text)


def figure(fig: RawFigure) -> RawFigure:
    """`fig` as the page shows it: with every font at least 18 px in presenter mode."""
    return enlarged(fig) if on() else fig
