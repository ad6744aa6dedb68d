"""The router's two calls for class mode (streamlit_app.py): `before` the page runs and `after` it.

`before` joins or takes over a class from the address, brings a follower to the teacher's view
(which may stop this run and start the right one), and draws the student's banner or the teacher's
sidebar; `after` publishes the teacher's view and tells the poller where the session is.
"""

from __future__ import annotations

import streamlit as st

from explorer.classroom import store
from ui.classroom import banner, hooks, session, teacher


def before(pages: list[st.Page]) -> tuple[session.Member, store.ClassState] | None:
    """Class mode before the page runs; returns (membership, class) while this session is in a class.

    Nothing outside a Streamlit run (a process that the side process spawns re-executes the router).
    """
    if not hooks.in_run():
        return None
    hashes = hooks.page_hashes(pages)
    joined = session.before_page(hashes)
    if joined is not None:
        me, state = joined
        if me.teacher:
            teacher.sidebar(me, state, hashes)
        else:
            banner.student_banner(me, state)
    return joined


def after(pages: list[st.Page], joined: tuple[session.Member, store.ClassState] | None) -> None:
    """Class mode once the page has run (or stopped)."""
    if joined is None:
        return
    session.after_page(hooks.page_hashes(pages), joined)
