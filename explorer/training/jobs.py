"""Training runs as Dask tasks: `start()` returns a `Run` at once; it trains on a worker.

DESIGN.md section 6: a Streamlit rerun kills any loop running in the script thread, so a run is
a Dask task (`explorer.runtime.tasks`) that takes one unit of the workers' `train` resource: as many
runs train at once as the cluster offers units, the others wait in first-come order and can
read their place in the queue. The page keeps the `Run` in `st.session_state` and draws it from
a fragment that re-runs every second; clicks, reruns and page switches neither stop nor restart
it. Its id goes in the page's URL: the run's settings, progress and model live in the cluster
until `worker.TTL_S` after it ends, so another web replica can pick it up (`attach`).

A worker process started with `--preload explorer.training.jobs` imports torch and the trainer before its
first run, and sets torch's intra-op threads to its share of the cores once (`dask_setup`), 1 per run by default: measured on the 2-core machine under load, LeNet-5 trains at ~1,500
images/s with one thread and ~350 with two, because two threads per job oversubscribe the
cores as soon as anything else runs. This module never imports streamlit.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from PIL import Image

from explorer.runtime import cluster, tasks
from explorer.training import trainer
from explorer.training.config import TrainConfig
from explorer.training.classifier import Evaluation
from explorer.training.config import STRATEGY_TITLES
from explorer.runtime import worker

_numbers = count(1)


class RunActiveError(ValueError):
    """A session tried to start a second run while its first one is still queued or training."""


class Run(tasks.Task):
    """One training run: its settings, its live progress and, once finished, its model.

    Besides the `tasks.Task` fields (`id`, `status`, `error`, `queue_position`, `stop()`,
    `wait()`, ...): `epochs` and `batches` hold the trainer's "epoch" and "batch" metrics
    dicts in order, `extra[kind]` those of any other kind the trainer yields; `result` is the
    `TrainedModel` and `evaluation` its `Evaluation` on the validation set once it has ended.
    """

    def __init__(self, config: TrainConfig, classes: list[str], n_train: int, n_val: int, data_name: str = "",
                 val_set: list[tuple[Image.Image, int]] | None = None) -> None:
        super().__init__("train", {"config": config.to_dict(), "classes": list(classes), "n_train": n_train,
                                   "n_val": n_val, "data_name": data_name})
        self.config, self.classes = config, list(classes)
        self.n_train, self.n_val, self.data_name = n_train, n_val, data_name
        self.number = next(_numbers)  # what the page calls it: "#3"
        self.val_set = list(val_set or [])  # kept by the session that started it, for the mistakes gallery
        self.fast_path = config.fast_path
        self.epochs: list[dict] = []
        self.batches: list[dict] = []
        self.extra: dict[str, list[dict]] = {}
        self.evaluation: Evaluation | None = None
        self.summary: dict = {}  # the trainer's final "done" dict, without the model

    @classmethod
    def from_record(cls, record: dict) -> "Run":
        info = record["info"]
        return cls(TrainConfig.from_dict(info["config"]), info["classes"], info["n_train"], info["n_val"],
                   info.get("data_name", ""))

    @property
    def prepare(self) -> dict | None:
        """The latest "prepare" metrics (frozen blocks computed once), or None."""
        return self.extra["prepare"][-1] if self.extra.get("prepare") else None

    @property
    def latest(self) -> dict | None:
        """The most recent batch metrics, or None before the first step."""
        return self.batches[-1] if self.batches else None

    @property
    def label(self) -> str:
        c = self.config
        return f"#{self.number} {c.backbone_label} · {STRATEGY_TITLES[c.strategy]}"

    def _on_event(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "batch":
            self.batches.append(event)
        elif kind == "epoch":
            self.epochs.append(event)
        else:  # a kind this module does not know yet: kept for the page as it came
            self.extra.setdefault(str(kind), []).append(event)

    def _on_result(self, value: Any) -> None:
        self.result, self.evaluation, self.summary = value["model"], value["evaluation"], value["summary"]


def _train(config: TrainConfig, train_set: list, val_set: list, classes: list[str], *,
           progress: worker.Progress, cancel: worker.Cancel) -> dict:
    """The task: run `trainer.train`, sending every metrics dict to the page; return the model."""
    for metrics in trainer.train(config, train_set, val_set, classes, cancel):
        if metrics["kind"] == "done":
            summary = {k: v for k, v in metrics.items() if k not in ("kind", "model", "evaluation")}
            return {"model": metrics["model"], "evaluation": metrics["evaluation"], "summary": summary}
        progress.emit(metrics)
        if metrics["kind"] == "batch":
            done = (metrics["epoch"] - 1 + metrics["step"] / metrics["steps"]) / config.epochs
            progress(done, f"epoch {metrics['epoch']}/{config.epochs}")
    raise RuntimeError("the trainer ended without a result")  # trainer.train always yields "done" last


def start(config: TrainConfig, train_set: list[tuple[Image.Image, int]], val_set: list[tuple[Image.Image, int]],
          classes: list[str], current: Run | None = None, data_name: str = "",
          engine: cluster.Engine | None = None) -> Run:
    """Submit a run to the cluster and return it at once (status "queued").

    Args:
        current: the session's previous run; if it is still active, RunActiveError is raised,
            so a session never has two runs (a double click starts one run, not two).
        engine: where to run it (default: this process's engine, `cluster.engine()`).

    Raises:
        RunActiveError: `current` is still queued or training.
        ValueError: invalid settings (checked here, before anything is queued), or
            `tasks.ClusterError`: the cluster cannot be reached or the data are too large to send.
    """
    if current is not None and current.active:
        raise RunActiveError(f"Run #{current.number} is still {current.status}: stop it or wait until it finishes.")
    config.check()
    run = Run(config, classes, len(train_set), len(val_set), data_name, val_set)
    return tasks.launch(run, _train, (config, list(train_set), list(val_set), list(classes)),
                        resources={cluster.TRAIN: 1}, engine=engine)


def attach(run_id: str, engine: cluster.Engine | None = None) -> Run | None:
    """The run `run_id` (from a page's URL) as the cluster keeps it, or None if unknown or expired.

    Its validation images stay with the session that started it (`val_set` is empty here).
    """
    return tasks.attach(run_id, Run.from_record, "train", engine)


def dask_setup(dask_worker) -> None:
    """Dask's preload hook: the worker process's torch threads, set once (`cluster.worker_threads`)."""
    cluster.set_process_threads(cluster.worker_threads(dask_worker.state.nthreads,
                                                       dask_worker.state.total_resources.get(cluster.TRAIN, 0)))
