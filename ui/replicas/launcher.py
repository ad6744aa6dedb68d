"""The replica launcher: what it starts (Dask scheduler and worker, web replicas, Caddy), in which order, and
what it does when one of them dies or it is asked to stop (see the package's docstring)."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from explorer.runtime.cluster import QUIET, SCHEDULER_ENV
from ui.replicas.processes import Child, StartError, accepts, answers, free_port, say, stop
from ui.replicas.proxy import caddy_binary, caddyfile

ROOT = Path(__file__).resolve().parents[2]
WORKER_PRELOAD = "explorer.training.jobs"  # imported by the worker as it starts: torch and the task functions
START_TIMEOUT_S = 600.0  # N warm starts and a worker's torch import share the cores
RESTART_AFTER_S = (5, 10, 20, 40, 60)  # delays before restarting a child that died within a minute
STEADY_S = 60.0  # a child that ran this long is restarted at once


def dask_command(*args: str) -> list[str]:
    """The `dask` command of this environment (installed beside this Python)."""
    return [str(Path(sys.executable).with_name("dask")), *args]


def dask_env() -> dict[str, str]:
    """This environment plus `explorer.runtime.cluster.QUIET` as Dask environment variables.

    Every Dask process gets them: above all the worker profiler off, which samples every thread's
    frames and can deadlock on CPython 3.11 before 3.11.9 (`explorer.runtime.cluster`).
    """
    env = dict(os.environ)
    for key, value in QUIET.items():
        env["DASK_" + key.upper().replace(".", "__").replace("-", "_")] = str(value)
    return env


def scheduler_command(port: int) -> list[str]:
    """The Dask scheduler's command line: on 127.0.0.1 only, its HTTP server (health and metrics; no dashboard)
    too, which by default listens on every interface."""
    return dask_command("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                        "--dashboard-address", "127.0.0.1:0")


def worker_command(scheduler: str, directory: Path) -> list[str]:
    """The Dask worker's command line: as many `train` units as CPU cores (`CNN_EXPLORER_MAX_RUNS` overrides)
    and as many threads again for shorter tasks, as the embedded cluster; torch and the task functions
    imported as it starts (run it from the repository, with it on PYTHONPATH). Everything on 127.0.0.1, its
    HTTP server (health and metrics) too.

    No nanny: it would hold a second copy of the preloaded modules (about 400 MB of private memory,
    measured), and the launcher restarts a dead worker itself.
    """
    cores = os.cpu_count() or 1
    slots = max(1, int(os.environ.get("CNN_EXPLORER_MAX_RUNS", "0")) or cores)
    return dask_command("worker", scheduler, "--name", "worker", "--host", "127.0.0.1", "--no-nanny",
                        "--nthreads", str(slots + cores), "--resources", f"train={slots}", "--memory-limit", "0",
                        "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--local-directory", str(directory),
                        "--preload", WORKER_PRELOAD)


class Launcher:
    """Starts the scheduler, the worker, the replicas and Caddy; supervises them; stops them."""

    def __init__(self, replicas: int, port: int, address: str, workdir: Path, stopping: threading.Event) -> None:
        """`workdir`: a private temporary folder (Caddyfile, Caddy's data, the children's output, the worker's
        spill space);
        `stopping`: set when the launcher is asked to stop."""
        self.port, self.address, self.stopping = port, address, stopping
        scheduler_port = free_port()
        self.scheduler_address = f"tcp://127.0.0.1:{scheduler_port}"
        dask = {**dask_env(), "PYTHONUNBUFFERED": "1"}  # their output lines reach the launcher as they are written
        # The scheduler needs neither torch nor this project (explorer.tasks sends it plain pickles):
        # started outside the repository, without PYTHONPATH, it cannot import either.
        bare = {k: v for k, v in dask.items() if k != "PYTHONPATH"}
        self.scheduler = Child("scheduler", scheduler_command(scheduler_port), workdir, bare, workdir, essential=True)
        self.worker = Child("worker", worker_command(self.scheduler_address, workdir / "dask-worker"), ROOT,
                            {**dask, "PYTHONPATH": str(ROOT)}, workdir)
        web_env = {**dask, SCHEDULER_ENV: self.scheduler_address}
        self.upstreams = [f"127.0.0.1:{free_port()}" for _ in range(replicas)]
        self.web = [Child(f"web{i}", [sys.executable, "-m", "ui.server", "--server.port", upstream.split(":")[1],
                                      "--server.address", "127.0.0.1"],
                          ROOT, web_env, workdir, health=f"http://{upstream}/_stcore/health")
                    for i, upstream in enumerate(self.upstreams, start=1)]
        config = workdir / "Caddyfile"
        # A secret of this launch signs the cookie: a student cannot pick a replica by writing their own.
        config.write_text(caddyfile(port, self.upstreams, address, secrets.token_hex(16)))
        local = "127.0.0.1" if address in ("", "0.0.0.0", "::") else address
        self.caddy = Child("caddy", [caddy_binary(), "run", "--config", str(config), "--adapter", "caddyfile"],
                           workdir, {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)},
                           workdir, essential=True, health=f"http://{local}:{port}/_stcore/health")
        self.children = [self.scheduler, self.worker, *self.web, self.caddy]

    # ------------------------------------------------------------------ starting
    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
        """Wait until `ready()`; StartError if a started child dies, time runs out or a stop is asked."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [c for c in self.children if c.exited]
            if dead:
                raise StartError(f"{dead[0].name} exited with status {dead[0].proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise StartError(f"{what} did not start within {timeout:.0f} s")
            if self.stopping.wait(0.3):
                raise StartError("stopped while starting")

    def start(self) -> None:
        """Scheduler, then worker and replicas together, then Caddy once they all serve."""
        t0 = time.monotonic()
        self.scheduler.start()
        port = int(self.scheduler_address.rsplit(":", 1)[1])
        self._wait("the Dask scheduler", lambda: accepts("127.0.0.1", port), timeout=60)
        for child in [self.worker, *self.web]:
            child.start()
        from distributed import Client  # noqa: PLC0415 - only while starting

        with Client(self.scheduler_address, timeout=30, set_as_default=False) as client:
            self._wait("the Dask worker", lambda: bool(client.scheduler_info(n_workers=-1)["workers"]))
        for child in self.web:
            self._wait(child.name, lambda c=child: answers(c.health))
        self.caddy.start()
        self._wait("Caddy", lambda: answers(self.caddy.health), timeout=60)
        say("launcher", f"ready in {time.monotonic() - t0:.0f} s: open http://{self.address or 'localhost'}:{self.port}"
                        f" ({len(self.web)} web replicas behind Caddy, Dask scheduler {self.scheduler_address})")

    # ------------------------------------------------------------------ running
    def supervise(self) -> int:
        """Until a stop is asked (0) or an essential child dies (1): restart replicas and the worker that die."""
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        say("launcher", f"starting {child.name} again")
                        child.start()
                    continue
                if not child.exited:
                    continue
                code = child.proc.returncode
                child.signal(signal.SIGKILL)  # what it leaves behind (the profiling helper of a replica)
                if child.essential:
                    say("launcher", f"{child.name} exited with status {code}: stopping everything")
                    return 1
                child.quick_deaths = child.quick_deaths + 1 if now - child.started_at < STEADY_S else 0
                delay = RESTART_AFTER_S[min(child.quick_deaths, len(RESTART_AFTER_S)) - 1] if child.quick_deaths else 0
                when = f"in {delay} s" if delay else "now"
                say("launcher", f"{child.name} exited with status {code}; starting it again {when} "
                                "(its students reconnect to the other replicas meanwhile)")
                child.restart_at = now + delay
        return 0

    def stop(self) -> None:
        """Caddy first (no new requests), then the replicas and the worker, then the scheduler."""
        for group in ([self.caddy], [*self.web, self.worker], [self.scheduler]):
            stop(group)


def main(argv: list[str] | None = None) -> int:
    """The command line of `python -m ui.replicas`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ui.replicas",
                                     description="Serve the app from N web processes behind Caddy on one port.")
    parser.add_argument("--replicas", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--port", type=int, default=8501, help="the one port students open (Caddy's)")
    parser.add_argument("--address", default="", help="address Caddy listens on (default: every interface)")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    try:
        with socket.socket() as probe:  # fail now, not after the warm starts
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.address, args.port))
    except OSError as exc:
        parser.error(f"port {args.port} is not free ({exc.strerror})")

    stopping = threading.Event()  # set by the first SIGTERM, SIGINT or SIGHUP
    children: list[Child] = []

    def on_signal(signum: int, _frame: object) -> None:
        if stopping.is_set():  # a second Ctrl-C: do not wait for anyone
            for child in children:
                child.signal(signal.SIGKILL)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-replicas-") as workdir:
        launcher = None
        try:
            launcher = Launcher(args.replicas, args.port, args.address, Path(workdir), stopping)
            children.extend(launcher.children)
            launcher.start()
            status = launcher.supervise()
        except (StartError, FileNotFoundError) as exc:  # FileNotFoundError: no Caddy
            say("launcher", f"could not start: {exc}")
            status = 0 if stopping.is_set() else 1
        finally:
            if launcher is not None:
                say("launcher", "stopping")
                launcher.stop()
    return status

