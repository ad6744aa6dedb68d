"""Pure-Python work in a helper process, off the web process's GIL.

Profiling a model on the meta device (`explorer.architecture.comparison.profile_model`) is Python from end to end:
every operation goes through a `__torch_dispatch__` handler, and nothing releases the GIL. In the web
process, a 0.1–0.7 s profile then holds up every other session's script run; with a class on the
server, the warm start's profiles of every zoo model were the busiest Python code of the web process
(py-spy during bench/classroom.py). `run(fn, *args)` runs such a function in one long-lived helper
process instead: the calling thread waits without the GIL, and the other sessions go on.

The process is started on first use (`start()` does it ahead of time: ~3 s to import torch), is
shared by every session, and runs one call at a time with one torch thread. It holds about 420 MB
of private memory once it has profiled every zoo model (torch and torchvision imported; meta-device
models have no weights). If it dies, the next call starts another.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _init() -> None:
    import torch  # noqa: PLC0415 - the child's first import, once

    torch.set_num_threads(1)


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init)
        return _pool


def start() -> Future:
    """Start the helper process now (the warm start calls it); the future ends once it is ready."""
    return _executor().submit(_init)


#: Seconds a caller waits for its call, queue included: far more than any profile or trace takes (< 2 s), so
#: only a helper that stopped answering reaches it, and the page then says so instead of waiting for ever.
TIMEOUT_S = 120.0


class Busy(ValueError):
    """The helper process did not answer in time (a sentence for the student)."""


def run(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the helper process; its exceptions (a ValueError for the student) are raised here.

    `fn` must be a module-level function and its arguments and result picklable.

    Raises:
        Busy: no answer within TIMEOUT_S seconds.
    """
    global _pool
    pool = _executor()
    try:
        return _result(pool.submit(fn, *args))
    except BrokenProcessPool:  # the process died (killed, out of memory): one more try in a new one
        log.warning("the helper process died; starting another", exc_info=True)
        with _lock:
            if _pool is pool:
                _pool = None
        return _result(_executor().submit(fn, *args))


def _result(future: Future) -> Any:
    try:
        return future.result(timeout=TIMEOUT_S)
    except FutureTimeout:
        raise Busy("The server is too busy to compute this right now: try again in a minute.") from None
