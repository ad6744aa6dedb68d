"""Small helpers the tests (and the benchmarks) share: waiting with a deadline, a free port, a PNG, a served app.

Nothing here is a fixture: fixtures live in the `conftest.py` of the folder whose tests use them.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def until(condition: Callable[[], object], timeout: float = 60.0, every: float = 0.05) -> None:
    """Wait until `condition()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s"
        time.sleep(every)


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(colour: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (40, 30)) -> bytes:
    """A plain PNG of one colour, `size` = (width, height) in pixels."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def wait_healthy(url: str, timeout: float = 240.0, proc: subprocess.Popen | None = None) -> float:
    """Seconds until the Streamlit server at `url` answers /_stcore/health with "ok".

    Raises:
        RuntimeError: no answer within `timeout` seconds, or `proc` (the server) exited first.
    """
    start = time.monotonic()
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return time.monotonic() - start
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with code {proc.returncode} before it answered")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"the server at {url} did not answer /_stcore/health within {timeout:.0f} s")
        time.sleep(0.3)


@contextlib.contextmanager
def serve_app(env: dict[str, str] | None = None, timeout: float = 240.0) -> Iterator[str]:
    """Start the app as `make run` does (`python -m ui.server`: the warm start, then Streamlit) on a free port,
    with `env` added to its environment; yield its base URL once healthy; stop it afterwards.

    The server's output goes to .pytest_cache/e2e-server-PORT.log.
    """
    port = free_port()
    env = dict(os.environ, CNN_EXPLORER_OFFLINE="1", **(env or {}))
    log_dir = ROOT / ".pytest_cache"
    log_dir.mkdir(exist_ok=True)
    with open(log_dir / f"e2e-server-{port}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.server", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, timeout, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
