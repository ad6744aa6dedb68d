"""What a student in a class sees above every page: whom they follow, "Explore on my own" / "Follow again",
and the teacher's pause, which disables every control until the teacher resumes.

The teacher's name is user text: it is shown through `st.html` escaped (`html.escape`), never as
markdown, so a name such as "[click](http://…)" or ":red[x]" is drawn exactly as typed.

The pause disables the controls in the browser (CSS: no pointer events, dimmed) and, for a following
student, on the server too: any change they still make (the keyboard) is undone at once, because the
router brings a follower back to the teacher's view whenever it differs during a pause.
"""

from __future__ import annotations

import html

import streamlit as st

from explorer.classroom import codes, store
from ui.classroom import session

#: The pause: no control of the page or the sidebar takes pointer events, and every control is dimmed.
PAUSE_CSS = """<style>
[data-testid="stMainBlockContainer"], [data-testid="stSidebar"] { pointer-events: none !important; }
[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]:has(input, button, textarea, [role="slider"]),
[data-testid="stSidebar"] [data-testid="stElementContainer"]:has(input, button, textarea, [role="slider"]),
[data-testid="stSidebarNav"] { opacity: 0.45; }
</style>"""

_LINE = ('<div style="font-size:1.05rem;line-height:1.5" data-testid="cls-banner-text">'
         '<span style="font-weight:600">{lead}</span>{rest}</div>')


def line(lead: str, rest: str = "") -> None:
    """One line of class text: `lead` in bold, then `rest`; both escaped here."""
    st.html(_LINE.format(lead=html.escape(lead), rest=html.escape(rest)))


def student_banner(me: session.Member, state: store.ClassState) -> None:
    """The line above a student's page (and, during a pause, the CSS that disables their controls)."""
    code = codes.display_code(me.code)
    if state.paused:
        st.html(PAUSE_CSS)
        with st.container(border=True, key="cls_paused"):
            line("Eyes on the projector: ", f"{state.name} paused the class. Your controls come back when it resumes.")
        return
    with st.container(border=True, key="cls_banner", horizontal=True, vertical_alignment="center"):
        if me.following:
            line(f"Following {state.name}'s view", f" · class {code}")
            st.button("Explore on my own", key="cls_explore", on_click=session.explore, args=(me,),
                      icon=":material/explore:", help="Your changes then stay on your screen only.")
        else:
            line("Exploring on your own", f" · class {code}: your changes stay on your screen.")
            st.button("Follow again", key="cls_follow", on_click=session.follow_again, args=(me,), type="primary",
                      icon=":material/podcasts:", help="Back to the teacher's current view.")
