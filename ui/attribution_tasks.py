"""Heavy attribution work in background threads, shared by every session (DESIGN.md section 6).

A heavy map (Integrated Gradients, SmoothGrad, GradientShap, Occlusion) or a sanity check takes
one to ten seconds. It runs in a worker thread, not in the script thread, so that clicks and
reruns neither stop nor restart it; the page draws its progress from a fragment. Tasks are keyed
by what they compute (model, image hash, method, options, target): students asking for the same
map, such as the gallery photo an instructor projects, share one computation and its result.

The batches of every task run on one server-wide pool of `os.cpu_count()` threads with one
torch thread each: with a class on the server, batches queue instead of oversubscribing the
cores, and on a quiet server one student's Occlusion uses both cores. Cancelling is cooperative
(checked before every batch): a session's Cancel withdraws its interest, and the task stops
once no session wants it any more.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.attributions import Cancelled

log = logging.getLogger(__name__)
KEEP_FINISHED = 64  # finished tasks kept server-wide (a map is 0.2 MB, a randomization row about 2 MB)
Work = Callable[[Callable[[float, str], None], threading.Event, Executor], Any]


@dataclass
class Task:
    """One heavy computation: its progress while it runs, then its result or error (plain fields)."""

    key: tuple
    title: str
    fraction: float = 0.0
    message: str = ""
    result: Any = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    watchers: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None

    @property
    def active(self) -> bool:
        return self.result is None and self.error is None

    def update(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(fraction, 0.0), 1.0), message


class TaskStore:
    """Tasks by key, server-wide: start once, share while running, keep the latest results."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._tasks: OrderedDict[tuple, Task] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Task | None:
        with self._lock:
            return self._tasks.get(key)

    def start(self, key: tuple, title: str, work: Work, watcher: str) -> Task:
        """The task for `key`: the running or finished one, or a new one running `work` in a thread.

        A task that failed or was cancelled is started again.
        """
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and task.error is None:
                task.watchers.add(watcher)
                self._tasks.move_to_end(key)
                return task
            task = self._tasks[key] = Task(key, title, message=f"{title}: starting…", watchers={watcher})
            self._evict()
        threading.Thread(target=self._run, args=(task, work), name=f"attributions-{title}", daemon=True).start()
        return task

    def cancel(self, key: tuple, watcher: str) -> None:
        """Withdraw `watcher`'s interest; the task stops before its next batch if nobody else waits for it."""
        with self._lock:
            task = self._tasks.get(key)
            if task is None or not task.active:
                return
            task.watchers.discard(watcher)
            if not task.watchers:
                task.cancel.set()

    def _evict(self) -> None:
        finished = [k for k, t in self._tasks.items() if not t.active]
        for key in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._tasks[key]

    def _run(self, task: Task, work: Work) -> None:
        torch.set_num_threads(1)  # this thread only orchestrates and runs the cheap steps
        try:
            task.result = work(task.update, task.cancel, self.executor)
        except Cancelled as exc:
            task.error = str(exc)
        except ValueError as exc:  # a student-facing message from explorer
            task.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - never a traceback on the page; the log keeps it
            log.exception("attribution task %s failed", task.title)
            task.error = f"{task.title} failed ({type(exc).__name__}). Press the button to try again."
        finally:
            task.seconds = time.perf_counter() - task.started


@st.cache_resource
def store() -> TaskStore:
    """The server's task store, with its pool of one single-threaded worker per core."""
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="attribution-batch",
                              initializer=torch.set_num_threads, initargs=(1,))
    return TaskStore(pool)


def session_id() -> str:
    """This browser session's id (who watches a task)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"
