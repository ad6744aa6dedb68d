"""What one click costs the server, per page and per widget (issue 17): one student clicking alone.

For each page, the bench opens the page (and the extra views in `VIEWS` that show hidden widgets),
then changes every widget the page shows, `--changes` times each, cycling through its options or
its range and ending on the value it started from. For every script run it records the server
process's CPU time (user + system, all threads: `cpu_seconds`), minus the idle background rate
measured before the page (the event loop's and Dask's ticks) times the run's wall time, and the wall time.

Clicks that are heavy by nature are marked and kept out of the page's median and p95: those that
start a background task (Compute, the sanity checks, the effective field) and a model switch that
has to build a model (its first use on this server). Uploads, the webcam, downloads and training
are not clicked.

Usage:
    .venv/bin/python bench/click_cost.py                          # `make run` on a free port, every page
    .venv/bin/python bench/click_cost.py --pages conv filters --changes 8
    .venv/bin/python bench/click_cost.py --url http://127.0.0.1:8501 --pages zoo   # a running server
    .venv/bin/python bench/click_cost.py --list                   # the widgets each view shows, no clicks
    .venv/bin/python bench/click_cost.py --profile gil            # py-spy --gil per page, then its summary
    .venv/bin/python bench/click_cost.py --pages attributions --keys at_rank --profile cpu   # one widget
    .venv/bin/python bench/click_cost.py --report bench/results/click-cost.csv   # the tables again, no server

It prints per page the median and p95 CPU ms of the ordinary clicks, and per widget key: n, CPU
median, CPU p95, the median CPU of the main thread (the event loop: messages, websocket, /media
requests) and wall median; then the heavy clicks. A CSV of every click goes to
bench/results/click-cost.csv. Targets (issue 17): median <= 40 ms and p95 <= 150 ms on every page.

CPU is read from the kernel's per-process CPU clock (nanoseconds; psutil's `cpu_times()` counts in
10 ms ticks, too coarse for one click). Other processes on the 2 shared cores inflate CPU times too
(measured: up to 2x for the same clicks at a load average of 10-15 rather than 4-7), and wall times
more: the CSV keeps the load average of every click, so compare runs at a similar load, or pool
several runs with --report.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import psutil
import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import RESULTS, Server  # noqa: E402
from collapsed import Profile  # noqa: E402
from streamlit_client import ProtocolError, RunResult, Session, Widget  # noqa: E402

PAGES = ("home", "conv", "filters", "receptive-fields", "architectures", "transfer", "attributions", "zoo")
#: Query strings of each page's views: the default view first, then views that show widgets it hides.
VIEWS: dict[str, tuple[str, ...]] = {
    "conv": ("", "ca_op=transposed+convolution&ca_stride=4"),  # output padding OP (below the stride)
    "filters": ("", "fk_kernel=Custom", "ff_layer=features.8.conv"),  # the custom kernel, a filter number
    "architectures": ("", "ar_tab=Compare+models", "ar_tab=Lecture+tables", "ar_tab=Calculators",
                      "ar_tab=Build+your+own"),
    "transfer": ("", "tl_src=Demo%3A+digits", "tl_strat=Fine-tune+the+last+N+blocks"),
    "attributions": ("", "at_rank=another+class"),
}
#: Element kinds the bench never changes: files, the webcam, downloads, charts and tables.
SKIP_KINDS = {"file_uploader", "camera_input", "download_button", "plotly_chart", "dataframe", "arrow_data_frame",
              "data_editor", "color_picker", "chat_input", "date_input", "time_input"}
#: Keys never clicked: training, and the Stop/Cancel buttons of tasks (they exist only while one runs).
SKIP_PREFIXES = ("tl_start", "tl_try_probe", "tl_stop", "tl_explain", "at_cancel", "rf_erf_stop", "img_upload")
#: Buttons and toggles that start Dask tasks (the toggle only when switched on).
TASK_KEYS = {"at_compute", "at_run_checks", "rf_erf_again"}
TASK_TOGGLES = {"rf_erf"}
#: Model pickers, and the models they visit (some loaded by the warm start, some not: a first switch is heavy).
MODEL_KEYS = {"fm_model", "model", "at_model", "rf_model", "tl_bb"}
MODEL_TOUR = ("efficientnet_lite1", "resnet18", "efficientnet_lite2", "mobilenet_v3_small", "efficientnet_lite1")
WARM_MODELS = {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}  # ui.warm loads them
#: Text inputs worth typing into (others are skipped): values a student would type.
TEXTS = {"fk_custom": ("1 1 1; 1 1 1; 1 1 1", "0 1 0; 1 -4 1; 0 1 0", "1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9",
                       "-1 -1 -1; -1 8 -1; -1 -1 -1", "1 2 1; 0 0 0; -1 -2 -1")}
SLIDER_STEPS = 64  # most grid points considered on a slider or bounded number input
NAN = float("nan")


# ----------------------------------------------------------------------------------- server CPU
def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread, the ended ones included) of process `pid`, to the nanosecond.

    The kernel's CPU clock of another process (clock_getcpuclockid): clock id (~pid << 3) | CPUCLOCK_SCHED.
    """
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except OSError:  # not Linux, or the process has ended
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


def thread_seconds(pid: int, tid: int) -> float:
    """CPU seconds of one thread (Linux schedstat: nanoseconds on a CPU); 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Reading:
    """CPU seconds of the web process, of its main thread (the event loop: websocket, HTTP, message
    queue) and of its child processes (the profiling helper) at one moment."""

    at: float
    web: float
    loop: float
    children: dict[int, float]

    def since(self, before: Reading) -> tuple[float, float, float, float]:
        """(wall s, web CPU s, event-loop CPU s, children CPU s) from `before` to this reading."""
        kids = sum(t - before.children.get(pid, 0.0) for pid, t in self.children.items())
        return self.at - before.at, self.web - before.web, self.loop - before.loop, kids


class ServerCpu:
    """Reads the CPU clocks of the server process and its descendants."""

    def __init__(self, proc: psutil.Process, pause: Callable[[float], None] = time.sleep) -> None:
        """`pause(seconds)`: how to wait between readings (the bench keeps its websocket answering pings)."""
        self.proc = proc
        self.pause = pause
        self.idle = (0.0, 0.0, 0.0)  # background CPU rate (cores): web process, its event loop, its children

    def read(self) -> Reading:
        children = {}
        for child in self.proc.children(recursive=True):
            try:
                children[child.pid] = cpu_seconds(child.pid)
            except (OSError, psutil.Error):
                continue
        pid = self.proc.pid
        return Reading(time.perf_counter(), cpu_seconds(pid), thread_seconds(pid, pid), children)

    def measure_idle(self, seconds: float) -> tuple[float, float, float]:
        """Background CPU rate (web, event loop, children) in cores, measured over `seconds` with nothing clicked."""
        before = self.read()
        self.pause(seconds)
        wall, *cpu = self.read().since(before)
        self.idle = tuple(c / wall for c in cpu)
        return self.idle

    def wait_quiet(self, timeout: float, below: float = 0.05, window: float = 1.0) -> float:
        """Wait until the web process and its children use less than `below` cores over two windows in a row
        (background tasks ended); returns the seconds waited. Gives up after `timeout` seconds."""
        start, quiet = time.perf_counter(), 0
        while time.perf_counter() - start < timeout and quiet < 2:
            before = self.read()
            self.pause(window)
            wall, web, _, kids = self.read().since(before)
            quiet = quiet + 1 if (web + kids) / wall < below else 0
        return time.perf_counter() - start

    def cost(self, before: Reading, after: Reading) -> tuple[float, float, float, float]:
        """(wall ms, web CPU ms, event-loop CPU ms, children CPU ms) between two readings, each less its idle
        rate times the wall time."""
        wall, *cpu = after.since(before)
        return (wall * 1e3, *((c - rate * wall) * 1e3 for c, rate in zip(cpu, self.idle)))


def server_process(url: str) -> psutil.Process:
    """The process listening on `url`'s port (for --url)."""
    port = urllib.parse.urlparse(url).port or 80
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process of this user listens on port {port}")


# ----------------------------------------------------------------------------------- the browser
class Tab(Session):
    """A `Session` that keeps what a click needs: each widget's proto (range, default), its value as the
    browser holds it, the fragment it lives in, tab labels and the spinners of the last run.

    A click sends only the widget it changes: the server keeps the others' values from the previous
    run, as the browser's copy does after callbacks reset them (a preset, another model's layers).
    A widget inside an `st.fragment` reruns only its fragment, as in the browser. Like the browser,
    the tab keeps the large ("cacheable") messages it received and lists their hashes in every
    request, so the server sends a reference instead of a message the tab already has; and it fetches
    only the pictures (/media URLs, named by their content) it has not fetched yet.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(base_url, timeout)
        self.protos: dict[str, Any] = {}
        self.fragments: dict[str, str] = {}
        self.tabs: dict[str, list[str]] = {}
        self.spinners: list[str] = []
        self.values: dict[str, Any] = {}  # each widget's value as the browser holds it (see `_read_delta`)
        self.cache: dict[str, ForwardMsg] = {}  # cacheable messages received, by hash
        self.fetched: set[str] = set()  # /media URLs already fetched
        self._tab_key = ""

    def set(self, key: str, value: Any) -> RunResult:
        widget = self._widget(key)
        self.states = {widget.id: self._state(widget, value)}
        self.values[key] = value
        return self._send(key)

    def click(self, key: str) -> RunResult:
        self.states = {}
        return self._send(key, [WidgetState(id=self._widget(key).id, trigger_value=True)])

    def _send(self, key: str, extra: list[WidgetState] = ()) -> RunResult:
        msg = self._rerun_msg(extra)
        fragment = self.fragments.get(key, "")
        msg.rerun_script.fragment_id = fragment
        return self._run(msg, keep_widgets=bool(fragment))

    def fetch_new_images(self, result: RunResult) -> None:
        """GET the run's pictures that this tab has not fetched yet (the browser keeps an unchanged <img>)."""
        new = [url for url in dict.fromkeys(result.images) if url not in self.fetched]
        self.fetched.update(new)
        self.fetch_images(RunResult(result.seconds, images=new))

    def drain(self, seconds: float) -> None:
        """Read (and drop) what the server sends for `seconds`: an unread socket stops answering the server's
        pings, and the server closes it after ~40 s (a heavy click's background work takes longer)."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.ws.settimeout(left)
            try:
                self.ws.recv()
            except websocket.WebSocketTimeoutException:
                return
            except (websocket.WebSocketException, OSError):  # lost: the next click reconnects
                time.sleep(max(0.0, end - time.perf_counter()))
                return

    def _context(self, msg: BackMsg) -> None:
        super()._context(msg)
        msg.rerun_script.cached_message_hashes.extend(self.cache)

    def _receive(self, deadline: float) -> ForwardMsg:
        msg = super()._receive(deadline)
        if msg.WhichOneof("type") == "ref_hash":  # a message this tab has: the cached copy, with the new metadata
            if msg.ref_hash not in self.cache:
                raise ProtocolError(f"reference to a message the tab does not have ({msg.ref_hash})")
            resolved = ForwardMsg()
            resolved.CopyFrom(self.cache[msg.ref_hash])
            resolved.metadata.CopyFrom(msg.metadata)
            return resolved
        if msg.metadata.cacheable:
            self.cache[msg.hash] = msg
        return msg

    def _run(self, msg: BackMsg, keep_widgets: bool = False) -> RunResult:
        self.spinners = []
        if not keep_widgets:
            self.protos, self.fragments, self.tabs = {}, {}, {}
        return super()._run(msg, keep_widgets)

    def _read_delta(self, fwd: ForwardMsg, result: RunResult) -> None:
        super()._read_delta(fwd, result)
        delta = fwd.delta
        which = delta.WhichOneof("type")
        if which == "add_block":
            block = delta.add_block
            if block.WhichOneof("type") == "tab_container" and block.tab_container.id:
                self._tab_key = block.tab_container.id.rsplit("-", 1)[-1]
                self.tabs[self._tab_key] = []
            elif block.WhichOneof("type") == "tab" and self._tab_key:
                self.tabs[self._tab_key].append(block.tab.label)
        elif which == "new_transient":
            self.spinners += [e.spinner.text for e in delta.new_transient.elements if e.WhichOneof("type") == "spinner"]
        elif which == "new_element":
            element = delta.new_element
            kind = element.WhichOneof("type")
            if kind == "spinner":
                self.spinners.append(element.spinner.text)
            widget_id = getattr(getattr(element, kind), "id", "") if kind else ""
            if widget_id.startswith("$$ID-") and widget_id.count("-") >= 2:
                key = widget_id.split("-", 2)[2]
                proto = self.protos[key] = getattr(element, kind)
                self.fragments[key] = delta.fragment_id
                # Like the browser, keep the value a widget first showed, or one the server sets: a widget whose
                # value lives in st.session_state is redrawn later with another default (its min), not its value.
                if getattr(proto, "set_value", False) or key not in self.values:
                    self.values[key] = shown_value(self.widgets[key], proto)


# ----------------------------------------------------------------------------------- what to click
def spread(candidates: list, count: int) -> list:
    """`count` items spread evenly over `candidates` (repeating them when there are fewer)."""
    if not candidates:
        return []
    if len(candidates) <= count:
        return [candidates[i % len(candidates)] for i in range(count)]
    return [candidates[round(i * (len(candidates) - 1) / max(1, count - 1))] for i in range(count)]


def numeric_grid(low: float, high: float, step: float) -> list[float]:
    """At most SLIDER_STEPS values from `low` to `high` on the widget's step grid."""
    step = step or 1
    n = round((high - low) / step)
    stride = max(1, -(-n // SLIDER_STEPS))
    return [round(low + i * step, 10) for i in range(0, n + 1, stride)]


def picker_value(options: list[str], model: str) -> str | None:
    """The option of a model picker that names `model` ("resnet18 (untrained here)")."""
    return next((o for o in options if o.split(" ")[0] == model), None)


def options_of(kind: str, proto: Any) -> list[str]:
    """A choice widget's option labels (a segmented control's are messages)."""
    return [o.content for o in proto.options] if kind == "button_group" else list(proto.options)


def shown_value(widget: Widget, proto: Any) -> Any:
    """The value a widget's proto shows, as the bench sends it: the one the server set (a preset, another
    model's defaults), else its default. None: no value (a selectbox without one) or a widget without value."""
    kind = widget.kind
    options = options_of(kind, proto) if kind in ("selectbox", "radio", "select_slider", "button_group",
                                                   "multiselect") else []
    if kind in ("selectbox", "radio"):
        return proto.raw_value if proto.HasField("raw_value") else (
            options[proto.default] if proto.HasField("default") else None)
    if kind == "select_slider":
        return list(proto.raw_value) if proto.set_value else [options[int(i)] for i in proto.default]
    if kind in ("button_group", "multiselect"):
        return list(proto.raw_values) if proto.set_value else [options[i] for i in proto.default]
    if kind == "slider":
        return list(proto.value if proto.set_value else proto.default)
    if kind in ("checkbox", "number_input"):
        value = proto.value if proto.set_value else proto.default
        return int(value) if widget.integer else value
    if kind == "text_input":
        return proto.value if proto.set_value else proto.default
    return None


def plan(tab: Tab, key: str, changes: int) -> tuple[str, list[Any]]:
    """(kind, values) to send to widget `key`: `changes` clicks, the last restoring the value it showed.

    Empty values: a widget the bench does not change.
    """
    widget, proto = tab.widgets[key], tab.protos.get(key)
    kind = widget.kind
    if kind in SKIP_KINDS or key.startswith(SKIP_PREFIXES) or proto is None and kind != "tabs":
        return kind, []
    if kind == "tabs":
        labels = tab.tabs.get(key, [])
        return kind, spread(labels[1:], changes - 1) + labels[:1]
    if kind == "button":
        return kind, [True] * (1 if key in TASK_KEYS else changes)
    start = tab.values.get(key)
    if kind == "checkbox":
        return kind, [(i % 2 == 0) != start for i in range(changes - 1)] + [start]
    if kind == "text_input":
        return kind, [*TEXTS[key][: changes - 1], start] if key in TEXTS else []
    if kind == "multiselect":
        return kind, subsets(options_of(kind, proto), start, changes)
    if kind in ("selectbox", "radio", "select_slider", "button_group"):
        if kind in ("select_slider", "button_group"):  # sent as a list of one label
            start = start[0] if start else None
        options = options_of(kind, proto)
        others = [o for o in options if o != start]
        if key in MODEL_KEYS:
            tour = [picker_value(options, m) for m in MODEL_TOUR]
            others = [o for o in tour if o and o != start] or others
        values = spread(others, changes - (start is not None)) + ([start] if start is not None else [])
        return kind, [[v] if kind in ("select_slider", "button_group") else v for v in values]
    if kind == "slider" and len(start) == 1:  # sent as a list of one number
        others = [v for v in numeric_grid(proto.min, proto.max, proto.step) if v != start[0]]
        return kind, [[v] for v in spread(others, changes - 1)] + [start]
    if kind == "number_input":  # typed: small moves around the value, within the widget's bounds if it has any
        step = proto.step or 1
        low = proto.min if proto.has_min else (1 if start >= 1 else 0)
        others = [v for v in (start + step, start + 2 * step, start - step, start + 4 * step, start + 3 * step)
                  if v >= low and (not proto.has_max or v <= proto.max)]
        values = spread(others, changes - 1) + [start]
        return kind, [int(v) for v in values] if widget.integer else values
    return kind, []


def subsets(options: list[str], start: list[str], changes: int) -> list[list[str]]:
    """Multiselect values: drop one, drop another, one only, add one, ... then back to `start`."""
    extra = [o for o in options if o not in start][:2]
    candidates = [start[:-1], start[1:], start[:1], start + extra[:1], start + extra, options[:2]]
    distinct = [c for i, c in enumerate(candidates) if c and c != start and c not in candidates[:i]]
    return spread(distinct, changes - 1) + [start]


def heavy_reason(key: str, value: Any, tab: Tab, loaded: set[str]) -> str:
    """Why a click is heavy by nature ("" for an ordinary one). `loaded`: models already built on the server."""
    if key in TASK_KEYS or key in TASK_TOGGLES and value is True:
        return "starts a Dask task"
    if key in MODEL_KEYS and isinstance(value, str):
        model = value.split(" ")[0]
        if model not in loaded:
            loaded.add(model)
            return f"first switch to {model}"
    if any("once per server" in s for s in tab.spinners):  # ui.models.loaded_model's spinner: a model is built
        return "builds a model"
    return ""


# ----------------------------------------------------------------------------------- measuring
@dataclass
class Click:
    """One script run and what it cost the server. Times in ms."""

    page: str
    view: str
    key: str  # "(open)" for opening the page
    kind: str
    value: str
    heavy: str  # why it is heavy by nature, "" for an ordinary click
    cpu_ms: float  # web process, idle rate subtracted
    children_ms: float  # its child processes (the profiling helper), idle rate subtracted
    wall_ms: float  # the script run as the client sees it (send -> script_finished)
    loop_ms: float = NAN  # of cpu_ms, the main thread's: the event loop (messages, websocket, /media requests)
    after_ms: float = 0.0  # heavy clicks: CPU of the background work after the run, until the server is quiet
    status: str = ""
    errors: int = 0  # st.error alerts on the page
    problem: str = ""  # an exception on the page, or the protocol error
    messages: int = 0
    kbytes: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average: other processes inflate CPU times too (shared cores)


@dataclass
class Bench:
    """The state of one bench run: the server, the tab, the clicks so far."""

    url: str
    cpu: ServerCpu
    changes: int
    timeout: float
    settle: float
    quiet_timeout: float
    skip_tasks: bool = False  # leave out the clicks that start Dask tasks (profiles of ordinary clicks)
    keys: set[str] = field(default_factory=set)  # only these widgets (all when empty)
    clicks: list[Click] = field(default_factory=list)
    loaded: set[str] = field(default_factory=lambda: set(WARM_MODELS))
    tab: Tab | None = None

    def __post_init__(self) -> None:
        self.cpu.pause = self.pause

    def pause(self, seconds: float) -> None:
        """Wait, keeping the tab's websocket read (and so alive)."""
        if self.tab is None:
            time.sleep(seconds)
        else:
            self.tab.drain(seconds)

    def connect(self) -> Tab:
        """A new tab (websocket session) in place of the current one."""
        if self.tab is not None:
            self.tab.close()
        self.tab = Tab(self.url, timeout=self.timeout)
        return self.tab

    def measure(self, page: str, view: str, key: str, kind: str, value: Any,
                action: Callable[[], RunResult]) -> Click:
        """Run `action()` (one script run) and record what it cost; a protocol error reconnects the tab."""
        before = self.cpu.read()
        try:
            result = action()
            self.tab.fetch_new_images(result)  # as the browser does: /media requests are server work too
            problem = result.exceptions[0][:160] if result.exceptions else ""
        except ProtocolError as exc:
            result, problem = RunResult(0.0), f"ProtocolError: {exc}"[:160]
        time.sleep(self.settle)  # work the server does after script_finished (session bookkeeping)
        wall, cpu, loop, kids = self.cpu.cost(before, self.cpu.read())
        heavy = heavy_reason(key, value, self.tab, self.loaded) if not problem.startswith("Protocol") else ""
        click = Click(page, view, key, kind, str(value)[:60], heavy, cpu, kids,
                      result.seconds * 1e3 if result.seconds else wall, loop_ms=loop, status=result.status,
                      errors=len(result.errors), problem=problem, messages=result.messages,
                      kbytes=result.bytes / 1e3, load=os.getloadavg()[0])
        if heavy:  # let its background work end, so that it is not billed to the next click
            start = self.cpu.read()
            self.cpu.wait_quiet(self.quiet_timeout)
            _, web, _, kids = self.cpu.cost(start, self.cpu.read())
            click.after_ms = web + kids
        if problem.startswith("Protocol"):
            self.connect()
            self.tab.open(page, view)
        self.clicks.append(click)
        return click

    def open(self, page: str, view: str) -> Click:
        return self.measure(page, view, "(open)", "page", view, lambda: self.tab.open(page, view))

    def page(self, page: str, idle_seconds: float) -> list[Click]:
        """Every view of `page`, every widget `changes` times; returns the page's clicks."""
        first = len(self.clicks)
        self.cpu.wait_quiet(self.quiet_timeout)
        web, loop, kids = self.cpu.measure_idle(idle_seconds)
        print(f"\n{page}: idle background {web * 1e3:.1f} ms/s (web, {loop * 1e3:.1f} of it the event loop) + "
              f"{kids * 1e3:.1f} ms/s (children); "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        if page == "home":
            for _ in range(self.changes):
                self.open(page, "")
        done: set[str] = set()
        for view in VIEWS.get(page, ("",)) if page != "home" else ():
            if self.keys and self.keys <= done:  # the widgets asked for are done: no more views
                break
            self.connect()  # a fresh tab per view: the widgets start from the link's values, as for a student
            self.open(page, view)
            for key in [k for k in self.tab.widgets if k not in done and (not self.keys or k in self.keys)]:
                if key not in self.tab.widgets:  # gone after an earlier widget's changes: start the view again
                    self.open(page, view)
                    if key not in self.tab.widgets:
                        continue
                kind, values = plan(self.tab, key, self.changes)
                if self.skip_tasks and (key in TASK_KEYS or key in TASK_TOGGLES):
                    values = [v for v in values if v is not True]
                if not values:
                    continue
                done.add(key)
                start = len(self.clicks)
                # A button, or a choice that had no value, cannot be put back: the view starts again afterwards.
                restores = kind == "tabs" or (kind != "button" and self.tab.values.get(key) is not None)
                for value in values:
                    if key not in self.tab.widgets:  # hidden by an error or another setting: start the view again
                        self.open(page, view)
                        if key not in self.tab.widgets:
                            break
                    action = (lambda k=key: self.tab.click(k)) if kind == "button" else (
                        lambda k=key, v=value: self.tab.set(k, v))
                    self.measure(page, view, key, kind, value, action)
                print(f"  {key:<16}{kind:<14}" + " ".join(f"{c.cpu_ms:.0f}" for c in self.clicks[start:]
                                                          if c.key == key), flush=True)
                if not restores:  # e.g. a preset changed the other settings: a fresh tab on the link's values
                    self.connect()
                    self.open(page, view)
        return self.clicks[first:]


# ----------------------------------------------------------------------------------- report
def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values` (NaNs left out); NaN for none."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return NAN
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table_row(name: str, clicks: list[Click]) -> str:
    """One line of the table: n, CPU p50 and p95, event-loop p50, wall p50, children p50, counts over 40 and
    150 ms, runs showing an error."""
    cpu = [c.cpu_ms for c in clicks]
    medians = [pct([getattr(c, f) for c in clicks], 0.5) for f in ("loop_ms", "wall_ms", "children_ms")]
    return (f"{name:<28}{len(cpu):>4}{pct(cpu, 0.5):>9.0f}{pct(cpu, 0.95):>9.0f}"
            + "".join(f"{m:>10.0f}" for m in medians)
            + f"{sum(v > 40 for v in cpu):>5}{sum(v > 150 for v in cpu):>5}{sum(c.errors > 0 for c in clicks):>5}")


def report(clicks: list[Click]) -> None:
    """The per-page and per-widget table, the heavy clicks, and the clicks over the targets."""
    pages: dict[str, list[Click]] = defaultdict(list)
    for c in clicks:
        pages[c.page].append(c)
    print(f"\n{'page / widget':<28}{'n':>4}{'CPU p50':>9}{'CPU p95':>9}{'loop p50':>10}{'wall p50':>10}"
          f"{'child p50':>10}{'>40':>5}{'>150':>5}{'err':>5}")
    print("  (ms, ordinary clicks. loop: the event loop's share of the CPU; child: the profiling process;"
          " >40, >150: clicks over; err: runs showing st.error)")
    every: list[Click] = []
    for page, runs in pages.items():
        plain = [c for c in runs if not c.heavy]
        every += plain
        cpu = [c.cpu_ms for c in plain]
        over = pct(cpu, 0.5) > 40 or pct(cpu, 0.95) > 150
        print(table_row(page, plain) + ("  over target" if over else ""))
        by_key: dict[str, list[Click]] = defaultdict(list)
        for c in plain:
            by_key[c.key].append(c)
        for key, group in by_key.items():
            print(table_row(f"  {key}"[:28], group))
    print(table_row("all pages", every))
    heavy = [c for c in clicks if c.heavy]
    if heavy:
        print("\nheavy by nature (not in the medians): CPU of the run, then of its background work")
        for c in heavy:
            print(f"  {c.page:<15}{c.key:<14}{c.value[:28]:<30}{c.cpu_ms:>7.0f} ms run {c.wall_ms:>7.0f} ms wall "
                  f"{c.after_ms:>8.0f} ms after  ({c.heavy})")
    for limit in (150, 40):
        over = sorted((c for c in clicks if not c.heavy and c.cpu_ms > limit), key=lambda c: -c.cpu_ms)
        print(f"\nordinary clicks over {limit} ms of CPU: {len(over)} of {len(clicks) - len(heavy)}")
        for c in over[:25 if limit == 150 else 0]:
            print(f"  {c.cpu_ms:>6.0f} ms  {c.page}/{c.key} = {c.value[:40]}" + (f"  [{c.problem[:60]}]"
                                                                                  if c.problem else ""))
    problems = [c for c in clicks if c.problem]
    if problems:
        print(f"\nruns with an exception or a protocol error: {len(problems)}")
        for c in problems[:10]:
            print(f"  {c.page}/{c.key} = {c.value[:30]}: {c.problem[:100]}")


def write_csv(clicks: list[Click], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([x.name for x in fields(Click)])
        writer.writerows([round(v, 2) if isinstance(v, float) else v for v in asdict(c).values()] for c in clicks)


def read_csv(path: Path) -> list[Click]:
    """The clicks of a CSV written by `write_csv` (columns missing in an older file take their defaults)."""
    types = {x.name: x.type for x in fields(Click)}  # "str", "float", "int" (postponed annotations)
    convert = {"float": float, "int": int, "str": str}
    with open(path, newline="") as f:
        return [Click(**{k: convert[types[k]](v) for k, v in row.items() if k in types}) for row in csv.DictReader(f)]


# ----------------------------------------------------------------------------------- py-spy
class PySpy:
    """`py-spy record` on the server for one page: raw collapsed stacks into bench/results/."""

    def __init__(self, mode: str, pid: int, page: str, rate: int, max_seconds: float) -> None:
        self.path = RESULTS / f"pyspy-{mode}-{page}.txt"
        exe = Path(sys.executable).with_name("py-spy")
        flags = {"gil": ["--gil"], "cpu": [], "idle": ["--idle"]}[mode]
        self.proc = subprocess.Popen([str(exe), "record", *flags, "-r", str(rate), "-f", "raw", "-o", str(self.path),
                                      "-p", str(pid), "-d", str(int(max_seconds))],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> Path:
        """Stop recording (SIGINT writes the file) and return its path."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        return self.path


# ----------------------------------------------------------------------------------- main
def list_widgets(bench: Bench, pages: list[str]) -> None:
    """Print the widgets of every view and what the bench would send them."""
    for page in pages:
        for view in VIEWS.get(page, ("",)):
            bench.connect()
            bench.tab.open(page, view)
            print(f"\n{page}?{view}")
            for key in bench.tab.widgets:
                kind, values = plan(bench.tab, key, bench.changes)
                where = " (fragment)" if bench.tab.fragments.get(key) else ""
                print(f"  {key:<18}{kind:<14}{where}{values if values else 'skipped'}"[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="+", default=list(PAGES), choices=PAGES)
    parser.add_argument("--changes", type=int, default=6, help="clicks per widget (the last restores its value)")
    parser.add_argument("--url", default=None, help="an already running server (default: start `make run`)")
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                        help="wait for the warm start to fill the shared caches before clicking (default: yes)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one script run may take")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured before each page")
    parser.add_argument("--settle", type=float, default=0.2, help="seconds counted after each run's end")
    parser.add_argument("--quiet-timeout", type=float, default=300.0,
                        help="seconds to wait for background tasks to end after a heavy click")
    parser.add_argument("--profile", choices=["gil", "cpu", "idle"], default=None,
                        help="record each page with py-spy (--gil, default, --idle) and summarize its stacks")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--keys", nargs="+", default=[], help="click only these widgets (e.g. to profile them)")
    parser.add_argument("--skip-tasks", action="store_true",
                        help="do not click what starts a Dask task (for profiles of the ordinary clicks)")
    parser.add_argument("--list", action="store_true", help="only list each view's widgets and planned values")
    parser.add_argument("--csv", type=Path, default=RESULTS / "click-cost.csv", help="where every click goes")
    parser.add_argument("--report", type=Path, nargs="+", default=None, metavar="CSV",
                        help="print the tables of earlier runs' CSVs (pooled) and exit (no server)")
    args = parser.parse_args()
    if args.report:
        report([click for path in args.report for click in read_csv(path)])
        return
    RESULTS.mkdir(exist_ok=True)
    server = None if args.url else Server()
    try:
        if server:
            print(f"`make run` answered after {server.wait_healthy():.0f} s", flush=True)
            if args.warm:
                print(f"warm start done after {server.wait_warm():.0f} s", flush=True)
        proc = server.process() if server else server_process(args.url)
        bench = Bench(args.url or server.url, ServerCpu(proc), args.changes, args.timeout, args.settle,
                      args.quiet_timeout, args.skip_tasks, set(args.keys))
        bench.connect()
        if args.list:
            list_widgets(bench, args.pages)
            return
        print(f"server pid {proc.pid}; load average {os.getloadavg()}", flush=True)
        for page in args.pages:
            spy = PySpy(args.profile, proc.pid, page, args.rate, 3600) if args.profile else None
            try:
                bench.page(page, args.idle)
            finally:
                if spy:
                    path = spy.stop()
                    profile = Profile.read(path)
                    profile = profile if args.profile == "gil" else profile.active()
                    profile.print_summary(f"{page} (py-spy {args.profile})", rate=args.rate)
            write_csv(bench.clicks, args.csv)
        bench.tab.close()
        report(bench.clicks)
        print(f"\nload average {os.getloadavg()}; every click: {args.csv}")
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
