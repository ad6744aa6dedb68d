"""The worker side of `explorer.runtime.tasks`: what runs a task, and where its state lives in the cluster.

Per task id, in the Dask scheduler: a `Variable` holds the task's record (status, times,
progress, number of log chunks), numbered `Variable`s hold its event log in chunks, an `Event`
is its cancel flag, and a published dataset holds its future (while it is published, the other
names exist). A registry in the scheduler's metadata, rewritten whole under a
`distributed.Lock`, lists every task with its kind, queue time, status and expiry.

`execute` wraps the task's function on the worker: it refuses a second attempt (Dask runs a
task again when its worker died; a half-done task must not silently start over), lowers its
thread's priority below the pages' and hands the function `Progress` and `Cancel`. It never changes
torch's thread count: that is set once per process (`cluster.set_process_threads`).

Models: a task that needs a zoo model either takes it as an argument (a `LoadedModel` counts as
its weights, `explorer.models.store`, so it is scattered beside the task once; the embedded cluster
shares the object and copies nothing) or takes its name and reads it from the worker process's
store (`explorer.models.store.shared()`), holding the model's lock while it attaches hooks.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Callable

import torch
from dask.sizeof import sizeof
from distributed import Event, Lock, Variable, get_client, get_worker
from PIL import Image

from explorer.runtime import cluster

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
PREFIX = "cnn-explorer"
REGISTRY = [PREFIX, "registry"]  # a scheduler metadata key: reading it when absent raises nothing
TTL_S = float(os.environ.get("CNN_EXPLORER_RUN_TTL", "600"))  # seconds a finished task is kept in the cluster
FLUSH_S = 1.0  # progress reaches the scheduler at most this often (and at the end): as often as pages poll
CANCEL_CHECK_S = 0.2  # the cancel Event is asked at most this often
WORKER_DIED = "The worker running this job stopped (its process or machine went away): the run failed, start it again."
RESULT_LOST = "This run's result was lost with the worker that held it: start the run again."


# --- names in the cluster ---------------------------------------------------------------------

def record_name(task_id: str) -> str:
    return f"{PREFIX}/{task_id}"


def chunk_name(task_id: str, k: int) -> str:
    return f"{PREFIX}/{task_id}/log/{k}"


def cancel_name(task_id: str) -> str:
    return f"{PREFIX}/{task_id}/cancel"


def get_var(client, name: str, default: Any = None, timeout: float = 1.0) -> Any:
    """The value of Variable `name`, or `default` if it does not appear within `timeout` seconds.

    Only for variables that exist: the scheduler logs an error for every get that times out.
    """
    try:
        return Variable(name, client).get(timeout=timeout)
    except TimeoutError:
        return default


def registry(client) -> dict[str, dict]:
    """{task id: {"k": kind, "q": queue time, "s": status, "x": expiry time or None}} of every task kept."""
    return client.get_metadata(REGISTRY, default=None) or {}


def registry_lock(client) -> Lock:
    """The lock every change of the registry holds (each change reads, edits and writes it whole)."""
    return Lock("/".join(REGISTRY), scheduler_rpc=client.scheduler, loop=client.loop)


def registry_update(client, task_id: str, **entry: Any) -> None:
    """Update the registry entry of `task_id` with the keys of `entry`."""
    with registry_lock(client):
        current = registry(client)
        current[task_id] = {**current.get(task_id, {}), **entry}
        client.set_metadata(REGISTRY, current)


def plain(value: Any) -> Any:
    """`value` as msgpack-able plain data (numbers, strings, lists, dicts); other objects as text."""
    if value is None or isinstance(value, (bool, int, float, str)):  # msgpack keeps NaN and infinities
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy and torch scalars
        return plain(value.item())
    return str(value)


@sizeof.register(Image.Image)
def _sizeof_image(image: Image.Image) -> int:
    """Bytes of pixels: what Dask counts when it sends, spills or limits a PIL image."""
    return image.width * image.height * len(image.getbands())


@sizeof.register(torch.Tensor)
def _sizeof_tensor(tensor: torch.Tensor) -> int:
    return tensor.element_size() * tensor.nelement()


@sizeof.register(torch.nn.Module)
def _sizeof_module(module: torch.nn.Module) -> int:
    return sum(_sizeof_tensor(t) for t in module.state_dict().values())


# --- the worker side --------------------------------------------------------------------------

class Progress:
    """`progress(fraction, message)` and `progress.emit(event)` for a task's function (see the module docstring)."""

    def __init__(self, client, task_id: str, record: dict) -> None:
        self._client, self._id, self.record = client, task_id, record
        self._pending: list[dict] = []
        self._sent = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        self.record["fraction"], self.record["message"] = min(max(float(fraction), 0.0), 1.0), str(message)
        self.flush()

    def emit(self, event: dict) -> None:
        self._pending.append(plain(event))
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Send what is buffered, at most every FLUSH_S seconds unless `force`."""
        if not force and time.monotonic() - self._sent < FLUSH_S:
            return
        if self._pending:
            k = self.record["chunks"]
            Variable(chunk_name(self._id, k), self._client).set(self._pending)
            self.record["chunks"], self._pending = k + 1, []
        Variable(record_name(self._id), self._client).set(self.record)
        self._sent = time.monotonic()


class Cancel:
    """`cancel.is_set()`: the task's `distributed.Event`, asked at most every CANCEL_CHECK_S seconds.

    If the scheduler cannot be asked, nobody can receive the result any more: the task stops.
    """

    def __init__(self, client, task_id: str) -> None:
        self._event = Event(cancel_name(task_id), client)
        self._checked = -math.inf
        self.seen = False  # True once is_set() has returned True

    def is_set(self) -> bool:
        if not self.seen and time.monotonic() - self._checked >= CANCEL_CHECK_S:
            self._checked = time.monotonic()
            try:
                self.seen = self._event.is_set()
            except OSError:  # CommClosedError and timeouts are OSErrors
                self.seen = True
        return self.seen


def execute(task_id: str, fn: Callable, resource: str | None, bundle: tuple[tuple, dict]) -> dict:
    """Run `fn(*args, progress=..., cancel=..., **kwargs)` on a worker, `bundle` being (args, kwargs);
    return {"status", "error", "value"}."""
    args, kwargs = bundle
    client = get_client()
    record = get_var(client, record_name(task_id), timeout=30)
    if record is None:  # swept: nobody is waiting for this task any more
        return {"status": FAILED, "error": "This job expired before it started.", "value": None}
    progress, cancel = Progress(client, task_id, record), Cancel(client, task_id)
    status, error, value = DONE, None, None
    if record["status"] in (DONE, STOPPED, FAILED):  # it ended, but its result was lost with its worker
        log.warning("task %s ended (%s); its result was lost: not running it again", task_id, record["status"])
        return {"status": FAILED, "error": RESULT_LOST, "value": None}  # the record keeps its curves and status
    if record["status"] != QUEUED:  # a second attempt: the worker of the first one died mid-task
        log.warning("task %s was %s on %s: not starting it again", task_id, record["status"], record.get("worker"))
        status, error = FAILED, WORKER_DIED
    elif cancel.is_set():
        status = STOPPED
    else:
        record.update(status=RUNNING, started_at=time.time(), worker=get_worker().address)
        progress.flush(force=True)
        registry_update(client, task_id, s=RUNNING)
        cluster.as_background()
        try:
            value = fn(*args, progress=progress, cancel=cancel, **kwargs)
            status = STOPPED if cancel.seen else DONE
        except Exception as exc:  # noqa: BLE001 - one sentence for the page
            status, error = _ended_by(exc, cancel.seen, task_id)
    record.update(status=status, error=error, finished_at=time.time())
    if status == DONE:
        record["fraction"] = 1.0
    progress.flush(force=True)
    registry_update(client, task_id, s=status, x=time.time() + TTL_S)
    return {"status": status, "error": error, "value": value}


def _ended_by(exc: Exception, cancelled: bool, task_id: str) -> tuple[str, str]:
    """(status, sentence) of a task whose function raised `exc`: STOPPED if it was asked to stop (its
    own way of ending early, such as `receptive_field.Cancelled`), FAILED with a `ValueError`'s message
    for the student, else FAILED with the exception's name (logged in full on the worker)."""
    if cancelled:
        return STOPPED, str(exc) or "Stopped."
    if isinstance(exc, ValueError):
        return FAILED, str(exc)
    log.exception("task %s failed", task_id)
    return FAILED, f"The job failed: {exc.__class__.__name__}: {exc}"


MAX_AGE_S = 24 * 3600  # a task whose end nobody recorded (its worker died unobserved) is swept after this long


def sweep(client, now: float | None = None) -> list[str]:
    """Delete from the cluster every task that expired (ended over TTL_S ago); return their ids."""
    now = now or time.time()
    due = [tid for tid, e in registry(client).items()
           if (e.get("x") or math.inf) < now or e.get("q", now) < now - MAX_AGE_S]
    if not due:
        return []
    with registry_lock(client):
        kept = registry(client)
        gone = [tid for tid in due if tid in kept]
        client.set_metadata(REGISTRY, {tid: e for tid, e in kept.items() if tid not in gone})
    for tid in gone:
        if client.get_dataset(record_name(tid), default=None) is not None:
            client.unpublish_dataset(record_name(tid))  # first: attach() then no longer reads the record
        record = get_var(client, record_name(tid)) or {}
        for k in range(record.get("chunks", 0)):
            Variable(chunk_name(tid, k), client).delete()
        Variable(record_name(tid), client).delete()
        Event(cancel_name(tid), client).clear()
    return gone
