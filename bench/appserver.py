"""The app as a user starts it, for benchmarks: `make run` on a free port, with its CPU and RSS sampled.

Used by `bench/classroom.py` and `bench/browser_settle.py`; this is not a test and not part of the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support import free_port, wait_healthy  # noqa: E402

RESULTS = ROOT / "bench" / "results"


class Server:
    """`make run PORT=...` in its own process group; `monitor()` samples the server process's CPU and RSS."""

    def __init__(self, env: dict[str, str] | None = None, root: Path = ROOT) -> None:
        """`root`: the checkout to serve (another one measures an older version the same way)."""
        RESULTS.mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(RESULTS / f"server-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={self.port}"], cwd=root,
                                     env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.samples: list[tuple[float, float, int]] = []  # (time s, cores busy, RSS bytes)
        self.started = time.perf_counter()

    def wait_healthy(self, timeout: float = 300) -> float:
        """Seconds from `make run` until /_stcore/health answers "ok"."""
        try:
            wait_healthy(self.url, timeout - (time.perf_counter() - self.started), self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} (see {self.log.name})") from None
        return time.perf_counter() - self.started

    def wait_warm(self, timeout: float = 300) -> float:
        """Seconds from `make run` until the warm start has filled the shared caches (its log line)."""
        log = Path(self.log.name)
        while time.perf_counter() - self.started < timeout:
            if "shared caches filled" in log.read_text(errors="replace"):
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
        """Append (time, cores busy, RSS) every `every` seconds until the process ends (run it in a thread)."""
        proc = self.process()
        proc.cpu_percent()
        while True:
            time.sleep(every)
            try:
                self.samples.append((time.perf_counter(), proc.cpu_percent() / 100, proc.memory_info().rss))
            except psutil.NoSuchProcess:
                return

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
