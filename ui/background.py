"""Short work of the web process in the background, shared by key: a model load, a first forward pass, a cheap map.

Issue 17: work of a fraction of a second to a few seconds (loading VGG-16, the first forward pass of a
model on a new photo, a one-pass Grad-CAM) held the page's script thread, and under a class the student
waited seconds for a click. Here it runs on background threads at the priority of background work
(`cluster.as_background`), one torch computation per core, and every session that asks for the same key
shares one computation. The page waits briefly (`ready`), and if the work is not done shows what it is
waiting for and reruns itself when it is (`rerun_when_done`).

Longer work (maps of hundreds of passes, sanity checks, effective fields, training) is a Dask task with
progress and Stop instead (`ui.shared_tasks`); this pool keeps what is too short to be worth a task's
round trips to the scheduler.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

import streamlit as st

from explorer.runtime import cluster

KEEP = 256  # finished results kept by key (maps of 224 px are 0.2 MB each)


def pool(workers: int, name: str) -> ThreadPoolExecutor:
    """`workers` threads named `name`-N, at the priority of background work."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=cluster.as_background)


class Keyed:
    """Background work by key on `executor`: one computation per key while it runs; of the finished results, the
    latest `keep` kept (least recently asked for out first), and with `max_bytes`, only as many as fit in it as
    `size(result)` counts them (for results whose size an address decides; a failed one counts 0)."""

    def __init__(self, executor: ThreadPoolExecutor, keep: int = KEEP, max_bytes: int | None = None,
                 size: Callable[[Any], int] | None = None) -> None:
        self._pool = executor
        self._futures: OrderedDict[tuple, Future] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep
        self._max_bytes = max_bytes
        self._size = size

    def submit(self, key: tuple, fn: Callable[..., Any], *args: Any) -> Future:
        """The future of `fn(*args)` for `key`: the running or finished one, else a new one. One that failed is
        tried again, unless with a ValueError (a sentence for the student: the same input gives the same answer).
        Its `started` attribute is when it was submitted (`time.monotonic()`)."""
        with self._lock:
            future = self._futures.get(key)
            failed = future is not None and future.done() and future.exception() is not None
            if future is None or (failed and not isinstance(future.exception(), ValueError)):
                future = self._pool.submit(fn, *args)
                future.started = time.monotonic()
                self._futures[key] = future
                self._evict(keep_key=key)
            self._futures.move_to_end(key)
            return future

    def _evict(self, keep_key: tuple) -> None:
        """Drop the least recently asked-for finished results beyond `keep` and `max_bytes` (lock held), but never
        `keep_key`'s, just submitted (it may have finished already)."""
        finished = [k for k, f in self._futures.items() if f.done() and k != keep_key]
        for old in finished[:max(0, len(finished) - self._keep)]:
            del self._futures[old]
        if self._max_bytes is None:
            return
        sizes = {k: self._bytes(self._futures[k]) for k in finished if k in self._futures}
        total = sum(sizes.values())
        for old, n in sizes.items():
            if total <= self._max_bytes:
                break
            del self._futures[old]
            total -= n

    def _bytes(self, future: Future) -> int:
        return 0 if future.exception() is not None else self._size(future.result())


@st.cache_resource(show_spinner=False)
def executor() -> ThreadPoolExecutor:
    """The threads for short computations: one per core (each one torch thread, `cluster.set_process_threads`)."""
    return pool(os.cpu_count() or 1, "background")


def ready(future: Future, wait_s: float) -> bool:
    """True when `future` is done, after waiting at most `wait_s` seconds (without holding the GIL)."""
    try:
        future.result(timeout=wait_s)
    except FutureTimeout:
        return False
    except Exception:  # noqa: BLE001 - done, with an error: the caller reads it from the future
        pass
    return True


def rerun_when_done(future: Future, message: str) -> None:
    """Show `message` (with the seconds waited so far) until `future` is done, then rerun the whole page.

    A fragment that looks every second: it costs one small fragment run per second per waiting session.
    """
    @st.fragment(run_every=1.0)
    def waiting() -> None:
        if future.done():
            st.rerun()
        st.info(f"{message} {time.monotonic() - future.started:.0f} s", icon=":material/hourglass_top:")

    waiting()
