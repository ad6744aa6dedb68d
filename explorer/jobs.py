"""Training runs in worker threads, with a server-wide limit on how many train at once.

DESIGN.md section 6: a Streamlit rerun kills any loop running in the script thread, so a run
lives in a worker thread and writes its progress into a plain `Run` object. The page keeps the
`Run` in `st.session_state` and draws it from a fragment that re-runs every second; clicks,
reruns and page switches neither stop nor restart it. This module never imports streamlit.

`Scheduler` is one per server process (`SCHEDULER`): at most `limit` runs train at the same
time (default: the number of CPU cores, one busy run per core beats oversubscription), the
others wait in first-come order and can read their place in the queue. Each worker thread
calls `torch.set_num_threads(cpus // limit)` (1 by default) before it trains: measured on the
2-core machine under load, LeNet-5 trains at ~1,500 images/s with one thread and ~350 with
two, because two threads per job oversubscribe the cores as soon as anything else runs.
(PyTorch applies the setting to the calling thread and to threads created afterwards.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from itertools import count

import torch
from PIL import Image

from explorer import trainer
from explorer.trainer import Evaluation, TrainConfig, TrainedModel

log = logging.getLogger(__name__)
_ids = count(1)

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"


class RunActiveError(ValueError):
    """A session tried to start a second run while its first one is still queued or training."""


class Scheduler:
    """First-come, first-served admission of at most `limit` concurrent runs."""

    def __init__(self, limit: int | None = None) -> None:
        self.cpus = os.cpu_count() or 1
        self.limit = max(1, limit or self.cpus)
        self._cond = threading.Condition()
        self._waiting: list[Run] = []
        self._running: list[Run] = []

    def position(self, run: "Run") -> int | None:
        """1-based place of `run` in the waiting queue, or None if it is not waiting."""
        with self._cond:
            return self._waiting.index(run) + 1 if run in self._waiting else None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def threads_per_run(self) -> int:
        """Intra-op threads each run uses: an equal share of the cores when all slots are busy."""
        return max(1, self.cpus // self.limit)

    def acquire(self, run: "Run") -> bool:
        """Block until `run` may train (True), or until its stop flag is set while waiting (False)."""
        with self._cond:
            self._waiting.append(run)
            try:
                while not (self._waiting[0] is run and len(self._running) < self.limit):
                    if run.stop_event.is_set():
                        return False
                    self._cond.wait(timeout=0.25)
                self._running.append(run)
                return True
            finally:
                self._waiting.remove(run)
                self._cond.notify_all()

    def release(self, run: "Run") -> None:
        with self._cond:
            if run in self._running:
                self._running.remove(run)
            self._cond.notify_all()


#: The server-wide scheduler: module state is shared by every session of one Streamlit server.
SCHEDULER = Scheduler(int(os.environ.get("CNN_EXPLORER_MAX_RUNS", "0")) or None)


@dataclass(eq=False)
class Run:
    """One training run: its settings, its live progress and, once finished, its model.

    The worker thread is the only writer; the page only reads (lists are appended to, never
    rebuilt, so a reader sees a consistent prefix) and may call `stop()`.
    """

    config: TrainConfig
    classes: list[str]
    n_train: int
    n_val: int
    data_name: str = ""
    id: int = field(default_factory=lambda: next(_ids))
    status: str = QUEUED
    epochs: list[dict] = field(default_factory=list)  # one "epoch" metrics dict per finished epoch
    batches: list[dict] = field(default_factory=list)  # one "batch" metrics dict per step
    prepare: dict | None = None  # the latest "prepare" metrics (frozen blocks computed once), or None
    error: str | None = None
    result: TrainedModel | None = None
    evaluation: Evaluation | None = None
    val_set: list[tuple[Image.Image, int]] = field(default_factory=list, repr=False)
    fast_path: bool = False
    summary: dict = field(default_factory=dict)  # the trainer's final "done" dict, without the model
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    scheduler: Scheduler = field(default=SCHEDULER, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """True while queued or training."""
        return self.status in (QUEUED, RUNNING)

    @property
    def queue_position(self) -> int | None:
        return self.scheduler.position(self) if self.status == QUEUED else None

    @property
    def latest(self) -> dict | None:
        """The most recent batch metrics, or None before the first step."""
        return self.batches[-1] if self.batches else None

    def stop(self) -> None:
        """Ask the run to end before its next batch (or to leave the queue)."""
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread has finished (for tests and notebooks); True if it did."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.active

    @property
    def label(self) -> str:
        c = self.config
        return f"#{self.id} {c.backbone_label} · {trainer.STRATEGY_TITLES[c.strategy]}"


def _work(run: Run, train_set: list, val_set: list) -> None:
    acquired = False
    try:
        acquired = run.scheduler.acquire(run)
        if not acquired:
            run.status = STOPPED
            return
        run.status, run.started_at = RUNNING, time.time()
        torch.set_num_threads(run.scheduler.threads_per_run)
        run.fast_path = run.config.fast_path
        for metrics in trainer.train(run.config, train_set, val_set, run.classes, run.stop_event):
            if metrics["kind"] == "batch":
                run.batches.append(metrics)
            elif metrics["kind"] == "prepare":
                run.prepare = metrics
            elif metrics["kind"] == "epoch":
                run.epochs.append(metrics)
            else:
                run.result = metrics["model"]
                run.summary = {k: v for k, v in metrics.items() if k not in ("model", "evaluation")}
                run.evaluation = metrics["evaluation"]
                run.status = STOPPED if metrics["stopped"] else DONE
    except ValueError as exc:
        run.error, run.status = str(exc), FAILED
    except Exception as exc:  # noqa: BLE001 - shown to the student as a message, logged in full
        log.exception("training run %s failed", run.id)
        run.error, run.status = f"Training failed: {exc.__class__.__name__}: {exc}", FAILED
    finally:
        run.finished_at = time.time()
        if run.status in (QUEUED, RUNNING):  # the generator ended without a "done" dict
            run.status = STOPPED
        if acquired:
            run.scheduler.release(run)


def start(config: TrainConfig, train_set: list[tuple[Image.Image, int]], val_set: list[tuple[Image.Image, int]],
          classes: list[str], current: Run | None = None, data_name: str = "",
          scheduler: Scheduler | None = None) -> Run:
    """Start a run in a worker thread and return it at once (status "queued").

    Args:
        current: the session's previous run; if it is still active, RunActiveError is raised,
            so a session never has two runs (a double click starts one run, not two).

    Raises:
        RunActiveError: `current` is still queued or training.
        ValueError: invalid settings (checked here, before anything is queued).
    """
    if current is not None and current.active:
        raise RunActiveError(f"Run #{current.id} is still {current.status}: stop it or wait until it finishes.")
    config.check()
    run = Run(config, list(classes), len(train_set), len(val_set), data_name=data_name,
              val_set=list(val_set), scheduler=scheduler or SCHEDULER)
    run.thread = threading.Thread(target=_work, args=(run, list(train_set), list(val_set)),
                                  name=f"train-run-{run.id}", daemon=True)
    run.thread.start()
    return run
