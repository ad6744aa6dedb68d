"""The classroom server: `make run` starts the app through this launcher.

    python -m ui.server [streamlit options, e.g. --server.port 8501]

It warms the process before Streamlit listens (`ui.warm.before_serving`: heavy imports, the
pretrained models, every shared cache a first visit reads, `gc.freeze`), starts the Dask cluster
for heavy work, then runs `streamlit run streamlit_app.py` in this same process, so every session
finds them ready. A student's first visit therefore never pays for an import, a model load or a
profile (issues 10 and 17).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"
WARM_THREADS = ("MainThread", "warm-profiles")


def forbid_frame_sampling() -> None:
    """On CPython 3.11 before 3.11.9, make `sys._current_frames()` raise instead of sampling every thread.

    A garbage collection inside that call can deadlock with threads that free torch tensors (CPython
    issue 106883; bench/current_frames_deadlock.py reproduces it here). Dask's worker profiler is off
    (`explorer.runtime.cluster.QUIET`); this makes any other sampler that a library might start fail
    loudly in its own thread, logged, rather than freeze the whole class.
    """
    if sys.version_info >= (3, 11, 9) or sys.version_info < (3, 11):
        return

    def refuse() -> dict:
        raise RuntimeError("sys._current_frames() is disabled in the web server: on this Python it can deadlock "
                           "the process (CPython issue 106883)")

    sys._current_frames = refuse


#: Seconds between two returns of the heap's free pages to the system (`trim_memory`).
TRIM_EVERY_S = 5.0


def trim_memory(every_s: float = TRIM_EVERY_S) -> threading.Thread | None:
    """Every `every_s` seconds, hand the free pages inside glibc's heaps back to the system (`malloc_trim(0)`).

    `make run` has glibc keep 32 MiB free at the top of each heap (`MALLOC_TOP_PAD_`), so that a click's tensors
    reuse pages instead of page-faulting afresh, and a heap shrinks only from its top: without this thread, 30
    students peaked at 3.1 GiB, with it at 2.5 GiB (issue 17; bench/classroom.py). The pages it returns fault in
    again at most once per `every_s`. The call runs without the GIL (ctypes releases it). Returns the thread, or
    None without glibc.
    """
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None

    def loop() -> None:
        while True:
            time.sleep(every_s)
            trim(0)

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> None:
    """Warm up, then hand over to Streamlit's own command line with `argv` as its options."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The warm start calls the pages' cached functions outside any session, which Streamlit logs
    # as "missing ScriptRunContext" once per call; that is expected there. (A filter, not a level:
    # Streamlit resets its loggers' levels when it starts.)
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: threading.current_thread().name not in WARM_THREADS)
    from explorer.runtime import cluster  # noqa: PLC0415 - after logging is set up
    from ui import warm  # noqa: PLC0415

    forbid_frame_sampling()
    trim_memory()
    cluster.set_process_threads()  # once, before any computation: the setting is process-wide
    warm.before_serving()
    cluster.start()  # the Dask cluster for training runs, in the background (explorer.runtime.cluster)
    from streamlit.web import cli  # noqa: PLC0415

    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()


if __name__ == "__main__":
    os.chdir(APP.parent)  # .streamlit/config.toml is read from the working directory
    main(sys.argv[1:])
