"""A browser-less Streamlit client for load benchmarks: one websocket, the protocol the browser speaks.

The browser opens `/_stcore/stream`, sends a `BackMsg` whose `rerun_script` carries the page, the
query string and the state of every widget, and reads `ForwardMsg`s until `script_finished`.
`Session` does the same, so a benchmark measures exactly what a student waits for: the server's
script run, its messages on the wire and, when the page shows pictures, their `/media` fetches.
Widgets are addressed by their `key=` (Streamlit widget ids end with "-<key>"). Checked against
Chromium's own frames (Streamlit 1.67): same messages, same widget value types.

Used by `bench/classroom.py`; this is not a test and not part of the app.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import requests
import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"

#: Element type (the `Element` oneof) -> the `WidgetState` field the browser fills for it.
VALUE_TYPES = {
    "slider": "double_array_value", "select_slider": "string_array_value", "selectbox": "string_value",
    "radio": "string_value", "button_group": "string_array_value", "checkbox": "bool_value",
    "text_input": "string_value", "text_area": "string_value", "multiselect": "string_array_value",
    "button": "trigger_value", "file_uploader": "file_uploader_state_value", "color_picker": "string_value",
    "tabs": "string_value",
}


class ProtocolError(RuntimeError):
    """The server closed the socket, sent nothing in time, or the script did not finish."""


@dataclass
class Widget:
    """A widget seen in the last run: its id, element type and (for choices) its option labels."""
    id: str
    kind: str
    options: list[str] = field(default_factory=list)
    integer: bool = False  # number_input with an int data type


@dataclass
class RunResult:
    """One script run as the browser sees it. Times in seconds, sizes in bytes."""
    seconds: float
    messages: int = 0
    bytes: int = 0
    status: str = ""  # the `script_finished` value, e.g. "FINISHED_SUCCESSFULLY"
    exceptions: list[str] = field(default_factory=list)  # st.exception elements (tracebacks on the page)
    errors: list[str] = field(default_factory=list)  # st.error alerts
    texts: list[str] = field(default_factory=list)  # every alert's and markdown's text, errors included
    images: list[str] = field(default_factory=list)  # /media/... URLs of st.image elements
    fragment: tuple[float, str] | None = None  # (interval s, fragment id) of a run_every fragment


class Session:
    """One simulated browser tab.

    Args:
        base_url: e.g. "http://127.0.0.1:8501".
        timeout: seconds to wait for one script run before `ProtocolError`.
    """

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        # Sets the XSRF cookie, as in the browser, and behind `make run REPLICAS=N` the proxy's sticky cookie, which
        # this session's websocket, uploads and /media requests then carry: all reach one replica (named here).
        health = self.http.get(self.base_url + "/_stcore/health", timeout=timeout)
        self.replica = health.headers.get("X-Replica", "")  # = ui.replicas.proxy.REPLICA_HEADER; "" without a proxy
        self.xsrf = self.http.cookies.get(XSRF_COOKIE, "")
        ws_url = "ws" + self.base_url[4:] + "/_stcore/stream"
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.ws = websocket.create_connection(ws_url, timeout=timeout, subprotocols=["streamlit", self.xsrf],
                                              origin=self.base_url, cookie=cookie)
        self.session_id = ""
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.query = ""
        self.widgets: dict[str, Widget] = {}  # key -> widget of the current page
        self.states: dict[str, WidgetState] = {}  # widget id -> state sent with every rerun

    # -------------------------------------------------------------------- actions
    def open(self, page: str, query: str = "") -> RunResult:
        """Open `/page?query` in this tab (the first visit, or a click in the navigation)."""
        self.query, self.states, self.widgets = query, {}, {}
        msg = BackMsg()
        msg.rerun_script.query_string = query
        if page in self.pages:
            msg.rerun_script.page_script_hash = self.pages[page]
        else:
            msg.rerun_script.page_name = page
        msg.rerun_script.widget_states.SetInParent()
        self._context(msg)
        return self._run(msg)

    def set(self, key: str, value) -> RunResult:
        """Change widget `key` to `value` (a number, string, bool or list, as the widget takes) and rerun."""
        widget = self._widget(key)
        self.states[widget.id] = self._state(widget, value)
        return self._rerun()

    def click(self, key: str) -> RunResult:
        """Press button `key` (a trigger: sent once, then forgotten, as the browser does)."""
        widget = self._widget(key)
        trigger = WidgetState(id=widget.id, trigger_value=True)
        return self._rerun(extra=[trigger])

    def upload(self, key: str, name: str, data: bytes, mime: str = "application/octet-stream") -> RunResult:
        """Upload one file into file_uploader `key` (URL request, HTTP PUT with the XSRF token, rerun)."""
        widget = self._widget(key)
        req = BackMsg()
        request_id = uuid.uuid4().hex
        req.file_urls_request.request_id = request_id
        req.file_urls_request.file_names.append(name)
        req.file_urls_request.session_id = self.session_id
        self.ws.send_binary(req.SerializeToString())
        urls = None
        deadline = time.perf_counter() + self.timeout
        while urls is None:
            fwd = self._receive(deadline)
            if fwd.WhichOneof("type") == "file_urls_response" and fwd.file_urls_response.response_id == request_id:
                if fwd.file_urls_response.error_msg:
                    raise ProtocolError(fwd.file_urls_response.error_msg)
                urls = fwd.file_urls_response.file_urls[0]
        response = self.http.put(self.base_url + urls.upload_url if urls.upload_url.startswith("/") else urls.upload_url,
                                 files={"file": (name, data, mime)}, headers={"X-Xsrftoken": self.xsrf},
                                 timeout=self.timeout)
        if response.status_code >= 400:
            raise ProtocolError(f"upload refused: HTTP {response.status_code} {response.text[:120]}")
        state = WidgetState(id=widget.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, name, len(data)
        info.file_urls.CopyFrom(urls)
        self.states[widget.id] = state
        return self._rerun()

    def fragment(self, fragment_id: str) -> RunResult:
        """One automatic rerun of a `run_every` fragment, as the browser's timer sends it."""
        msg = self._rerun_msg()
        msg.rerun_script.fragment_id = fragment_id
        msg.rerun_script.is_auto_rerun = True
        return self._run(msg, keep_widgets=True)

    def fetch_images(self, result: RunResult) -> list[str]:
        """GET every image of a run; returns the URLs that failed."""
        failed = []
        for url in result.images:
            try:
                ok = self.http.get(self.base_url + url if url.startswith("/") else url, timeout=self.timeout).ok
            except requests.RequestException:
                ok = False
            if not ok:
                failed.append(url)
        return failed

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.http.close()

    # -------------------------------------------------------------------- protocol
    def _widget(self, key: str) -> Widget:
        if key not in self.widgets:
            raise ProtocolError(f"no widget with key {key!r} on this page (seen: {', '.join(sorted(self.widgets))})")
        return self.widgets[key]

    def _state(self, widget: Widget, value) -> WidgetState:
        state = WidgetState(id=widget.id)
        kind = "int_value" if widget.integer else VALUE_TYPES.get(widget.kind, "double_value")
        if kind.endswith("array_value"):
            getattr(state, kind).data.extend(value if isinstance(value, (list, tuple)) else [value])
        else:
            setattr(state, kind, value)
        return state

    def _context(self, msg: BackMsg) -> None:
        ctx = msg.rerun_script.context_info
        ctx.timezone, ctx.locale, ctx.color_scheme = "UTC", "en-US", "light"
        ctx.url = self.base_url

    def _rerun_msg(self, extra: list[WidgetState] = ()) -> BackMsg:
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_script_hash = self.page_hash
        msg.rerun_script.widget_states.widgets.extend([*self.states.values(), *extra])
        self._context(msg)
        return msg

    def _rerun(self, extra: list[WidgetState] = ()) -> RunResult:
        return self._run(self._rerun_msg(extra))

    def _receive(self, deadline: float) -> ForwardMsg:
        self.ws.settimeout(max(0.05, deadline - time.perf_counter()))
        try:
            frame = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            raise ProtocolError(f"no answer within {self.timeout:.0f} s") from None
        except (websocket.WebSocketException, OSError) as exc:
            raise ProtocolError(f"connection lost: {exc}") from None
        if not isinstance(frame, bytes):
            raise ProtocolError(f"unexpected text frame {frame[:80]!r}")
        msg = ForwardMsg.FromString(frame)
        self._bytes += len(frame)
        return msg

    def _run(self, msg: BackMsg, keep_widgets: bool = False) -> RunResult:
        self._bytes = 0
        start = time.perf_counter()
        deadline = start + self.timeout
        self.ws.send_binary(msg.SerializeToString())
        result = RunResult(0.0)
        if not keep_widgets:
            self.widgets = {}
        while True:
            fwd = self._receive(deadline)
            result.messages += 1
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.session_id = fwd.new_session.initialize.session_id or self.session_id
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
            elif kind == "navigation":
                for page in fwd.navigation.app_pages:
                    self.pages[page.url_pathname.strip("/") or page.page_name] = page.page_script_hash
                self.page_hash = fwd.navigation.page_script_hash or self.page_hash
            elif kind == "delta":
                self._read_delta(fwd, result)
            elif kind == "auto_rerun":
                result.fragment = (fwd.auto_rerun.interval, fwd.auto_rerun.fragment_id)
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "script_finished":
                result.status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                if fwd.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                           ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    break
                if fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:  # st.rerun(): another run follows
                    raise ProtocolError(f"script ended with {result.status}")
        result.seconds = time.perf_counter() - start
        result.bytes = self._bytes
        return result

    def _read_delta(self, fwd: ForwardMsg, result: RunResult) -> None:
        delta = fwd.delta
        if delta.WhichOneof("type") == "add_block":
            block = delta.add_block
            kind = block.WhichOneof("type")
            if kind == "tab_container" and block.tab_container.id:
                key = block.tab_container.id.rsplit("-", 1)[-1]
                self.widgets[key] = Widget(block.tab_container.id, "tabs")
            return
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            result.exceptions.append(f"{element.exception.type}: {element.exception.message}")
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            result.errors.append(element.alert.body)
        if kind == "alert":
            result.texts.append(element.alert.body)
        elif kind == "markdown":
            result.texts.append(element.markdown.body)
        elif kind == "imgs":
            result.images += [img.url for img in element.imgs.imgs if img.url.startswith("/media")]
        inner = getattr(element, kind) if kind else None
        widget_id = getattr(inner, "id", "") if inner is not None else ""
        if widget_id.startswith("$$ID-") and widget_id.count("-") >= 2:
            key = widget_id.split("-", 2)[2]
            options = list(getattr(inner, "options", []) or [])
            if kind == "slider" and inner.type == inner.SELECT_SLIDER:  # one proto, two widgets
                kind = "select_slider"
            integer = kind == "number_input" and inner.data_type == inner.INT
            self.widgets[key] = Widget(widget_id, kind, options, integer)
