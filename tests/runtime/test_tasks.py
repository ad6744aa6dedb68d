"""explorer.runtime (the cluster, tasks, the worker side) on the embedded Dask cluster of this process.

Training runs as tasks are in tests/training/test_jobs.py; real scheduler and worker processes in
tests/training/test_jobs_distributed.py.
"""

import contextlib
import os
import re
import socket
import sys
import threading
import time

import pytest
import torch
from dask.sizeof import sizeof

from explorer import images
from explorer.models import zoo
from explorer.runtime import cluster, tasks
from explorer.training import jobs
from explorer.training.config import TrainConfig
from tests.runtime import task_functions
from tests.support import until
from explorer.runtime import worker


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
    engine = cluster.engine()
    dask_worker = next(iter(engine.cluster.workers.values()))
    assert "profile" not in dask_worker.periodic_callbacks and "profile-cycle" not in dask_worker.periodic_callbacks
    calls = []
    real = sys._current_frames
    monkeypatch.setattr(sys, "_current_frames", lambda: calls.append(1) or real())
    task = tasks.submit(task_functions.divide, 6.0, 3.0)
    assert task.wait(60) and task.status == worker.DONE
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
    assert run.wait(120) and probe.wait(60) and run.status == worker.DONE
    assert fresh_thread_count() == before == torch.get_num_threads()


@contextlib.contextmanager
def _not_a_scheduler():
    """A TCP server on localhost that answers like a web server, not like Dask (its reply, read as a Dask
    frame length, asked distributed for exabytes: a MemoryError, not an OSError)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


def _free_address() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("address", ["http://x", "host:notaport", "tcp://", "ucx://x:1", "x" * 300, "unreachable",
                                     "not a scheduler", "", "   "])
def test_any_bad_scheduler_address_falls_back_to_the_embedded_cluster_with_a_note(monkeypatch, address):
    """Issue 19: `http://x` and `host:notaport` raised ValueError where only OSError was caught, leaving the app
    with no cluster. Empty means none is configured: the embedded cluster, without a note."""
    with contextlib.ExitStack() as stack:
        if address == "unreachable":
            address = _free_address()
        elif address == "not a scheduler":
            address = stack.enter_context(_not_a_scheduler())
        monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
        monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
        engine = cluster.connect()
        try:
            assert engine.kind == "embedded" and engine.healthy
            if address.strip():
                assert address[:100] in engine.note and "could not be reached" in engine.note
            else:
                assert engine.note is None
        finally:
            engine.close()


def test_a_task_refused_when_the_engine_cannot_start_is_one_sentence(monkeypatch):
    """ui.shared_tasks catches ClusterError only: an engine that does not start (TimeoutError) must become one."""
    def no_engine(timeout: float = 60.0):
        raise TimeoutError("The job engine did not start in time.")

    monkeypatch.setattr(cluster, "engine", no_engine)
    with pytest.raises(tasks.ClusterError, match="has not started yet"):
        tasks.submit(task_functions.divide, 1.0, 2.0)


def test_an_ephemeral_task_leaves_the_cluster_as_soon_as_it_ended():
    """Page work (ui.shared_tasks) is ephemeral: its inputs (a model, a batch of images) are freed when it ends,
    not TTL_S later, so a link that starts one task after another does not pile them up (issue 19)."""
    client = cluster.engine().client
    kept = tasks.submit(task_functions.divide, 6.0, 3.0)
    gone = tasks.submit(task_functions.divide, 6.0, 2.0, ephemeral=True)
    assert kept.wait(60) and gone.wait(60) and (kept.result, gone.result) == (2.0, 3.0)
    # released: unpublished, then its registry entry expires now (two writes: wait for both)
    until(lambda: client.get_dataset(worker.record_name(gone.id), default=None) is None
          and worker.registry(client)[gone.id]["x"] <= time.time())
    assert client.get_dataset(worker.record_name(kept.id), default=None) is not None
    assert time.time() < worker.registry(client)[kept.id]["x"]


def test_submit_a_function_with_progress_cancel_and_a_result():
    photos = list(images.sample_images().values())[:3]
    task = tasks.submit(task_functions.top_classes, "efficientnet_lite0", photos)
    assert task.wait(120) and task.status == worker.DONE, task.error
    expected = [zoo.predict(zoo.load("efficientnet_lite0"), p, k=1)[0][0] for p in photos]
    assert task.result == expected and task.fraction == 1.0 and task.message == "image 3 of 3"
    slow = tasks.submit(task_functions.top_classes, "efficientnet_lite0", photos * 100, delay_s=0.05)
    until(lambda: slow.fraction > 0)
    assert slow.status == worker.RUNNING and slow.message.startswith("image ")
    slow.stop()
    assert slow.wait(30) and slow.status == worker.STOPPED and 0 < len(slow.result) < 300


def test_a_function_that_ends_early_with_its_own_exception_is_stopped_not_failed():
    task = tasks.submit(task_functions.count_until_stopped)
    until(lambda: task.fraction > 0)
    task.stop()
    assert task.wait(30) and task.status == worker.STOPPED, task.error
    assert re.fullmatch(r"Stopped after \d+ steps\.", task.error) and task.result is None


def test_models_are_counted_by_their_weights_so_they_go_beside_the_task_not_inside_it():
    lite = zoo.load("efficientnet_lite0")
    for model in (lite, lite.model):
        assert sizeof(((model, torch.zeros(1, 3, 224, 224)), {})) > 18_000_000 > tasks.SCATTER_BYTES


def test_a_task_error_is_one_sentence():
    tiny = tasks.submit(task_functions.top_classes, "efficientnet_lite0", [images.sample_image(
        next(iter(images.sample_images()))).resize((4, 4))])
    assert tiny.wait(60) and tiny.status == worker.FAILED
    assert tiny.error == "Image 1 is 4×4 pixels: too small to classify."
    broken = tasks.submit(task_functions.divide, 1.0, 0.0)
    assert broken.wait(60) and broken.status == worker.FAILED
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


def test_the_web_server_refuses_to_sample_every_threads_frames_where_that_can_deadlock(monkeypatch):
    from ui import server  # noqa: PLC0415

    monkeypatch.setattr(sys, "_current_frames", sys._current_frames)  # restored after the test
    server.forbid_frame_sampling()
    if sys.version_info[:2] == (3, 11) and sys.version_info < (3, 11, 9):
        with pytest.raises(RuntimeError, match="106883"):
            sys._current_frames()
    else:
        assert isinstance(sys._current_frames(), dict)


def test_the_web_server_hands_freed_heap_pages_back_to_the_system(monkeypatch):
    """`ui.server.trim_memory`: a daemon thread calls glibc's malloc_trim(0) every few seconds (what that call
    returns to the system is measured by bench/classroom.py, not here: it depends on the whole process's heap)."""
    from ui import server  # noqa: PLC0415

    calls: list[int] = []

    class Libc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            return 0

    monkeypatch.setattr(server.ctypes, "CDLL", lambda _name: Libc())
    thread = server.trim_memory(every_s=0.01)
    assert thread is not None and thread.daemon and thread.name == "malloc-trim"
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls[:3] == [0, 0, 0]
