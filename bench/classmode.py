"""Class-mode benchmark (issue 20): one teacher and N following students on one server started as `make run`.

Every participant speaks Streamlit's websocket protocol as the browser does (`bench/streamlit_client.py`):
the teacher starts a class on the home page (its join screen shows the code) and opens the conv page;
N students open the join link and are brought to the teacher's view; each student's socket is then
read by a thread of its own, which notes every script run the server starts for it (nobody clicks).
The teacher keeps its sidebar's live counts running as the browser would (the `run_every` fragment,
every second), and changes the stride `--changes` times, `--every` seconds apart.

It prints:
- **change to all followers**: for every change and every student, the seconds from the teacher's
  message to the end of the student's run that shows the new stride (p50, p95, max), how many
  students showed each change, and the server's CPU seconds per change (the teacher's run, every
  student's run, `--every` seconds of the teacher's fragment);
- **idle cost**: the server process's CPU (percent of one core) over `--idle` seconds with nobody
  doing anything but the teacher's tab, before the class (the server alone) and with the class in
  (then once more without the teacher's fragment, to tell its share); and how many runs the idle
  students got meanwhile (0: nothing reruns on a timer). The machine's load average is printed too:
  other processes on the same cores slow every figure down.
Targets: an idle teacher with 60 followers costs <= 5% of one core; change to all 60 followers p95 <= 2 s.

Usage:
    .venv/bin/python bench/classmode.py                    # 60 students, 10 changes, 60 s idle
    .venv/bin/python bench/classmode.py --students 30 --changes 5 --idle 30
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import psutil
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import RESULTS, Server  # noqa: E402
from streamlit_client import ProtocolError, Session  # noqa: E402

CODE = re.compile(r'data-testid="cls-code">([A-Z0-9]{3})-([A-Z0-9]{3})<')
STRIDES = (2, 3, 4)  # never the default (1), so every change gives a new address


class Participant(Session):
    """A `Session` that also keeps the `st.html` bodies of its last run (the teacher's join screen)."""

    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        super().__init__(base_url, timeout)
        self.html: list[str] = []

    def set_bound(self, key: str, value) -> None:
        """Change a widget bound to the address, writing it into the address first, as the browser does."""
        query = dict(parse_qsl(self.query, keep_blank_values=True))
        query[key] = str(value)
        self.query = urlencode(query)
        self.set(key, value)

    def _read_delta(self, fwd: ForwardMsg, result) -> None:
        super()._read_delta(fwd, result)
        element = fwd.delta.new_element if fwd.delta.WhichOneof("type") == "new_element" else None
        if element is not None and element.WhichOneof("type") == "html":
            self.html.append(element.html.body)


class Follower(threading.Thread):
    """Reads one student's socket: (time, address) at the end of every run the server starts for it."""

    def __init__(self, session: Session) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.runs: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.query = session.query
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                msg = self.session._receive(time.perf_counter() + 3600)  # noqa: SLF001 - the bench's own client
            except ProtocolError as exc:
                if not self.stopped.is_set():
                    self.errors.append(str(exc))
                return
            kind = msg.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
                self.errors.append(msg.delta.new_element.exception.message)
            elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.runs.append((time.perf_counter(), self.query))


def cpu_percent(proc: psutil.Process, seconds: float, tick=None) -> float:
    """The process's CPU over `seconds`, in percent of one core; `tick()` is called every second meanwhile."""
    start_cpu, start = sum(proc.cpu_times()[:2]), time.perf_counter()
    while time.perf_counter() - start < seconds:
        if tick is not None:
            tick()
        time.sleep(1.0)
    return 100 * (sum(proc.cpu_times()[:2]) - start_cpu) / (time.perf_counter() - start)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between the teacher's changes")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measured, each time")
    parser.add_argument("--url", default=None, help="use a running server instead of starting `make run`")
    args = parser.parse_args()

    server = None if args.url else Server()
    url = args.url or server.url
    try:
        if server is not None:
            print(f"make run ready in {server.wait_healthy():.0f} s; warm in {server.wait_warm():.0f} s", flush=True)
        proc = server.process() if server is not None else None
        alone = cpu_percent(proc, args.idle) if proc else float("nan")

        teacher = Participant(url)
        teacher.open("")
        teacher.click("cls_start")
        found = next((CODE.search(body) for body in teacher.html if CODE.search(body)), None)
        assert found, "no class code on the teacher's join screen"
        code = found.group(1) + found.group(2)
        fragment = teacher.open("conv").fragment  # (interval, id) of the sidebar's live counts
        print(f"class {code}: the teacher is on /conv", flush=True)

        def tick() -> None:  # the teacher's browser reruns its sidebar fragment every second
            if fragment:
                teacher.fragment(fragment[1])

        followers = []
        start = time.perf_counter()
        for _ in range(args.students):
            student = Session(url, timeout=120)
            result = student.open("", f"class={code}")
            assert not result.exceptions, result.exceptions
            followers.append(Follower(student))
        print(f"{args.students} students joined in {time.perf_counter() - start:.0f} s "
              f"(each on {followers[0].session.query!r})", flush=True)
        for f in followers:
            f.start()

        samples, reached, cpu_per_change = [], [], []
        for i in range(args.changes):
            stride = STRIDES[i % len(STRIDES)]
            cpu = sum(proc.cpu_times()[:2]) if proc else 0.0
            sent = time.perf_counter()
            teacher.set_bound("ca_stride", stride)
            deadline = sent + args.every
            while time.perf_counter() < deadline:
                tick()
                time.sleep(min(1.0, max(0.0, deadline - time.perf_counter())))
            cpu_per_change.append(sum(proc.cpu_times()[:2]) - cpu if proc else float("nan"))
            wanted = f"ca_stride={stride}"
            got = [next((t - sent for t, q in f.runs if t >= sent and wanted in q.split("&")), None) for f in followers]
            shown = [g for g in got if g is not None]
            samples += shown
            reached.append(len(shown))
            print(f"change {i + 1}: stride {stride}: {len(shown)}/{len(followers)} students, "
                  f"max {max(shown, default=float('nan')):.2f} s, server CPU {cpu_per_change[-1]:.2f} s", flush=True)

        runs_before = sum(len(f.runs) for f in followers)
        idle = cpu_percent(proc, args.idle, tick) if proc else float("nan")
        quiet = cpu_percent(proc, args.idle) if proc else float("nan")  # the same, without the teacher's fragment
        idle_runs = sum(len(f.runs) for f in followers) - runs_before
        errors = [e for f in followers for e in f.errors]
        for f in followers:
            f.stopped.set()
            f.session.close()
        teacher.close()

        report = {
            "students": args.students, "changes": args.changes,
            "change_to_all_p50_s": round(statistics.median(samples), 3) if samples else None,
            "change_to_all_p95_s": round(percentile(samples, 95), 3) if samples else None,
            "change_to_all_max_s": round(max(samples), 3) if samples else None,
            "students_reached_per_change": reached,
            "server_cpu_s_per_change_median": round(statistics.median(cpu_per_change), 3),
            "idle_cpu_percent_of_one_core_server_alone": round(alone, 2),
            "idle_cpu_percent_of_one_core_with_class": round(idle, 2),
            "idle_cpu_percent_of_one_core_with_class_without_teacher_fragment": round(quiet, 2),
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
            "idle_runs_of_followers": idle_runs, "errors": errors[:10],
            "load_generator_cpu_s": round(sum(psutil.Process().cpu_times()[:2]), 1),
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"classmode-{args.students}.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
