"""Heavy work as Dask tasks, with live progress, a cooperative cancel and a result, by task id.

    task = tasks.submit(fn, *args, resources={"train": 1}, **kwargs)   # returns at once
    task.status, task.fraction, task.message, task.events   # refreshed every polling.POLL_S seconds
    task.stop(); task.wait(timeout); task.result, task.error
    tasks.attach(task.id)   # the same task, from any web process connected to the same scheduler

A worker calls `fn(*args, progress=..., cancel=..., **kwargs)`:
- `progress(fraction, message)` reports how far it is (0-1, one short sentence), and
  `progress.emit(event)` adds a dict of plain numbers and strings to the task's event log (a
  training run's metrics per batch and epoch). Both reach the scheduler at most every second.
- `cancel.is_set()` turns True once someone called `Task.stop()`. Dask cannot interrupt a
  running task (distributed#4694), so `fn` checks it between batches and returns early.
- A `ValueError` ends the task as failed with its message (a sentence for the student); any
  other exception is logged on the worker and reported in one sentence.
`fn` must be importable on the workers (a module-level function of `explorer`). A zoo model is
passed as an argument, or by name and read from the worker process's `explorer.models.store.shared()`.

State lives in the cluster (see `explorer.runtime.worker`), so a task outlives the web process that
submitted it, and any web replica can follow it. Each web process keeps one poller thread per
engine (`explorer.runtime.polling`) that refreshes its active tasks and deletes expired ones.
This module never imports streamlit.
"""

from __future__ import annotations

import functools
import logging
import operator
import os
import pickle
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from dask.sizeof import sizeof
from distributed import Event, Variable
from distributed.protocol.pickle import dumps
from distributed.scheduler import KilledWorker

from explorer.runtime import cluster, polling
from explorer.runtime.worker import (
    FAILED,
    QUEUED,
    RUNNING,
    STOPPED,
    TTL_S,
    WORKER_DIED,
    cancel_name,
    chunk_name,
    execute,
    get_var,
    plain,
    record_name,
    registry_update,
)

log = logging.getLogger(__name__)

#: Most bytes of arguments one task may send to a remote cluster (CNN_EXPLORER_MAX_JOB_MB, default 256).
MAX_SEND_BYTES = int(float(os.environ.get("CNN_EXPLORER_MAX_JOB_MB", "256")) * 2**20)
SCATTER_BYTES = 2**20  # larger arguments go to a worker once, beside the task, not through the scheduler
CLUSTER_LOST = "The connection to the Dask scheduler was lost: the run failed, start it again."
_ID = re.compile(r"[0-9a-f]{12}")


class ClusterError(ValueError):
    """The job could not be handed to the cluster (unreachable, or its data too large); nothing started."""


class Task:
    """A job in the cluster as one web process sees it. Only the poller writes; pages read.

    Attributes:
        id: 12 hex digits, unique in the cluster (the page puts it in its URL).
        kind: what it is ("train", "task", ...), also the prefix of its Dask key.
        info: plain data the submitter attached (a training run's settings), shown by any replica.
        status: QUEUED, RUNNING, DONE, STOPPED or FAILED.
        fraction, message: the latest `progress(fraction, message)`.
        events: every `progress.emit(event)` so far (subclasses may sort them instead).
        error: one sentence when FAILED.
        result: what the function returned (None unless DONE or STOPPED).
        worker: the address of the worker that runs it, once it started.
        ephemeral: the cluster drops the task (arguments, result) when it ends, not `TTL_S` later (`submit`).
    """

    def __init__(self, kind: str = "task", info: dict | None = None, ephemeral: bool = False) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.kind, self.info = kind, dict(info or {})
        self.status, self.fraction, self.message = QUEUED, 0.0, ""
        self.events: list[dict] = []
        self.error: str | None = None
        self.result: Any = None
        self.worker: str | None = None
        self.queued_at, self.started_at, self.finished_at = time.time(), None, None
        self.engine: cluster.Engine | None = None
        self.resource: str | None = None
        self.ephemeral = ephemeral
        self._future = None
        self._chunks = 0
        self._queue: tuple[int | None, int, int] = (None, 0, 0)
        self._refreshing = threading.Lock()
        self._done = threading.Event()

    @classmethod
    def from_record(cls, record: dict) -> Task:
        """A Task for a record another web process published (used by `attach`)."""
        return cls(record.get("kind", "task"), record.get("info"))

    @property
    def active(self) -> bool:
        """True while queued or running."""
        return self.status in (QUEUED, RUNNING)

    @property
    def queue_position(self) -> int | None:
        """1-based place among the cluster's waiting tasks of this kind, or None if not waiting."""
        return self._queue[0] if self.status == QUEUED else None

    def queue(self) -> tuple[int | None, int, int]:
        """(place in the queue or None, tasks of this kind running in the cluster, slots for them)."""
        return self._queue

    def stop(self) -> None:
        """Ask the task to end: within a batch if it runs; at once if it still waits in the queue."""
        if not self.active or self.engine is None:
            return
        client = self.engine.client
        try:
            record = get_var(client, record_name(self.id)) if self.status == QUEUED else None
            if record is not None and record["status"] == QUEUED:  # leave the queue now, not once a slot frees
                self._end(STOPPED, None)
                return
            Event(cancel_name(self.id), client).set()  # it runs: it ends within a batch, with its result so far
        except OSError:  # the cluster is gone: the poller reports it
            log.warning("could not stop task %s", self.id, exc_info=True)

    def fail(self, error: str) -> None:
        """End the task as failed, here and in the cluster (the poller calls it when its worker died:
        Dask would run it again from scratch once a slot frees, only for that attempt to refuse)."""
        self._end(FAILED, error)

    def _end(self, status: str, error: str | None) -> None:
        with self._refreshing:  # not while the poller reads the task
            if self.active:
                self._end_in_cluster(status, error)

    def _end_in_cluster(self, status: str, error: str | None) -> None:
        client = self.engine.client
        try:
            Event(cancel_name(self.id), client).set()
            if self._future is not None:
                client.cancel([self._future], force=True)
            record = get_var(client, record_name(self.id)) or {}
            Variable(record_name(self.id), client).set({**record, "status": status, "error": error,
                                                        "finished_at": time.time()})
            registry_update(client, self.id, s=status, x=time.time() + TTL_S)
        except OSError:
            log.warning("could not record the end of task %s", self.id, exc_info=True)
        self._finish(status, error, None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task has ended (for tests and notebooks); True if it did."""
        self._done.wait(timeout)
        return not self.active

    # --- what the poller does ---------------------------------------------------------------

    def refresh(self, entries: dict | None = None, slots: int = 0) -> None:
        """Read the task's record, new log chunks and future from the cluster (the poller calls this)."""
        with self._refreshing:
            if not self.active or self._future is None:
                return
            future, client = self._future, self.engine.client
            record = None
            if self.engine.healthy:
                try:
                    record = self._read(client)
                except OSError:
                    return  # a hiccup: try again next time
            if future.status == "finished":
                payload = future.result()
                self._read(client)  # the last chunks, flushed just before the function returned
                self._finish(payload["status"], payload["error"], payload["value"])
            elif future.status == "error":
                exc = future.exception()
                self._finish(FAILED, WORKER_DIED if isinstance(exc, KilledWorker) else
                             f"The job failed on the cluster ({exc.__class__.__name__}): start it again.", None)
            elif future.status in ("cancelled", "lost"):
                if record is not None and record.get("status") in (STOPPED, FAILED):  # ended by a replica
                    self._finish(record["status"], record.get("error"), None)
                else:  # the client lost the scheduler, which cancels every future
                    self._finish(FAILED, CLUSTER_LOST, None)
            elif entries is not None:
                self._queue = _place(entries, self, slots)

    def _read(self, client) -> dict | None:
        record = get_var(client, record_name(self.id), timeout=1)
        if record is None:
            return None
        if record["status"] == RUNNING:
            self.status = RUNNING
        self.fraction, self.message = record.get("fraction", 0.0), record.get("message", "")
        self.started_at, self.worker = record.get("started_at"), record.get("worker")
        for k in range(self._chunks, record.get("chunks", 0)):
            for event in get_var(client, chunk_name(self.id, k), [], timeout=1):
                self._on_event(event)
            self._chunks = k + 1
        return record

    def _finish(self, status: str, error: str | None, value: Any) -> None:
        self.error = error
        if value is not None:
            self._on_result(value)
        self.finished_at = time.time()
        self._future = None  # the cluster's copy can go once the task expires
        self.status = status  # last: a reader that sees the final status sees the result too
        self._done.set()
        if self.ephemeral:
            self._release()

    def _release(self) -> None:
        """Unpublish an ephemeral task: its arguments (a model, photos) are freed now, not `TTL_S` later (a link
        that starts task after task must not pile them up), and the next sweep deletes its record."""
        try:
            self.engine.client.unpublish_dataset(record_name(self.id))  # a no-op when not published
            registry_update(self.engine.client, self.id, x=time.time())
        except OSError:  # the cluster is gone, and the task with it
            log.warning("could not release task %s", self.id, exc_info=True)

    def _on_event(self, event: dict) -> None:
        """One event of the log, in order. Subclasses sort them (a training run: batches, epochs, ...)."""
        self.events.append(event)

    def _on_result(self, value: Any) -> None:
        """The function's return value. Subclasses unpack it."""
        self.result = value


def _place(entries: dict, task: Task, slots: int) -> tuple[int | None, int, int]:
    """(place in the queue, running, slots) of `task` among the registry's `entries`."""
    same = [e for e in entries.values() if e.get("k") == task.kind]
    running = sum(e.get("s") == RUNNING for e in same)
    mine = entries.get(task.id)
    if mine is None or mine.get("s") != QUEUED:
        return None, running, slots
    return 1 + sum(e.get("s") == QUEUED and e.get("q", 0) < mine["q"] for e in same), running, slots


def submit(fn: Callable, *args: Any, resources: dict[str, float] | None = None, ephemeral: bool = False,
           **kwargs: Any) -> Task:
    """Run `fn(*args, progress=..., cancel=..., **kwargs)` as a Dask task; return its Task at once.

    `ephemeral`: the cluster forgets the task once it ended (`Task.ephemeral`); `attach` cannot find it then.

    Raises:
        ClusterError: the scheduler cannot be reached, or the arguments are too large to send.
    """
    return launch(Task(ephemeral=ephemeral), fn, args, kwargs, resources)


def launch(task: Task, fn: Callable, args: tuple = (), kwargs: dict | None = None,
           resources: dict[str, float] | None = None, engine: cluster.Engine | None = None) -> Task:
    """Submit `fn` for an already built `task` (a subclass such as a training run) on `engine`.

    Raises:
        ClusterError: the scheduler cannot be reached, or the arguments are too large to send.
    """
    try:
        engine = engine or cluster.engine()
    except OSError as exc:  # TimeoutError: the engine did not start in time
        raise ClusterError("The job engine has not started yet: try again in a few seconds.") from exc
    if not engine.healthy:
        raise ClusterError("The Dask scheduler is not answering right now: try again in a few seconds.")
    client = engine.client
    task.resource = next(iter(resources)) if resources else None
    bundle = (tuple(args), dict(kwargs or {}))
    size = sizeof(bundle)
    if engine.kind == "remote" and size > MAX_SEND_BYTES:
        raise ClusterError(f"This job's data ({size / 2**20:.1f} MB) are more than the {MAX_SEND_BYTES / 2**20:g} "
                           "MB one job may send to the Dask cluster: use fewer or smaller images.")
    record = {"kind": task.kind, "resource": task.resource, "status": QUEUED, "info": plain(task.info),
              "queued_at": task.queued_at, "chunks": 0, "fraction": 0.0, "message": ""}
    try:
        Variable(record_name(task.id), client).set(record)
        registry_update(client, task.id, k=task.kind, s=QUEUED, q=task.queued_at, x=None)
        future = _submit(client, task, fn, bundle, size, resources)
        client.publish_dataset(future, name=record_name(task.id))
    except OSError as exc:
        raise ClusterError(f"The job could not be handed to the Dask scheduler ({exc.__class__.__name__}): "
                           "try again in a few seconds.") from exc
    task.engine, task._future = engine, future
    polling.poller(engine).track(task)
    return task


def _submit(client, task: Task, fn: Callable, bundle: tuple[tuple, dict], size: int,
            resources: dict[str, float] | None):
    """Submit `execute(task.id, fn, task.resource, bundle)` so that the scheduler never unpickles our objects.

    Dask's scheduler unpickles every task it receives. Handed a pickled call and two functions
    of the standard library (`pickle.loads`, then `operator.call` on its result), it needs neither
    torch nor this project: a bare `dask scheduler` serves. Arguments over SCATTER_BYTES go to a
    worker once, beside the task (in the embedded cluster, nothing is copied).
    """
    call = functools.partial(execute, task.id, fn, task.resource)
    data = ()
    try:
        if size > SCATTER_BYTES:
            data = (client.scatter([bundle], hash=False)[0],)  # one object, not its items
        else:
            call = functools.partial(call, bundle)
        blob = dumps(call)
    except (pickle.PicklingError, TypeError, AttributeError, MemoryError) as exc:  # unpicklable, or no memory
        log.warning("sending a job's data failed", exc_info=True)
        raise ClusterError(f"This job's data could not be sent to the Dask cluster ({exc.__class__.__name__}): "
                           "try again with fewer or smaller images.") from exc
    spec = client.submit(pickle.loads, blob, key=f"{task.kind}-call-{task.id}", pure=False)
    return client.submit(operator.call, spec, *data, key=f"{task.kind}-{task.id}", resources=resources, pure=False)


def attach(task_id: str, factory: Callable[[dict], Task] = Task.from_record, kind: str | None = None,
           engine: cluster.Engine | None = None) -> Task | None:
    """The task `task_id` as the cluster knows it (from any web process), or None if unknown, expired
    or not of `kind`."""
    if not _ID.fullmatch(task_id or ""):
        return None
    engine = engine or cluster.engine()
    client = engine.client
    try:
        future = client.get_dataset(record_name(task_id), default=None)  # published: the record exists
        record = get_var(client, record_name(task_id)) if future is not None else None
    except OSError:
        return None
    if record is None or (kind is not None and record.get("kind") != kind):
        return None
    task = factory(record)
    task.id, task.queued_at, task.engine = task_id, record.get("queued_at", task.queued_at), engine
    task.resource, task._future = record.get("resource"), future
    task.refresh()
    polling.poller(engine).track(task)
    return task
