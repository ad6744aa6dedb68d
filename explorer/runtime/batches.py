"""Independent batches of heavy work: progress, cooperative cancel, and an optional executor.

Occlusion, Integrated Gradients, SmoothGrad, GradientShap and the sanity checks are split into
batches of plain inputs. `Batches.run` runs them here in order, or on any
`concurrent.futures.Executor` in parallel (`worker_pool()`: the cores of the process that runs the task);
it reports `progress(fraction done, message)` after every batch and checks `cancel` (anything
with `is_set()`, such as `threading.Event`) before every batch. Dask cannot interrupt a running
task, so cancelling is cooperative: batches already running finish, the rest end at once.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from typing import Any, Callable, Protocol

import torch

from explorer.runtime import cluster

Progress = Callable[[float, str], None]


class CancelFlag(Protocol):
    """Anything with `is_set()`: a `threading.Event`, a `distributed.Event`."""

    def is_set(self) -> bool: ...


class Cancelled(ValueError):
    """The computation was cancelled before it finished (pages show the message)."""


class Batches:
    """Runs independent batches, here in order or on an executor, reporting each one done.

    Progress is always reported, and cancellation checked, from the calling thread; each batch
    also checks `cancel` before it starts, so batches still queued on an executor end at once.
    """

    def __init__(self, title: str, progress: Progress | None, cancel: CancelFlag | None,
                 executor: Executor | None) -> None:
        self.title, self.progress, self.cancel, self.executor = title, progress, cancel, executor

    def check(self) -> None:
        """Raise `Cancelled` if the cancel flag is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.title}: cancelled before the map was finished.")

    def _report(self, done: int, total: int, unit: str) -> None:
        if self.progress is not None:
            self.progress(done / total, f"{self.title}: {unit} {done} of {total}")

    def _guarded(self, fn: Callable[[Any], torch.Tensor], item: Any) -> torch.Tensor:
        self.check()
        return fn(item)

    def run(self, fn: Callable[[Any], torch.Tensor], items: list, unit: str) -> list[torch.Tensor]:
        """[fn(item) for item in items], in the order of `items`."""
        self.check()
        if self.executor is None or len(items) < 2:
            results = []
            for item in items:
                results.append(self._guarded(fn, item))
                self._report(len(results), len(items), unit)
            return results
        futures = {self.executor.submit(self._guarded, fn, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        try:
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                self._report(done, len(items), unit)
                self.check()
        finally:
            for future in futures:
                future.cancel()
        return results




_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def worker_pool() -> Executor:
    """This process's pool for the batches of heavy tasks: one computation per share of the cores
    (per core with the default of one torch thread per computation, `cluster.set_process_threads`).

    Every heavy map and check that runs on this process (a Dask worker, or the web process with its
    embedded cluster) shares it: one student's Occlusion uses every core, and with a class on the
    server the batches queue instead of oversubscribing the cores (two intra-op threads spin-wait as
    soon as another computation holds a core, DESIGN.md section 4). Its threads run at a lower priority
    than the pages, as the tasks do.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, (os.cpu_count() or 1) // torch.get_num_threads())
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heavy-batch",
                                       initializer=cluster.as_background)
        return _pool
