"""A session's place in a class, and what the router does about it on every run (before and after the page).

`before_page` reads the two address keys of class mode, both hostile input like every key:
`class` (a join code, `codes.normalize_code`) and `teacher` (a teacher secret, `codes.valid_secret`).
A wrong or ended code gets one sentence and the ordinary app. A teacher link with the right secret
makes this tab the presenter (taking the class back from any other tab) and opens the class's current
view; its secret then leaves the address, so a projected address bar never shows it. A student who
follows is brought to the teacher's view whenever it changed (`_follow`); a student's edited address
changes only their own screen, since nothing a student does is ever published.

`after_page` runs when the page has finished (or stopped): the teacher's tab publishes its page and
address when they changed (one scheduler write), and every class session records where it is for the
poller (`ui.classroom.poller`).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import NoReturn

import streamlit as st

from explorer.classroom import codes, store, views
from explorer.runtime import cluster
from ui.classroom import hooks
from ui.classroom import own as own_mod
from ui.classroom.poller import POLLER, Seat, target

log = logging.getLogger(__name__)

STATE = "cls_member"
TOUCH_S = 60.0
MAX_REDIRECTS = 3  # a redirect that keeps missing the teacher's view (it should never) stops after this many  # the teacher's activity is recorded at most this often when nothing changes
BAD_CODE = "This join link has no valid class code: check the code on the projector."
NO_CLASS = "There is no class with the code {code}: check the code on the projector."
ENDED = "This class has ended: the app is yours to explore."
BAD_TEACHER = "This teacher link is not valid for a running class, so this tab does not present it."
MOVED = "This class is now presented from another tab (the teacher link was opened again)."
NO_CLUSTER = "Class mode is not available right now (the server's job cluster did not answer): try again shortly."


@dataclass
class Member:
    """This session's place in a class (kept in `st.session_state[STATE]`).

    Attributes:
        code: the class's join code.
        teacher: True in the presenting teacher's tab (which knows the secret).
        secret: the teacher secret (teacher only), for the teacher link.
        seat: a random token naming this tab (teacher only): the class records which tab presents.
        following: a student's choice: True to follow, False to explore on their own.
        applied: the teacher's view version this student's page shows (None: not yet).
        version, published, touched: the teacher's last published version, view ("page?query") and
            activity time.
        previous: the student's address at the end of their last run.
        own: what the student keeps while following.
        redirects: redirects to the teacher's view in a row that did not land there (bounded by MAX_REDIRECTS).
    """

    code: str
    teacher: bool = False
    secret: str = ""
    seat: str = ""
    following: bool = True
    applied: int | None = None
    version: int = 0
    published: str | None = None
    touched: float = 0.0
    previous: views.Params = field(default_factory=dict)
    own: own_mod.Own = field(default_factory=own_mod.Own)
    redirects: int = 0


def member() -> Member | None:
    """This session's membership, if it is in a class."""
    return st.session_state.get(STATE)


def start_class(name: str) -> Member:
    """Make a class presented by this tab (the home page's "Start a class")."""
    seat = secrets.token_hex(8)
    state, secret = store.create(cluster.engine().client, name, seat)
    me = Member(state.code, teacher=True, secret=secret, seat=seat)
    st.session_state[STATE] = me
    POLLER.refresh()
    return me


def end_class(me: Member) -> None:
    """End the class this tab presents."""
    try:
        store.end(cluster.engine().client, me.code)
    except (OSError, TimeoutError):
        st.warning(NO_CLUSTER, icon=":material/cloud_off:")
        return
    leave(me)


def leave(me: Member, sentence: str | None = None) -> None:
    """Leave the class (the ordinary app again), saying `sentence` once if given."""
    st.session_state.pop(STATE, None)
    POLLER.forget(hooks.current_run()[0])
    if views.CLASS_KEY in st.query_params:
        del st.query_params[views.CLASS_KEY]
    if sentence:
        st.session_state["cls_notice"] = sentence


def _arrive(pages: dict[str, str]) -> Member | None:
    """Act on the address's class keys; return this session's membership (None: the ordinary app)."""
    me = member()
    raw_code, raw_secret = st.query_params.get(views.CLASS_KEY), st.query_params.get(views.TEACHER_KEY)
    if raw_secret is not None:
        del st.query_params[views.TEACHER_KEY]  # never left in an address bar
        code, secret = codes.normalize_code(raw_code), codes.valid_secret(raw_secret)
        state = POLLER.state(code, max_age=0) if code and secret else None
        if state is not None and state.live() and codes.secret_matches(secret, state.secret_hash):
            _present(state, secret, pages)
        st.session_state["cls_notice"] = BAD_TEACHER
    if raw_code is None or (me is not None and me.code == codes.normalize_code(raw_code) and not me.teacher):
        return me
    if me is not None and me.teacher:  # a teacher's tab never becomes a student's: the code leaves its address
        del st.query_params[views.CLASS_KEY]
        return me
    code = codes.normalize_code(raw_code)
    state = POLLER.state(code, max_age=0) if code else None
    if state is None or not state.live():
        del st.query_params[views.CLASS_KEY]
        st.session_state["cls_notice"] = (BAD_CODE if code is None else NO_CLASS.format(code=code) if state is None
                                          else ENDED)
        return None
    me = Member(code)
    st.session_state[STATE] = me
    return me


def _present(state: store.ClassState, secret: str, pages: dict[str, str]) -> NoReturn:
    """This tab takes the class over with its secret, and opens the class's current view."""
    seat = secrets.token_hex(8)
    store.take_seat(cluster.engine().client, state.code, seat)
    POLLER.refresh()
    me = Member(state.code, teacher=True, secret=secret, seat=seat, version=state.view.version,
                published=f"{state.view.page}?{views.encode(state.view.params)}")
    st.session_state[STATE] = me
    st.session_state["cls_announce"] = True
    hooks.redirect(pages.get(state.view.page, pages[""]), views.encode(state.view.params))


def before_page(pages: dict[str, str]) -> tuple[Member, store.ClassState] | None:
    """The router's first step on every run: join, take over, follow; (membership, class) or None.

    Args:
        pages: {url path: page script hash} of the navigation.
    """
    joined = _place(pages)
    notice = st.session_state.pop("cls_notice", None)  # after any redirect: shown on the run that lands
    if notice:
        st.info(notice, icon=":material/groups:")
    return joined


def _place(pages: dict[str, str]) -> tuple[Member, store.ClassState] | None:
    try:
        me = _arrive(pages)
        state = POLLER.state(me.code) if me is not None else None
    except (OSError, TimeoutError):  # the scheduler cannot be asked: the ordinary app, and one sentence
        st.session_state["cls_notice"] = NO_CLUSTER
        return None
    if me is None:
        return None
    if state is None or not state.live():
        leave(me, ENDED)
        return None
    if me.teacher and state.seat != me.seat:
        leave(me, MOVED)
        return None
    if me.teacher and st.session_state.pop("cls_announce", False):
        hooks.announce_address()
    if not me.teacher:
        if me.following:
            _follow(me, state, pages)
        if st.query_params.get(views.CLASS_KEY) != me.code:  # a reload or a reconnect then follows again
            st.query_params[views.CLASS_KEY] = me.code
    return me, state


def _follow(me: Member, state: store.ClassState, pages: dict[str, str]) -> None:
    """Bring a following student to the teacher's view if it changed (or, during a pause, if they moved)."""
    page, params = target(state, me.own)
    _, page_hash, query = hooks.current_run()
    wanted = pages.get(page, pages[""])  # a page this replica does not have (another version): home
    there = page_hash == wanted and views.same(views.parse(query), params)
    if me.applied == state.view.version and (there or not state.paused):
        return
    if not there:
        if me.redirects < MAX_REDIRECTS:
            me.redirects += 1
            hooks.redirect(wanted, views.encode(params))
        me.applied, me.redirects = state.view.version, 0  # it never landed: leave this view as it is
        return
    # This run is on the teacher's page with the teacher's address: the widgets that the address binds
    # (and the hand-bound model pickers) start from it. Their values from the previous view are dropped first.
    keys = list(st.session_state.keys())
    stale = hooks.bound_keys(keys) | ({*params, *me.previous} & set(keys))
    for key in stale - {STATE, views.CLASS_KEY}:
        del st.session_state[key]
    me.applied, me.redirects = state.view.version, 0
    hooks.announce_address()


def follow_again(me: Member) -> None:
    """ "Follow again": back to the teacher's current view on the next run."""
    me.following, me.applied = True, None


def explore(me: Member) -> None:
    """ "Explore on my own": the student's changes stay on their screen only."""
    me.following = False


def after_page(pages: dict[str, str], joined: tuple[Member, store.ClassState] | None) -> None:
    """The router's last step: the teacher publishes a changed view; every class session records where it is."""
    if joined is None or member() is not joined[0]:
        return
    me, state = joined
    session_id, page_hash, _ = hooks.current_run()
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    page = next((p for p, h in pages.items() if h == page_hash), "")
    if me.teacher:
        publish(me, page, params)
    else:
        me.previous = params
        me.own = own_mod.observe(me.own, page, params)
    POLLER.register(Seat(session_id, me.code, me.teacher, me.following, pages, page_hash, views.encode(params),
                         hooks.context_info(), me.own, state.poke_key()))


def publish(me: Member, page: str, params: views.Params) -> None:
    """Publish the teacher's view if it changed since the last time (else record activity once a minute)."""
    view = views.View(page, views.shared(params))
    stamp = f"{view.page}?{views.encode(view.params)}"
    client = cluster.engine().client
    try:
        if stamp != me.published:
            store.publish(client, me.code, replace(view, version=me.version + 1))
            me.version += 1
            me.published, me.touched = stamp, time.time()
        elif time.time() - me.touched > TOUCH_S:
            store.touch(client, me.code)
            me.touched = time.time()
    except (OSError, TimeoutError):  # the scheduler did not answer: the next run publishes again
        log.warning("class %s: could not publish the teacher's view", me.code, exc_info=True)
