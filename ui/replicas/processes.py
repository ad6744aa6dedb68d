"""One child process of the replica launcher: started in its own process group, its output relayed with its
name, stopped with its helpers; and the probes that tell whether it serves."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STOP_TIMEOUT_S = 20.0


class StartError(RuntimeError):
    """A child did not start (or died while starting): the launcher stops."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of `host` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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


