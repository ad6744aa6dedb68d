"""explorer.runtime.cluster, explorer.runtime.tasks and explorer.training.jobs on the embedded Dask cluster (this process).

The real distributed path (scheduler and worker processes) is in test_jobs_distributed.py.
"""

import os
import re
import threading
import time

import pytest
import torch
from dask.sizeof import sizeof
from distributed import Event, Variable

from explorer import images
from explorer.models import zoo
from explorer.runtime import cluster, worker, tasks
from explorer.training import datasets, jobs, trainer
from explorer.training.config import TrainConfig
from tests import task_functions
from explorer.training import classifier


@pytest.fixture(scope="module")
def shapes():
    data = datasets.demo_shapes(8, size=48)
    train, val = datasets.split(data, 0.25, seed=0)
    return data, train, val


def _until(condition, timeout=60.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_the_embedded_cluster_starts_in_the_background_with_one_train_slot_per_core(monkeypatch):
    monkeypatch.delenv(cluster.SCHEDULER_ENV, raising=False)
    cluster.start()
    engine = cluster.engine()
    assert engine.kind == "embedded" and engine.address.startswith("inproc://") and engine.note is None
    assert engine.slots() == (int(os.environ.get("CNN_EXPLORER_MAX_RUNS", "0")) or os.cpu_count())
    assert engine.describe() == "on this web server" and cluster.engine() is engine  # one per process


def test_nothing_in_the_web_process_samples_every_threads_frames(monkeypatch):
    """Issue 17: Dask's worker profiler called sys._current_frames() every 10 ms, which can deadlock on
    CPython 3.11 < 3.11.9 (issue 106883). The embedded worker has no profiler, and a task runs without a call."""
    import sys

    engine = cluster.engine()
    dask_worker = next(iter(engine.cluster.workers.values()))
    assert "profile" not in dask_worker.periodic_callbacks and "profile-cycle" not in dask_worker.periodic_callbacks
    calls = []
    real = sys._current_frames
    monkeypatch.setattr(sys, "_current_frames", lambda: calls.append(1) or real())
    task = tasks.submit(task_functions.divide, 6.0, 3.0)
    assert task.wait(60) and task.status == tasks.DONE
    time.sleep(0.3)  # a few of the profiler's 10 ms periods, had it been on
    assert calls == []


def test_tasks_and_training_leave_the_process_thread_count_alone(shapes):
    """Issue 19: torch's thread count is process-wide, and a thread picks up the count of the moment it starts
    computing; a task that set its own count changed it under every other session's computation."""
    def fresh_thread_count() -> int:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        return seen[0]

    before = fresh_thread_count()
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1, batch_size=4), train, val, data.classes)
    probe = tasks.submit(task_functions.divide, 1.0, 2.0)
    assert run.wait(120) and probe.wait(60) and run.status == tasks.DONE
    assert fresh_thread_count() == before == torch.get_num_threads()


def test_an_unreachable_scheduler_falls_back_to_the_embedded_cluster_with_a_note(monkeypatch):
    with __import__("socket").socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    engine = cluster.connect()
    try:
        assert engine.kind == "embedded" and engine.healthy
        assert address in engine.note and "could not be reached" in engine.note
    finally:
        engine.close()


def test_a_run_trains_as_a_dask_task_and_a_second_start_is_refused(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=3, batch_size=4), train, val, data.classes)
    assert run.status in (jobs.QUEUED, jobs.RUNNING) and len(run.id) == 12
    with pytest.raises(jobs.RunActiveError, match="still"):
        jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes, current=run)
    assert run.wait(120) and run.status == jobs.DONE, run.error
    assert [m["epoch"] for m in run.epochs] == [1, 2, 3] and run.evaluation.confusion.sum() == len(val)
    assert len(run.batches) == 3 * len(run.batches) // 3 > 0 and run.batches[-1]["epoch"] == 3
    assert run.fraction == 1.0 and run.worker.startswith("inproc://")
    assert isinstance(run.result, classifier.TrainedModel) and run.summary["epochs_done"] == 3
    again = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes, current=run)
    assert again.wait(120) and again.status == jobs.DONE and again.number == run.number + 1


def test_queue_places_and_stopping_a_waiting_run(shapes):
    data, train, val = shapes
    slots = cluster.engine().slots()
    slow = [jobs.start(TrainConfig("lenet5", "scratch", epochs=200, batch_size=4), train, val, data.classes)
            for _ in range(slots)]
    waiting = [jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes) for _ in range(2)]
    _until(lambda: all(r.status == jobs.RUNNING for r in slow) and waiting[1].queue_position == 2)
    assert [w.queue_position for w in waiting] == [1, 2] and waiting[0].queue() == (1, slots, slots)
    waiting[0].stop()  # leaves the queue at once
    assert waiting[0].status == jobs.STOPPED and waiting[0].result is None
    _until(lambda: waiting[1].queue_position == 1)
    _until(lambda: len(slow[0].batches) >= 2)
    for run in slow:
        run.stop()
    assert slow[0].wait(60) and slow[0].status == jobs.STOPPED and slow[0].result is not None
    assert slow[0].summary["stopped"] and len(slow[0].epochs) < 200
    assert waiting[1].wait(120) and waiting[1].status == jobs.DONE


def test_a_failing_run_reports_its_error(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, [], data.classes)
    assert run.wait(60) and run.status == jobs.FAILED and "validation" in run.error and run.result is None


def test_metrics_of_a_kind_the_run_does_not_know_pass_through(shapes, monkeypatch):
    """The embedded worker shares this process, so a patched trainer is what the task runs."""
    data, train, val = shapes
    real = trainer.train

    def with_cache_progress(*args, **kwargs):
        yield {"kind": "cache", "done": 1, "total": 2}
        yield from real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train", with_cache_progress)
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes)
    assert run.wait(60) and run.status == jobs.DONE
    assert run.extra == {"cache": [{"kind": "cache", "done": 1, "total": 2}]} and len(run.epochs) == 1


def test_attach_finds_a_run_by_id_and_expired_or_unknown_ids_are_none(shapes):
    data, train, val = shapes
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=2), train, val, data.classes, data_name="shapes")
    assert run.wait(60) and run.status == jobs.DONE
    picked = jobs.attach(run.id)
    assert picked is not run and picked.id == run.id and picked.status == jobs.DONE, picked.error
    assert picked.config == run.config and picked.classes == data.classes and picked.data_name == "shapes"
    assert picked.epochs == run.epochs and picked.batches == run.batches and picked.val_set == []
    assert classifier.predict(picked.result, val[0][0]) == classifier.predict(run.result, val[0][0])
    assert jobs.attach("0123456789ab") is None and jobs.attach("../../etc") is None and jobs.attach("") is None
    # Expiry: a sweep after the run's time to live deletes everything the cluster kept about it.
    engine = cluster.engine()
    assert run.id in tasks.sweep(engine, now=time.time() + worker.TTL_S + 1)
    assert jobs.attach(run.id) is None and run.id not in worker.registry(engine.client)
    assert engine.client.get_dataset(worker.record_name(run.id), default=None) is None
    assert not Event(worker.cancel_name(run.id), engine.client).is_set()

    def deleted(name):  # deletes travel on the client's batched stream: they land a moment later
        try:
            Variable(name, engine.client).get(timeout=0.05)
            return False
        except TimeoutError:
            return True

    _until(lambda: deleted(worker.chunk_name(run.id, 0)) and deleted(worker.record_name(run.id)))
    assert run.status == jobs.DONE and run.result is not None  # the session's own copy stays


def test_submit_a_function_with_progress_cancel_and_a_result():
    photos = list(images.sample_images().values())[:3]
    task = tasks.submit(task_functions.top_classes, "efficientnet_lite0", photos)
    assert task.wait(120) and task.status == tasks.DONE, task.error
    expected = [zoo.predict(zoo.load("efficientnet_lite0"), p, k=1)[0][0] for p in photos]
    assert task.result == expected and task.fraction == 1.0 and task.message == "image 3 of 3"
    slow = tasks.submit(task_functions.top_classes, "efficientnet_lite0", photos * 100, delay_s=0.05)
    _until(lambda: slow.fraction > 0)
    assert slow.status == tasks.RUNNING and slow.message.startswith("image ")
    slow.stop()
    assert slow.wait(30) and slow.status == tasks.STOPPED and 0 < len(slow.result) < 300


def test_a_function_that_ends_early_with_its_own_exception_is_stopped_not_failed():
    task = tasks.submit(task_functions.count_until_stopped)
    _until(lambda: task.fraction > 0)
    task.stop()
    assert task.wait(30) and task.status == tasks.STOPPED, task.error
    assert re.fullmatch(r"Stopped after \d+ steps\.", task.error) and task.result is None


def test_models_are_counted_by_their_weights_so_they_go_beside_the_task_not_inside_it():
    lite = zoo.load("efficientnet_lite0")
    for model in (lite, lite.model):
        assert sizeof(((model, torch.zeros(1, 3, 224, 224)), {})) > 18_000_000 > tasks.SCATTER_BYTES


def test_a_task_error_is_one_sentence():
    tiny = tasks.submit(task_functions.top_classes, "efficientnet_lite0", [images.sample_image(
        next(iter(images.sample_images()))).resize((4, 4))])
    assert tiny.wait(60) and tiny.status == tasks.FAILED
    assert tiny.error == "Image 1 is 4×4 pixels: too small to classify."
    broken = tasks.submit(task_functions.divide, 1.0, 0.0)
    assert broken.wait(60) and broken.status == tasks.FAILED
    assert broken.error == "The job failed: ZeroDivisionError: float division by zero"


def test_background_threads_get_a_lower_priority_and_the_pages_keep_theirs():
    if not hasattr(os, "getpriority") or cluster.BACKGROUND_NICE <= 0:
        pytest.skip("threads have no priority of their own here")
    seen = {}

    def background():
        cluster.as_background()
        seen["background"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen["background"] == max(before, cluster.BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    task = tasks.submit(task_functions.own_priority)
    assert task.wait(60) and task.result == max(before, cluster.BACKGROUND_NICE)
