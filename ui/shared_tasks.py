"""Heavy page work as Dask tasks (`explorer.runtime.tasks`), shared by every session of this web process.

A heavy map (Integrated Gradients, SmoothGrad, GradientShap, Occlusion), a sanity check or an
effective receptive field takes one to ten seconds. It runs as a Dask task, not in the script
thread, so clicks and reruns neither stop nor restart it, and the page draws its progress from a
fragment. Tasks are keyed by what they compute (model build, image hash, method, options, ...):
students asking for the same result, such as the gallery photo an instructor projects, share one
computation. Cancelling is cooperative (the function checks `cancel` before every batch): a
session's Stop withdraws its interest, and the task stops once no session wants it any more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.runtime import tasks
from explorer.runtime import worker

KEEP_FINISHED = 64  # finished tasks kept per web process (a map is 0.2 MB, a randomization row about 2 MB)


@dataclass(eq=False)
class Shared:
    """One keyed computation as the pages see it: progress while it runs, then a result or an error."""

    key: tuple
    title: str
    task: tasks.Task | None  # None when the cluster refused it (`error` says why)
    watchers: set[str] = field(default_factory=set)
    refused: str | None = None

    @property
    def active(self) -> bool:
        return self.task is not None and self.task.active

    @property
    def fraction(self) -> float:
        return self.task.fraction if self.task else 0.0

    @property
    def message(self) -> str:
        return (self.task.message if self.task else "") or f"{self.title}: waiting for a free core…"

    @property
    def result(self) -> Any:
        """What the function returned, once it finished (None while running, stopped or failed)."""
        return self.task.result if self.task is not None and self.task.status == worker.DONE else None

    @property
    def error(self) -> str | None:
        """One sentence when it failed or was stopped, else None."""
        if self.task is None:
            return self.refused
        if self.task.status == worker.STOPPED:
            return self.task.error or f"{self.title} was cancelled."
        return self.task.error if self.task.status == worker.FAILED else None

    @property
    def seconds(self) -> float | None:
        """Wall time from start to end on the worker (None until it ended)."""
        t = self.task
        return t.finished_at - t.started_at if t is not None and t.finished_at and t.started_at else None


class TaskStore:
    """Shared tasks by key: start once, join while running, keep the latest results."""

    def __init__(self, submit: Callable[..., tasks.Task] = tasks.submit) -> None:
        self._submit = submit
        self._tasks: OrderedDict[tuple, Shared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Shared | None:
        with self._lock:
            return self._tasks.get(key)

    def join(self, key: tuple, watcher: str) -> Shared | None:
        """The computation for `key`, if any; `watcher` then waits for it too while it runs (so that another
        session's Stop no longer ends it)."""
        with self._lock:
            shared = self._tasks.get(key)
            if shared is not None and shared.active:
                shared.watchers.add(watcher)
            return shared

    def start(self, key: tuple, title: str, fn: Callable, *args: Any, watcher: str, **kwargs: Any) -> Shared:
        """The computation for `key`: the running or finished one, or `fn(*args, **kwargs)` submitted as a
        Dask task (`explorer.runtime.tasks.submit`). One that failed or was cancelled is started again."""
        with self._lock:
            shared = self._tasks.get(key)
            if shared is not None and shared.error is None:
                shared.watchers.add(watcher)
                self._tasks.move_to_end(key)
                return shared
            try:  # ephemeral: the result stays here, and the cluster frees the task's inputs as soon as it ends
                shared = Shared(key, title, self._submit(fn, *args, ephemeral=True, **kwargs), {watcher})
            except tasks.ClusterError as exc:
                shared = Shared(key, title, None, refused=str(exc))
            self._tasks[key] = shared
            self._evict()
            return shared

    def cancel(self, key: tuple, watcher: str) -> None:
        """Withdraw `watcher`'s interest; the task stops within a batch if nobody else waits for it."""
        with self._lock:
            shared = self._tasks.get(key)
            if shared is None or not shared.active:
                return
            shared.watchers.discard(watcher)
            if not shared.watchers:
                shared.task.stop()

    def _evict(self) -> None:
        finished = [k for k, s in self._tasks.items() if not s.active]
        for key in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._tasks[key]


@st.cache_resource(show_spinner=False)
def task_store() -> TaskStore:
    """This web process's shared tasks."""
    return TaskStore()


def session_id() -> str:
    """This browser session's id (who watches a task)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"

