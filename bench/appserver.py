"""The app as a user starts it, for benchmarks: `make run` on a free port, with its CPU and RSS sampled.

`Server(replicas=2)` starts `make run REPLICAS=2` (web replicas behind Caddy, `ui/replicas/`); the
samples always cover every process of the server (web processes, their profiling helpers, the Dask
scheduler and worker, Caddy, the launcher), so one process and several compare whole.

Used by `bench/classroom.py` and `bench/browser_settle.py`; this is not a test and not part of the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support import free_port, wait_healthy  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PSS_EVERY = 10  # samples between two readings of the processes' proportional set size


def kind(cmdline: list[str]) -> str:
    """What a process of the server is, from its command line."""
    text = " ".join(cmdline)
    for needle, name in (("ui.server", "web"), ("streamlit", "web"), ("multiprocessing", "helpers"),
                         ("dask scheduler", "scheduler"), ("dask worker", "worker"), ("caddy", "caddy"),
                         ("ui.replicas", "launcher")):
        if needle in text:
            return name
    return "other"  # make and its shell


class Server:
    """`make run PORT=... [REPLICAS=...]` in its own session; `monitor()` samples the CPU and RSS of all its
    processes."""

    def __init__(self, env: dict[str, str] | None = None, root: Path = ROOT, replicas: int = 1) -> None:
        """`root`: the checkout to serve (another one measures an older version the same way);
        `replicas`: web processes (more than 1: behind Caddy, `make run REPLICAS=...`)."""
        RESULTS.mkdir(exist_ok=True)
        self.port, self.replicas = free_port(), replicas
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(RESULTS / f"server-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        command = ["make", "--no-print-directory", "run", f"PORT={self.port}"]
        if replicas > 1:
            command.append(f"REPLICAS={replicas}")
        self.proc = subprocess.Popen(command, cwd=root, env={**os.environ, **(env or {})}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.samples: list[tuple[float, float, int]] = []  # (time s, cores busy, RSS bytes), all processes
        self.peak: Counter = Counter()  # PSS bytes by kind of process (see `kind`) when their total was highest
        self.started = time.perf_counter()

    def wait_healthy(self, timeout: float = 300) -> float:
        """Seconds from `make run` until /_stcore/health answers "ok"."""
        try:
            wait_healthy(self.url, timeout - (time.perf_counter() - self.started), self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} (see {self.log.name})") from None
        return time.perf_counter() - self.started

    def wait_warm(self, timeout: float = 300) -> float:
        """Seconds from `make run` until the warm start has filled the shared caches (its log line, once per
        web process)."""
        log = Path(self.log.name)
        while time.perf_counter() - self.started < timeout:
            if log.read_text(errors="replace").count("warm start: ready to serve") >= self.replicas:
                return time.perf_counter() - self.started
            time.sleep(0.5)
        raise RuntimeError(f"the warm start did not finish within {timeout} s (see {log})")

    def process(self) -> psutil.Process:
        """The Python process that serves the app (not make's shell)."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            cmd = child.cmdline()
            if cmd and "python" in Path(cmd[0]).name and ("ui.server" in cmd or "streamlit" in cmd):
                return child
        raise RuntimeError("no server process under make run")

    def monitor(self, every: float = 0.5) -> None:
        """Append (time, cores busy, RSS) of all the server's processes together every `every` seconds, until
        `make` ends (run it in a thread). A process counts from its first sample on.

        RSS counts shared pages (torch's libraries, ~0.4 GB) once per process; every `PSS_EVERY` samples the
        proportional set size (shared pages divided among their processes, so the sum is the memory used) is
        read too, which costs ~20 ms per large process: `peak` keeps the highest total, by kind."""
        root = psutil.Process(self.proc.pid)
        cpu: dict[psutil.Process, float] = {}  # CPU seconds at the previous sample
        last = time.perf_counter()
        while True:
            time.sleep(every)
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            now, busy, rss = time.perf_counter(), 0.0, 0
            for proc in procs:
                try:
                    times, memory = proc.cpu_times(), proc.memory_info().rss
                except psutil.Error:  # ended meanwhile
                    continue
                seconds = times.user + times.system
                busy += seconds - cpu.get(proc, seconds)
                cpu[proc] = seconds
                rss += memory
            self.samples.append((now, busy / (now - last), rss))
            if len(self.samples) % PSS_EVERY == 1:
                self._sample_pss(procs)
            last = now

    def _sample_pss(self, procs: list[psutil.Process]) -> None:
        kinds: Counter = Counter()
        for proc in procs:
            try:
                kinds[kind(proc.cmdline())] += proc.memory_full_info().pss
            except psutil.Error:
                continue
        if sum(kinds.values()) > sum(self.peak.values()):
            self.peak = kinds

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to `make` and its session, then wait until every process of the server has ended (the replica
        launcher's children run in process groups of their own and stop after it), SIGKILL after `timeout` s."""
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            proc.kill()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
