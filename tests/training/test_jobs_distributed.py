"""The real distributed path: a `dask scheduler` and two `dask worker` processes on localhost.

Training runs and a small real function go through them with live progress and a cancel; a
second client (another web replica) picks a run up by id; a worker killed mid-run ends the run
with one sentence instead of a silent restart; data too large to send are refused; a lost
scheduler fails the run with one sentence. The cluster (`dask_cluster`, tests/conftest.py) is
shared with the browser tests of tests/e2e/test_distributed.py: its workers take a while to start.
"""

import sys

import cloudpickle
import dask
import pytest
from distributed import LocalCluster

from explorer import images
from explorer.models import zoo
from explorer.runtime import cluster, polling, tasks, worker
from explorer.training import datasets, jobs
from explorer.training.config import TrainConfig
from tests.runtime import task_functions
from tests.support import until

#: The shared cluster's workers import torch and the explorer before the first test can run (pytest.ini: 300 s).
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def engine(dask_cluster):
    """What a web replica holds with CNN_EXPLORER_DASK_SCHEDULER set."""
    eng = cluster.remote(dask_cluster.address)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def digits():
    data = datasets.digits(30, size=32)
    train, val = datasets.split(data, 0.25, seed=0)
    return data, train, val


def imported(name: str) -> bool:
    """Run on the scheduler: has it imported module `name`? (Sent by value: the scheduler cannot import tests.)"""
    import sys

    return name in sys.modules


cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_runs_train_on_the_worker_processes_with_live_progress_a_queue_and_a_cancel(dask_cluster, engine, digits):
    data, train, val = digits
    assert engine.kind == "remote" and engine.slots() == 2 and len(engine.workers()) == 2
    long = TrainConfig("lenet5", "scratch", epochs=300, batch_size=4)
    runs = [jobs.start(long, train, val, data.classes, engine=engine) for _ in range(3)]
    until(lambda: all(len(r.batches) >= 3 for r in runs[:2]) and runs[2].queue_position == 1, timeout=90)
    # Progress arrives while they train, one run per worker process (train=1 each); the third waits.
    assert {r.worker for r in runs[:2]} == engine.workers() and all(r.status == worker.RUNNING for r in runs[:2])
    assert runs[2].status == worker.QUEUED and runs[2].queue() == (1, 2, 2)
    assert 0 < runs[0].fraction < 1 and runs[0].latest["epoch"] >= 1
    runs[0].stop()  # cooperative: the worker sees the Event within a batch and returns the model so far
    assert runs[0].wait(60) and runs[0].status == worker.STOPPED and runs[0].result is not None
    assert runs[0].summary["stopped"] and len(runs[0].epochs) < 300
    until(lambda: runs[2].status == worker.RUNNING, timeout=90)  # the freed slot goes to the waiting run
    for run in runs[1:]:
        run.stop()
        assert run.wait(60) and run.status == worker.STOPPED
    done = jobs.start(TrainConfig("lenet5", "scratch", epochs=2, batch_size=16), train, val, data.classes,
                      engine=engine)
    assert done.wait(120) and done.status == worker.DONE, done.error
    assert [e["epoch"] for e in done.epochs] == [1, 2] and done.evaluation.confusion.sum() == len(val)
    assert done.worker in engine.workers()
    # The scheduler only passed bytes along: it imported neither torch nor this project.
    assert not any(engine.client.run_on_scheduler(imported, m) for m in ("torch", "explorer", "PIL"))


def test_another_replica_picks_a_run_up_by_id(dask_cluster, engine, digits):
    data, train, val = digits
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=40, batch_size=8), train, val, data.classes,
                     data_name="digits", engine=engine)
    until(lambda: len(run.epochs) >= 1, timeout=90)
    other = cluster.remote(dask_cluster.address)  # a second web process's client
    try:
        picked = jobs.attach(run.id, engine=other)
        assert picked.status == worker.RUNNING and picked.data_name == "digits" and picked.config == run.config
        assert len(picked.epochs) >= 1 and picked.epochs[0] == run.epochs[0]
        run_first = run.epochs[0]
        picked.stop()  # a stop from the other replica reaches the worker too
        assert run.wait(60) and picked.wait(60)
        assert run.status == picked.status == worker.STOPPED and picked.epochs == run.epochs
        assert picked.epochs[0] == run_first and picked.result is not None
        images_ = [img for img, _ in val[:5]]
        assert picked.result.logits(images_).argmax(1).tolist() == run.result.logits(images_).argmax(1).tolist()
    finally:
        other.close()


def test_a_function_with_progress_cancel_and_its_model_loaded_on_the_worker(engine):
    photos = list(images.sample_images().values())[:2]
    task = tasks.launch(tasks.Task(), task_functions.top_classes, ("efficientnet_lite0", photos), engine=engine)
    assert task.wait(120) and task.status == worker.DONE, task.error
    assert task.result == [zoo.predict(zoo.load("efficientnet_lite0"), p, k=1)[0][0] for p in photos]
    assert task.worker in engine.workers() and task.fraction == 1.0
    slow = tasks.launch(tasks.Task(), task_functions.top_classes, ("efficientnet_lite0", photos * 200),
                        {"delay_s": 0.05}, engine=engine)
    until(lambda: slow.fraction > 0, timeout=90)
    slow.stop()
    assert slow.wait(30) and slow.status == worker.STOPPED and 0 < len(slow.result) < 400


def test_a_worker_killed_mid_run_fails_the_run_with_one_sentence(dask_cluster, engine, digits):
    data, train, val = digits
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=300, batch_size=4), train, val, data.classes,
                     engine=engine)
    until(lambda: len(run.batches) >= 2, timeout=90)
    with dask_cluster.client() as client:
        killed = dask_cluster.kill_worker_running(client, f"train-{run.id}")
        assert run.wait(60) and run.status == worker.FAILED
        assert run.error == worker.WORKER_DIED and "start it again" in run.error
        assert killed not in engine.workers() and run.result is None
        # It is not started again from scratch elsewhere: the cluster's record says failed, and no
        # worker holds the task.
        assert worker.registry(client)[run.id]["s"] == worker.FAILED
        assert not any(str(k).startswith(f"train-{run.id}") for keys in client.processing().values() for k in keys)
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


def test_a_second_attempt_refuses_to_start_over(dask_cluster, engine, digits):
    """No web replica watching (all gone): Dask reruns the task after its worker died; that attempt ends as failed."""
    data, train, val = digits
    run = jobs.start(TrainConfig("lenet5", "scratch", epochs=300, batch_size=4), train, val, data.classes,
                     engine=engine)
    until(lambda: len(run.batches) >= 2, timeout=90)
    polling.poller(engine).tasks.discard(run)  # nobody polls it: the cluster alone must end it
    with dask_cluster.client() as client:
        dask_cluster.kill_worker_running(client, f"train-{run.id}")
        future = client.get_dataset(worker.record_name(run.id))
        payload = future.result(timeout=120)  # the rerun, on the other worker or the restarted one
        assert payload == {"status": worker.FAILED, "error": worker.WORKER_DIED, "value": None}
        client.wait_for_workers(2, timeout=120)


def test_data_too_large_to_send_are_refused_with_one_sentence(engine, digits, monkeypatch):
    data, train, val = digits
    monkeypatch.setattr(tasks, "MAX_SEND_BYTES", 2**19)  # the digits hold 0.9 MB of pixels
    before = worker.registry(engine.client)
    with pytest.raises(tasks.ClusterError, match=r"\(0.9 MB\) are more than the 0.5 MB one job may send to the Dask"):
        jobs.start(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes, engine=engine)
    assert worker.registry(engine.client) == before  # nothing was submitted


def test_a_scheduler_that_goes_away_mid_run_fails_the_run_with_one_sentence(digits):
    """A scheduler on TCP with its worker in this process (no torch import to wait for); then it stops."""
    data, train, val = digits
    # The worker's training thread notices the lost scheduler at its next cancel check, after a connect timeout.
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        http = "127.0.0.1:0"  # Dask's HTTP endpoints on a free local port
        local = LocalCluster(processes=False, protocol="tcp", host="127.0.0.1", n_workers=1, threads_per_worker=2,
                             resources={"train": 1}, memory_limit=0, dashboard_address=None,
                             worker_dashboard_address=http, scheduler_kwargs={"dashboard": False,
                                                                              "dashboard_address": http})
        _scheduler_goes_away(local, data, train, val)


def _scheduler_goes_away(local, data, train, val):
    far = cluster.remote(local.scheduler_address, timeout=10)
    try:
        run = jobs.start(TrainConfig("lenet5", "scratch", epochs=300, batch_size=4), train, val, data.classes,
                         engine=far)
        until(lambda: len(run.batches) >= 2, timeout=90)
        local.sync(local.scheduler.close)
        assert run.wait(60) and run.status == worker.FAILED and run.error == tasks.CLUSTER_LOST
        until(lambda: not far.healthy, timeout=90)
    finally:
        far.close()
        local.close()
