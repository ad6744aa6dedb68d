"""Independent batches of heavy work: progress, cooperative cancel, and an optional executor.

Occlusion, Integrated Gradients, SmoothGrad, GradientShap and the sanity checks are split into
batches of plain inputs. `Batches.run` runs them here in order, or on any
`concurrent.futures.Executor` in parallel (a server-wide thread pool, later a Dask cluster);
it reports `progress(fraction done, message)` after every batch and checks `cancel` (anything
with `is_set()`, such as `threading.Event`) before every batch. Dask cannot interrupt a running
task, so cancelling is cooperative: batches already running finish, the rest end at once.
"""

from __future__ import annotations

from concurrent.futures import Executor, as_completed
from typing import Any, Callable, Protocol

import torch

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
