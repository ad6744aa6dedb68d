"""Where heavy jobs run: one Dask client per server process, an embedded cluster by default.

`make run` needs no extra server: `start()` (the launcher `ui.server` calls it once the process is
warm; the router calls it too, for a plain `streamlit run`) builds an embedded Dask cluster inside
the web process, in a background thread, so no page waits for it. With
`CNN_EXPLORER_DASK_SCHEDULER=tcp://host:8786` the same jobs go to an existing Dask cluster; when
that scheduler cannot be reached within `CONNECT_TIMEOUT_S`, the app falls back to the embedded
cluster and `note()` says why, for the page to show.

The embedded cluster runs its worker as threads of the web process, not as worker processes.
Measured by `bench/jobs.py` on the 2-core machine (busy: load average ~10), with the app's heavy
modules imported: the threads start in 0.1 s, add ~80 MB, and a first one-epoch job takes as long
as later ones (~3 s), because the web process has already imported torch and holds the job's
data (nothing is copied). A local worker process starts in ~5 s, adds ~860 MB, and makes the first
job wait ~40 s while it imports torch and the explorer; every job's images are pickled across. A
crash-isolated worker buys nothing here: a server that loses its web process has lost its students
anyway. The threads share the GIL with the pages, but torch releases it in every operation, as it
did under the hand-written thread scheduler this replaces.

Resources: training tasks ask for one unit of the worker resource `train`; a worker offers as
many units as its machine should train at once. The embedded worker offers one per CPU core
(`CNN_EXPLORER_MAX_RUNS` overrides), and has as many threads again for other heavy tasks, so a
receptive field or an attribution never waits behind training runs.

This module never imports streamlit.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dask

if TYPE_CHECKING:  # distributed is imported by the functions that need it: `start()` imports it in the background
    from distributed import Client, LocalCluster

log = logging.getLogger(__name__)

#: Dask settings for any scheduler, worker or client in a web process (issue 17). Dask's worker profiler
#: calls `sys._current_frames()` every 10 ms; on CPython 3.11 before 3.11.9 a garbage collection inside that
#: call can deadlock with threads that free torch tensors (CPython issue 106883), and under 60 students that
#: froze the whole server. Nothing in the web process may sample every thread's frames, so the profiler is
#: off. The other settings cut the event loops' chatter, which holds the GIL that the pages need: the system
#: monitor's psutil samples (every 0.5 s by default) and the loop-health tick (every 20 ms).
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "500ms",
}
dask.config.set(QUIET)  # at import: before any Dask server of this process is built

SCHEDULER_ENV = "CNN_EXPLORER_DASK_SCHEDULER"
#: Seconds to wait for a configured scheduler at start-up (and to reconnect after losing it).
CONNECT_TIMEOUT_S = 5.0
TRAIN = "train"  # the worker resource a training run takes one unit of


@dataclass(eq=False)
class Engine:
    """A connected Dask client, and where its scheduler is.

    Attributes:
        client: the client every job of this process goes through.
        kind: "embedded" (a cluster inside this process) or "remote" (a Dask scheduler elsewhere).
        address: the scheduler's address (inproc://... when embedded).
        note: one sentence for the page when the configured scheduler is not used, else None.
        started_s: seconds it took to start the cluster or connect to it.
    """

    client: Client
    kind: str
    address: str
    note: str | None = None
    started_s: float = 0.0
    cluster: LocalCluster | None = field(default=None, repr=False)

    @property
    def healthy(self) -> bool:
        """True while the client is connected (False while it reconnects, or once it gave up)."""
        return self.client.status == "running"

    def _workers(self) -> dict[str, dict]:
        # Asked of the scheduler each time: `Client.scheduler_info()` returns a cache that the
        # client's own periodic refresh may have replaced, an instant later, by one without workers.
        return self.client.sync(self.client.scheduler.identity, n_workers=-1).get("workers", {})

    def slots(self, resource: str = TRAIN) -> int:
        """Units of `resource` that all workers of the cluster offer together (runs at once)."""
        return int(sum(w.get("resources", {}).get(resource, 0) for w in self._workers().values()))

    def workers(self) -> set[str]:
        """Addresses of the workers connected now."""
        return set(self._workers())

    def describe(self) -> str:
        """Where jobs run, in a few words for the page."""
        if self.kind == "embedded":
            return "on this web server"
        return f"on the Dask cluster at {self.address}"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def embedded(train_slots: int | None = None) -> Engine:
    """Start a Dask cluster inside this process: one worker, threads only, no network port.

    Args:
        train_slots: units of the `train` resource (default: `CNN_EXPLORER_MAX_RUNS`, else the CPU cores).
    """
    from distributed import Client, LocalCluster  # noqa: PLC0415 - see the imports above

    cores = os.cpu_count() or 1
    slots = max(1, train_slots or int(os.environ.get("CNN_EXPLORER_MAX_RUNS", "0")) or cores)
    t0 = time.perf_counter()
    # memory_limit=0: the worker shares the web process, whose memory is not the worker's to spill or pause.
    # Dask's scheduler and worker always serve HTTP (health, metrics); by default on every interface,
    # the scheduler on port 8787. Here: a free port on localhost, and no dashboard.
    local = "127.0.0.1:0"
    cluster = LocalCluster(processes=False, n_workers=1, threads_per_worker=slots + cores, resources={TRAIN: slots},
                           memory_limit=0, dashboard_address=None, worker_dashboard_address=local,
                           scheduler_kwargs={"dashboard_address": local, "dashboard": False})
    client = Client(cluster, set_as_default=False)
    return Engine(client, "embedded", cluster.scheduler_address, started_s=time.perf_counter() - t0, cluster=cluster)


def remote(address: str, timeout: float | None = None) -> Engine:
    """Connect to an existing Dask scheduler (waiting at most `timeout`, default `CONNECT_TIMEOUT_S` seconds).

    Raises:
        OSError (a TimeoutError among them): the scheduler did not answer in time.
    """
    from distributed import Client  # noqa: PLC0415 - see the imports above

    t0 = time.perf_counter()
    client = Client(address, timeout=timeout or CONNECT_TIMEOUT_S, set_as_default=False)
    return Engine(client, "remote", address, started_s=time.perf_counter() - t0)


def check_address(address: str) -> str:
    """`address` if it reads as a Dask scheduler address ("tcp://host:port", or "host:port", which means tcp).

    Raises:
        ValueError: another scheme (http://...), no port or a port that is not a number (host:notaport).
    """
    from distributed.comm import parse_address, parse_host_port  # noqa: PLC0415 - see the imports above

    scheme, location = parse_address(address if "://" in address else f"tcp://{address}")
    if scheme != "tcp":
        raise ValueError(f"{scheme}:// is not a scheme this app connects with (tcp://host:port)")
    host, port = parse_host_port(location)
    if not host or not 0 < port < 65536:
        raise ValueError("no host, or a port outside 1-65535")
    return address


def connect() -> Engine:
    """The engine the environment asks for: the configured scheduler, else embedded.

    An empty `CNN_EXPLORER_DASK_SCHEDULER` means none is configured. Any other value that is not a
    scheduler address (`http://x`, `host:notaport`), or a scheduler that does not answer within
    `CONNECT_TIMEOUT_S` (an unreachable host, a port where something else listens), falls back to the
    embedded cluster, and `note()` says so: a typo in the environment never leaves the app without jobs.
    """
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if not address:
        return embedded()
    try:
        return remote(check_address(address))
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, TypeError, and MemoryError from a non-Dask
        # server's reply read as a frame length: whatever the address does, the app must still run jobs
        log.warning("Dask scheduler %r not usable (%s: %s); using the embedded cluster", address,
                    type(exc).__name__, exc)
        engine = embedded()
        engine.note = (f"The Dask scheduler at {address[:100]} could not be reached, so jobs run on this web server "
                       "instead (fewer at once).")
        return engine


_lock = threading.Lock()
_engine: Engine | None = None
_starting: threading.Thread | None = None
_ready = threading.Event()


def _start_now() -> None:
    global _engine
    try:
        _engine = connect()
        atexit.register(_close)  # before Dask's own exit handler closes the cluster under the client
    finally:
        _ready.set()


def _close() -> None:
    if _engine is not None:
        _engine.close()


def start() -> None:
    """Import Dask and build this process's engine in a background thread (idempotent; returns at once)."""
    global _starting
    with _lock:
        if _starting is None:
            _starting = threading.Thread(target=_start_now, name="dask-engine-start", daemon=True)
            _starting.start()


def engine(timeout: float = 60.0) -> Engine:
    """This process's engine, started on first use. A remote client that gave up reconnecting
    (its scheduler went away for longer than `CONNECT_TIMEOUT_S`) is replaced by a new connection,
    or by the embedded cluster with a note.

    Raises:
        TimeoutError: the engine did not start within `timeout` seconds.
    """
    global _engine, _starting
    start()
    if not _ready.wait(timeout):
        raise TimeoutError("The job engine did not start in time.")
    with _lock:
        if _engine is None or _engine.client.status in ("closing", "closed"):
            lost = _engine
            _engine = connect()
            if lost is not None and lost.kind == "remote" and _engine.note is None and _engine.kind == "embedded":
                _engine.note = f"The Dask scheduler at {lost.address} went away, so jobs now run on this web server."
        return _engine


def note() -> str | None:
    """The fallback sentence for the page, without waiting for the engine to start."""
    current = _engine
    return current.note if current is not None else None


def worker_threads(nthreads: int, train_slots: float) -> int:
    """Intra-op torch threads for every task of a worker process: its share of the machine's cores.

    Each of the worker's `train` units (else each of its threads) gets an equal share, at least 1:
    `dask worker --nthreads 4 --resources train=2` on 2 cores gives 1, `--nthreads 1 --resources
    train=1` on 8 cores gives 8. `CNN_EXPLORER_TASK_THREADS` overrides it (for example with several
    worker processes on one machine). The count is set once, when the worker process starts
    (`set_process_threads`), never per task: torch's setting is process-wide, and a thread that starts
    computing picks up the count of that moment, so a per-task change leaked into every other
    computation of the process (issue 19).
    """
    if os.environ.get("CNN_EXPLORER_TASK_THREADS"):
        return max(1, int(os.environ["CNN_EXPLORER_TASK_THREADS"]))
    return max(1, (os.cpu_count() or 1) // max(1, int(train_slots or nthreads)))


#: torch intra-op threads per computation in a web process (DESIGN.md section 4: two threads spin-wait as soon
#: as another computation holds a core, 2.3 s instead of 0.04 s for a Lite0 forward). CNN_EXPLORER_THREADS overrides.
THREADS_ENV = "CNN_EXPLORER_THREADS"


def set_process_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads for the whole process, once, where it starts: `n`, else `CNN_EXPLORER_THREADS`
    (1 by default). Every computation of the process (pages, embedded tasks, batches) then uses the same count."""
    import torch  # noqa: PLC0415 - this module imports no torch at import time

    n = n or int(os.environ.get(THREADS_ENV, "1"))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


#: Niceness of the threads that run heavy tasks and their batches (0 = as the pages; 19 = the lowest priority).
BACKGROUND_NICE = int(os.environ.get("CNN_EXPLORER_TASK_NICE", "10"))


def as_background() -> None:
    """Lower the calling thread's CPU priority to `BACKGROUND_NICE` (Linux schedules each thread on its own).

    Heavy tasks (training, attributions, effective fields) then take the cores only when no page is
    computing: in the embedded cluster they share the web process with every student's script runs, and
    a click must not wait behind someone's ten-second Occlusion. Alone, a task still gets every idle core.
    A no-op where threads have no priority of their own (not Linux) or lowering it is refused.
    """
    if BACKGROUND_NICE <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except OSError:
        log.debug("could not lower the priority of thread %s", threading.get_native_id(), exc_info=True)
