"""ui.attribution_tasks.TaskStore: heavy work in background threads, shared by key, cancelled cooperatively."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from explorer.attributions import Cancelled
from ui.attribution_tasks import TaskStore


@pytest.fixture
def tasks():
    with ThreadPoolExecutor(2) as pool:
        yield TaskStore(pool)


def _wait(task, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while task.active and time.time() < deadline:
        time.sleep(0.01)
    assert not task.active


def test_a_task_runs_in_the_background_reports_progress_and_keeps_its_result(tasks):
    release = threading.Event()

    def work(progress, cancel, executor):
        progress(0.5, "half way")
        release.wait(5)
        return executor.submit(lambda: 42).result()

    task = tasks.start(("k",), "answer", work, "session-a")
    deadline = time.time() + 5
    while task.fraction < 0.5 and time.time() < deadline:
        time.sleep(0.01)
    assert task.active and task.message == "half way"
    assert tasks.start(("k",), "answer", work, "session-b") is task  # a second session joins, nothing restarts
    release.set()
    _wait(task)
    assert task.result == 42 and task.error is None and task.seconds > 0
    assert tasks.get(("k",)) is task


def test_cancel_stops_only_when_no_session_waits_any_more(tasks):
    def work(progress, cancel, executor):
        while not cancel.is_set():
            time.sleep(0.01)
        raise Cancelled("Occlusion: cancelled before the map was finished.")

    task = tasks.start(("k",), "occlusion", work, "a")
    tasks.start(("k",), "occlusion", work, "b")
    tasks.cancel(("k",), "a")
    time.sleep(0.05)
    assert task.active  # b still wants it
    tasks.cancel(("k",), "b")
    _wait(task)
    assert task.error == "Occlusion: cancelled before the map was finished."
    again = tasks.start(("k",), "occlusion", lambda p, c, e: "done", "a")  # a cancelled task starts afresh
    assert again is not task
    _wait(again)
    assert again.result == "done"


def test_errors_become_one_sentence(tasks):
    def student_error(progress, cancel, executor):
        raise ValueError("The Occlusion window (256 px) is larger than the image.")

    def bug(progress, cancel, executor):
        raise RuntimeError("shape mismatch deep inside torch")

    a = tasks.start(("a",), "Occlusion", student_error, "s")
    b = tasks.start(("b",), "Integrated Gradients", bug, "s")
    _wait(a)
    _wait(b)
    assert a.error == "The Occlusion window (256 px) is larger than the image."
    assert b.error == "Integrated Gradients failed (RuntimeError). Press the button to try again."
    assert "shape mismatch" not in b.error  # no internals on the page


def test_finished_tasks_are_evicted_oldest_first(tasks, monkeypatch):
    monkeypatch.setattr("ui.attribution_tasks.KEEP_FINISHED", 2)
    done = []
    for i in range(4):
        task = tasks.start((i,), f"t{i}", lambda p, c, e, i=i: i, "s")
        _wait(task)
        done.append(task)
    tasks.start((9,), "t9", lambda p, c, e: 9, "s")  # starting a task makes room
    assert tasks.get((0,)) is None and tasks.get((1,)) is None
    assert tasks.get((2,)) is done[2] and tasks.get((3,)) is done[3]
