"""A real Dask cluster on localhost for tests: `dask scheduler` and `dask worker` processes, as the README
starts them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from distributed import Client
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]


def _dask(*args: str) -> list[str]:
    """The `dask` command of this environment (the CLI installed beside this Python)."""
    return [str(Path(sys.executable).with_name("dask")), *args]


@dataclass
class LocalDask:
    """A scheduler and its workers, each a process started with Dask's own CLI."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.address, timeout=30, set_as_default=False)

    def worker_pids(self, client: Client) -> dict[str, int]:
        """{worker address: pid of the worker process} (the nanny restarts a killed one)."""
        return client.run(os.getpid)

    def kill_worker_running(self, client: Client, key_prefix: str, timeout: float = 60) -> str:
        """SIGKILL the worker process whose task's key starts with `key_prefix`; return its address."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for address, keys in client.processing().items():
                if any(str(k).startswith(key_prefix) for k in keys):
                    os.kill(self.worker_pids(client)[address], signal.SIGKILL)
                    return address
            time.sleep(0.2)
        raise AssertionError(f"no worker runs a task {key_prefix}*")

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def local_dask(workers: int = 2, train: int = 1, nthreads: int = 2) -> Iterator[LocalDask]:
    """`dask scheduler` plus `workers` x `dask worker --resources train=<train>` on localhost.

    As the README says: the scheduler runs without the project (outside the repository, no
    PYTHONPATH), the workers from the repository, preloading `explorer.training.jobs`, offline like the tests.
    """
    port = free_port()
    # Several worker processes share this machine's cores: one torch thread per task (README).
    env = dict(os.environ, PYTHONPATH=str(ROOT), CNN_EXPLORER_OFFLINE="1", CNN_EXPLORER_TASK_THREADS="1")
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log_dir = ROOT / ".pytest_cache"
    log_dir.mkdir(exist_ok=True)
    log = open(log_dir / f"dask-{port}.log", "w")
    sched = subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"),
                             cwd=tempfile.gettempdir(), env=bare, stdout=log, stderr=subprocess.STDOUT)
    cluster = LocalDask(f"tcp://127.0.0.1:{port}", sched)
    try:
        for i in range(workers):
            cluster.workers.append(subprocess.Popen(
                _dask("worker", cluster.address, "--host", "127.0.0.1", "--nthreads", str(nthreads),
                      "--resources", f"train={train}", "--name", f"w{i}", "--no-dashboard", "--memory-limit", "0",
                      "--preload", "explorer.training.jobs"),
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        with Client(cluster.address, timeout=60, set_as_default=False) as client:  # the scheduler answers
            if workers:
                client.wait_for_workers(workers, timeout=120)
        yield cluster
    finally:
        cluster.stop()
        log.close()
