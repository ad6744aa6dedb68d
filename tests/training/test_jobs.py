"""explorer.training.jobs: training runs as Dask tasks on the embedded cluster of this process.

The real distributed path (scheduler and worker processes) is in test_jobs_distributed.py.
"""

import time

import pytest
from distributed import Event, Variable

from explorer.runtime import cluster, worker
from explorer.training import jobs, trainer
from explorer.training.config import TrainConfig
from explorer.training import classifier
from tests.support import until


def test_a_run_trains_as_a_dask_task_and_a_second_start_is_refused(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=3, batch_size=4), train, val, data.classes)
    assert run.status in (worker.QUEUED, worker.RUNNING) and len(run.id) == 12
    with pytest.raises(jobs.RunActiveError, match="still"):
        jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes, current=run)
    assert run.wait(120) and run.status == worker.DONE, run.error
    assert [m["epoch"] for m in run.epochs] == [1, 2, 3] and run.evaluation.confusion.sum() == len(val)
    steps = len(train) // 4 + (len(train) % 4 > 1)  # batches of 4; a last batch of one joins the one before
    assert [(b["epoch"], b["step"], b["steps"]) for b in run.batches] == [
        (epoch, step, steps) for epoch in (1, 2, 3) for step in range(1, steps + 1)]  # every batch, in order
    assert run.fraction == 1.0 and run.worker.startswith("inproc://")
    assert isinstance(run.result, classifier.TrainedModel) and run.summary["epochs_done"] == 3
    again = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes, current=run)
    assert again.wait(120) and again.status == worker.DONE and again.number == run.number + 1


def test_queue_places_and_stopping_a_waiting_run(shapes):
    data, train, val = shapes
    slots = cluster.engine().slots()
    slow = [jobs.start(TrainConfig("lenet5", "scratch", epochs=200, batch_size=4), train, val, data.classes)
            for _ in range(slots)]
    waiting = [jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes) for _ in range(2)]
    until(lambda: all(r.status == worker.RUNNING for r in slow) and waiting[1].queue_position == 2)
    assert [w.queue_position for w in waiting] == [1, 2] and waiting[0].queue() == (1, slots, slots)
    waiting[0].stop()  # leaves the queue at once
    assert waiting[0].status == worker.STOPPED and waiting[0].result is None
    until(lambda: waiting[1].queue_position == 1)
    until(lambda: len(slow[0].batches) >= 2)
    for run in slow:
        run.stop()
    assert slow[0].wait(60) and slow[0].status == worker.STOPPED and slow[0].result is not None
    assert slow[0].summary["stopped"] and len(slow[0].epochs) < 200
    assert waiting[1].wait(120) and waiting[1].status == worker.DONE


def test_a_failing_run_reports_its_error(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, [], data.classes)
    assert run.wait(60) and run.status == worker.FAILED and "validation" in run.error and run.result is None


def test_metrics_of_a_kind_the_run_does_not_know_pass_through(shapes, monkeypatch):
    """The embedded worker shares this process, so a patched trainer is what the task runs."""
    data, train, val = shapes
    real = trainer.train

    def with_cache_progress(*args, **kwargs):
        yield {"kind": "cache", "done": 1, "total": 2}
        yield from real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train", with_cache_progress)
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes)
    assert run.wait(60) and run.status == worker.DONE
    assert run.extra == {"cache": [{"kind": "cache", "done": 1, "total": 2}]} and len(run.epochs) == 1


def test_attach_finds_a_run_by_id_and_expired_or_unknown_ids_are_none(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=2), train, val, data.classes, data_name="shapes")
    assert run.wait(60) and run.status == worker.DONE
    picked = jobs.attach(run.id)
    assert picked is not run and picked.id == run.id and picked.status == worker.DONE, picked.error
    assert picked.config == run.config and picked.classes == data.classes and picked.data_name == "shapes"
    assert picked.epochs == run.epochs and picked.batches == run.batches and picked.val_set == []
    assert classifier.predict(picked.result, val[0][0]) == classifier.predict(run.result, val[0][0])
    assert jobs.attach("0123456789ab") is None and jobs.attach("../../etc") is None and jobs.attach("") is None
    # Expiry: a sweep after the run's time to live deletes everything the cluster kept about it.
    engine = cluster.engine()
    assert run.id in worker.sweep(engine.client, now=time.time() + worker.TTL_S + 1)
    assert jobs.attach(run.id) is None and run.id not in worker.registry(engine.client)
    assert engine.client.get_dataset(worker.record_name(run.id), default=None) is None
    assert not Event(worker.cancel_name(run.id), engine.client).is_set()

    def deleted(name):  # deletes travel on the client's batched stream: they land a moment later
        try:
            Variable(name, engine.client).get(timeout=0.05)
            return False
        except TimeoutError:
            return True

    until(lambda: deleted(worker.chunk_name(run.id, 0)) and deleted(worker.record_name(run.id)))
    assert run.status == worker.DONE and run.result is not None  # the session's own copy stays


