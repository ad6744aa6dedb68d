"""The teacher's side of a class: "Start a class" and the join screen on the home page, and the sidebar's
live counts, pause and end.

The join screen is made for a projector: the code in big letters, the join link (`…/?class=CODE` on
the app's own address, as the teacher's browser reached it) and a QR code of it, drawn on the server
by the `qrcode` package (no web service). The teacher link (the join link plus the secret) sits in a
closed expander: whoever opens it presents the class.

The sidebar's counts are a fragment that reruns every `COUNT_S` seconds in the teacher's tab only;
it also publishes the teacher's view, so a change made inside a page's fragment (which reruns only
that fragment, not the router) reaches the students too.
"""

from __future__ import annotations

import html
from functools import lru_cache
from io import BytesIO
from urllib.parse import urlsplit, urlunsplit

import qrcode
import streamlit as st

from explorer.classroom import codes, store, views
from explorer.runtime import cluster
from ui.catalog import HOME, PAGES
from ui.classroom import hooks, session
from ui.classroom.banner import line
from ui.classroom.poller import POLLER

COUNT_S = 1.0  # the teacher's counts refresh (and fragment-made changes are published) this often

_BIG = ('<div style="text-align:center;line-height:1.15">'
        '<div style="font-size:1.3rem">Join at</div>'
        '<div style="font-size:clamp(1.1rem,2.1vw,2.2rem);font-weight:600;overflow-wrap:anywhere">{link}</div>'
        '<div style="font-size:1.3rem;margin-top:1.2rem">with the code</div>'
        '<div style="font-size:clamp(3rem,6.5vw,7.5rem);font-weight:800;letter-spacing:0.06em;white-space:nowrap;'
        'font-family:ui-monospace,monospace" data-testid="cls-code">{code}</div></div>')


def app_address() -> str:
    """The app's own address as the browser reached it, without the page or query ("http://host:8501");
    "" when the browser did not say (then the join link is relative)."""
    parts = urlsplit(st.context.url or "")
    path = parts.path.rstrip("/")
    if path.rsplit("/", 1)[-1] in {entry.url_path for entry in [HOME, *PAGES]}:
        path = path.rsplit("/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")) if parts.netloc else ""


def join_link(base: str, code: str) -> str:
    """The join link of class `code` on the app at `base`."""
    return f"{base}/?{views.CLASS_KEY}={code}"


@lru_cache(maxsize=16)
def qr_png(link: str) -> bytes:
    """A QR code of `link` as PNG bytes (black on white, with the quiet zone the standard asks for)."""
    image = qrcode.make(link, box_size=10, border=4)
    buf = BytesIO()
    image.save(buf)
    return buf.getvalue()


def join_screen() -> None:
    """The projector's join screen on the home page, while this tab presents a class."""
    me = session.member()
    if me is None or not me.teacher:
        return
    base = app_address()
    link = join_link(base, me.code)
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.html(_BIG.format(link=html.escape(link), code=html.escape(codes.display_code(me.code))))
    right.image(qr_png(link), caption="Scan to join", width=360)
    st.caption("Students who open the link follow your view: your page and every setting in your address, each "
               "on their own photo if they have one. Go to any page and teach; come back here to show the code.")
    with st.expander("Teacher link: present this class from another tab or device (keep it private)"):
        st.code(f"{link}&{views.TEACHER_KEY}={me.secret}", language=None, wrap_lines=True)
        st.caption("Whoever opens it presents the class; this tab then stops presenting. It is not in your "
                   "address bar, so the projector never shows it.")


def start_or_join() -> None:
    """The home page's class section: start a class, or join one by its code (nothing while in a class)."""
    if session.member() is not None:
        return
    st.subheader("In class")
    left, right = st.columns(2, gap="large")
    with left.container(border=True):
        st.markdown("**Start a class.** Students open your join link and follow your view live: your page and "
                    "settings, on their own photos.")
        name = st.text_input("Your name, as students see it", max_chars=codes.MAX_NAME, key="cls_name",
                             placeholder="e.g. Ms Rivera")
        if st.button("Start a class", key="cls_start", type="primary", icon=":material/co_present:"):
            try:
                session.start_class(name)
            except (OSError, TimeoutError):
                st.warning(session.NO_CLUSTER, icon=":material/cloud_off:")
            else:
                st.rerun()
    with right.container(border=True):
        st.markdown("**Join a class.** Type the code on the projector.")
        typed = st.text_input("Class code", max_chars=codes.MAX_CODE_INPUT, key="cls_code", placeholder="K7M-Q2P")
        if st.button("Join", key="cls_join", icon=":material/login:"):
            code = codes.normalize_code(typed)
            if code is None:
                st.error(f"A class code has {codes.CODE_LENGTH} letters and digits, such as K7M-Q2P.")
            else:
                st.query_params[views.CLASS_KEY] = code
                st.rerun()


@st.fragment(run_every=COUNT_S)
def _live(code: str, pages: dict[str, str]) -> None:
    """Live counts; publishes the teacher's view when a page fragment changed it."""
    me = session.member()
    if me is None or not me.teacher or me.code != code:
        return
    state = POLLER.state(code)
    following, exploring = state.counts() if state is not None else (0, 0)
    st.html(f'<div data-testid="cls-counts">{following} following · {exploring} exploring</div>')
    _, page_hash, _ = hooks.current_run()
    page = next((p for p, h in pages.items() if h == page_hash), "")
    session.publish(me, page, {k: st.query_params.get_all(k) for k in st.query_params})


def _pause(me: session.Member) -> None:
    try:
        store.set_paused(cluster.engine().client, me.code, bool(st.session_state["cls_pause"]))
    except (OSError, TimeoutError):
        st.warning(session.NO_CLUSTER, icon=":material/cloud_off:")


def sidebar(me: session.Member, state: store.ClassState, pages: dict[str, str]) -> None:
    """The presenting teacher's sidebar: the class, live counts, pause, the join screen, end."""
    if "cls_pause" not in st.session_state:
        st.session_state["cls_pause"] = state.paused
    with st.sidebar.container(border=True, key="cls_teacher"):
        line(f"Presenting class {codes.display_code(me.code)}", f" as {state.name}")
        _live(me.code, pages)
        st.toggle("Pause: eyes on the projector", key="cls_pause", on_change=_pause, args=(me,),
                  help="Disables every student's controls until you resume.")
        st.page_link(HOME.path, label="Show the join screen", icon=":material/qr_code_2:")
        st.button("End the class", key="cls_end", on_click=session.end_class, args=(me,),
                  icon=":material/logout:")
