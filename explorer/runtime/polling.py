"""The web process's poller: one thread per Dask engine that refreshes the tasks it tracks (`tasks.Task`).

Every POLL_S seconds, and at once when a tracked task's future finishes, it refreshes each active task (its
record, new log chunks, queue place); every SWEEP_S it deletes tasks that ended more than `worker.TTL_S`
seconds ago. Tasks are tracked weakly: one nobody holds is not polled. This module never imports streamlit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref

from explorer.runtime import cluster, worker
from explorer.runtime.worker import QUEUED, RUNNING, WORKER_DIED, registry

log = logging.getLogger(__name__)

#: Seconds between refreshes of the active tasks (one scheduler round trip each, Python on the web process's
#: event loop, which held 12% of the GIL under a class: issue 17), sweeps of expired ones, and checks of the
#: cluster's workers and slots (a remote cluster's: the embedded worker is this process).
POLL_S, SWEEP_S, TOPOLOGY_S = 1.0, 60.0, 10.0


class Poller:
    """One thread per engine: refreshes the tracked active tasks every POLL_S (and as soon as one finishes),
    sweeps every SWEEP_S."""

    def __init__(self, engine: cluster.Engine) -> None:
        self.engine = engine
        self.tasks: weakref.WeakSet = weakref.WeakSet()  # of tasks.Task; one nobody holds is not polled
        self.lock = threading.Lock()
        self.swept = self.checked = time.monotonic()
        self.slots: dict[str, tuple[float, int]] = {}  # resource -> (when read, units the cluster offers)
        self.wake = threading.Event()  # set when a tracked task's future finishes
        threading.Thread(target=self._loop, name="dask-task-poller", daemon=True).start()

    def track(self, task) -> None:  # task: tasks.Task
        """Refresh `task` until it ends; refresh at once when its future finishes, not at the next round."""
        with self.lock:
            self.tasks.add(task)
        if task._future is not None:
            task._future.add_done_callback(lambda _: self.wake.set())

    def _loop(self) -> None:
        while True:
            self.wake.wait(POLL_S)
            self.wake.clear()
            with self.lock:
                active = [t for t in self.tasks if t.active]
            if self.engine.client.status == "closed" and not active:
                with _pollers_lock:
                    _pollers.pop(self.engine, None)
                return
            try:
                self.poll(active)
            except Exception:
                log.warning("polling Dask tasks failed", exc_info=True)

    def poll(self, active: list) -> None:
        registry_now, slots = None, {}
        if self.engine.healthy and any(t.status == QUEUED for t in active):
            registry_now = registry(self.engine.client)
            slots = {r: self._slots(r) for r in {t.resource for t in active if t.resource}}
        for task in active:
            task.refresh(registry_now, slots.get(task.resource, 0))
        running = [t for t in active if t.status == RUNNING and t.worker]
        due = time.monotonic() - self.checked > TOPOLOGY_S
        if running and due and self.engine.kind == "remote" and self.engine.healthy:
            # workers listed after the records were read: no false alarm
            self.checked = time.monotonic()
            workers = self.engine.workers()
            for task in running:
                if task.worker not in workers:
                    log.warning("task %s: its worker %s left the cluster (workers now: %s)", task.id, task.worker,
                                sorted(workers))
                    task.fail(WORKER_DIED)
        if self.engine.healthy and time.monotonic() - self.swept > SWEEP_S:
            self.swept = time.monotonic()
            worker.sweep(self.engine.client)

    def _slots(self, resource: str) -> int:
        """Units of `resource` the cluster offers, read at most every TOPOLOGY_S (it asks for every worker's info)."""
        when, units = self.slots.get(resource, (-math.inf, 0))
        if time.monotonic() - when > TOPOLOGY_S:
            units = self.engine.slots(resource)
            self.slots[resource] = (time.monotonic(), units)
        return units


_pollers: dict[cluster.Engine, Poller] = {}
_pollers_lock = threading.Lock()


def poller(engine: cluster.Engine) -> Poller:
    """The one poller thread of `engine` in this process (started on first use)."""
    with _pollers_lock:
        if engine not in _pollers:
            _pollers[engine] = Poller(engine)
        return _pollers[engine]
