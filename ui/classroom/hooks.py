"""The few places where class mode reaches into Streamlit's runtime (checked against streamlit 1.67).

Following needs three things Streamlit has no public call for, and they all live here, so that a
Streamlit upgrade that moves them breaks this module only (the e2e class test drives every one):

- `rerun_session`: rerun *another* session from the poller thread, as if its browser had asked, with
  the teacher's page and address (`AppSession.request_rerun` with a `ClientState`, scheduled on the
  server's event loop: AppSession is not thread-safe). Nothing runs for a session until then: a
  follower's page costs nothing while the teacher's view stays the same.
- `redirect`: the same from inside a session's own run (joining, reconnecting, "Follow again").
- Both mark the run as a history navigation (`is_history_navigation`, what the browser's back and
  forward buttons send): every widget bound to the address (`bind="query-params"`) then takes its
  value from the address, and a parameter that is absent means the widget's default. `bound_keys`
  lists those widgets, so that the router can drop their old values first: a widget whose default
  depends on whether its key is in the session (the conv page's `_v`) then starts from its real default.
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.runtime.state import get_session_state


def in_run() -> bool:
    """True inside a Streamlit script run (False in a process that merely re-executes the script)."""
    return get_script_run_ctx() is not None


def current_run() -> tuple[str, str, str]:
    """(session id, page script hash, query string) of the run in progress ("", "", "" outside a run).

    The query string follows `st.query_params` changes made earlier in this run.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        return "", "", ""
    return ctx.session_id, ctx.page_script_hash, ctx.query_string


def context_info() -> bytes:
    """The browser's context of this run (time zone, locale, URL) as bytes, for `rerun_session` to pass on."""
    ctx = get_script_run_ctx()
    return ctx.context_info.SerializeToString() if ctx is not None and ctx.context_info is not None else b""


def bound_keys(keys: list[str]) -> set[str]:
    """The keys among `keys` that name a widget bound to the address (`bind="query-params"`) in this session."""
    with get_session_state().query_params() as qp:
        return {k for k in keys if qp.is_bound(k)}


def announce_address() -> None:
    """Send this run's address (`st.query_params` as it is now) to the browser's address bar.

    A rerun asked for by the server (`rerun_session`, `redirect`) changes the page shown and the
    widgets, but the browser keeps its old query string until it is told.
    """
    with get_session_state().query_params() as qp:
        qp._send_query_param_msg()  # noqa: SLF001 - what every st.query_params assignment calls


def redirect(page_hash: str, query: str) -> NoReturn:
    """Stop this run and run page `page_hash` with address `query` instead, as a history navigation."""
    ctx = get_script_run_ctx()
    ctx.script_requests.request_rerun(RerunData(
        query_string=query, page_script_hash=page_hash, is_history_navigation=True,
        context_info=ctx.context_info, cached_message_hashes=ctx.cached_message_hashes))
    st.empty()  # a yield point: the runner raises its RerunException here, before sending the element
    st.stop()


def session_active(session_id: str) -> bool:
    """True while the session's browser is connected to this server process."""
    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


def rerun_session(session_id: str, page_hash: str, query: str, context: bytes, navigate: bool) -> bool:
    """Rerun another session of this process with page `page_hash` and address `query` (from any thread).

    Args:
        context: `context_info()` recorded in one of that session's runs.
        navigate: True to make it a history navigation (the address decides every bound widget);
            False to rerun the view as it is (the widgets keep their values).

    Returns:
        False if the session is not connected here (nothing was asked).
    """
    if not Runtime.exists():
        return False
    session = Runtime.instance().get_app_session(session_id)
    if session is None:
        return False
    state = ClientState(query_string=query, page_script_hash=page_hash, is_history_navigation=navigate)
    if context:
        state.context_info.ParseFromString(context)
    # AppSession's methods belong to the server's event loop (Runtime.get_app_session's note).
    session._event_loop.call_soon_threadsafe(session.request_rerun, state)  # noqa: SLF001
    return True


def page_hashes(pages: list[st.Page]) -> dict[str, str]:
    """{url path ("" for the default page): page script hash} of the navigation's pages.

    The hash is Streamlit's md5 of the page's url path: the same in every process of one version.
    """
    return {page.url_path: page._script_hash for page in pages}  # noqa: SLF001
