"""The classroom server: `make run` starts the app through this launcher.

    python -m ui.server [streamlit options, e.g. --server.port 8501]

It warms the process before Streamlit listens (`ui.warm.before_serving`: heavy imports, the
pretrained models, every shared cache a first visit reads, `gc.freeze`), starts the Dask cluster
for heavy work, then runs `streamlit run streamlit_app.py` in this same process, so every session
finds them ready. A student's first visit therefore never pays for an import, a model load or a
profile (issues 10 and 17).
"""

from __future__ import annotations

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
    cluster.set_process_threads()  # once, before any computation: the setting is process-wide
    warm.before_serving()
    cluster.start()  # the Dask cluster for training runs, in the background (explorer.runtime.cluster)
    from streamlit.web import cli  # noqa: PLC0415

    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()


if __name__ == "__main__":
    os.chdir(APP.parent)  # .streamlit/config.toml is read from the working directory
    main(sys.argv[1:])
