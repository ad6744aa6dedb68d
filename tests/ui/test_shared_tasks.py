"""ui.shared_tasks.TaskStore: heavy page work as Dask tasks on the embedded cluster, shared by key, cancelled
cooperatively."""

from __future__ import annotations

import time

import pytest

from explorer.runtime import tasks
from tests.runtime import task_functions
from ui.shared_tasks import TaskStore, time_note
from tests.support import until
from explorer.runtime import worker


@pytest.fixture
def store():
    return TaskStore()


def test_a_task_runs_reports_progress_is_joined_and_keeps_its_result(store):
    # 500 steps of 10 ms: progress reaches the page every second (worker.FLUSH_S, polling.POLL_S), well before the end
    shared = store.start(("k",), "Counting", task_functions.count_until_stopped, watcher="a", limit=500)
    until(lambda: shared.fraction > 0)
    assert shared.active and shared.message.startswith("step ") and shared.result is None
    assert store.start(("k",), "Counting", task_functions.count_until_stopped, watcher="b", limit=500) is shared
    until(lambda: not shared.active)
    assert shared.result == 500 and shared.error is None and shared.seconds > 1.0
    assert store.get(("k",)) is shared


def test_cancel_stops_only_when_no_session_waits_any_more(store):
    shared = store.start(("k",), "Counting", task_functions.count_until_stopped, watcher="a")
    assert store.join(("k",), "b") is shared and store.join(("other",), "b") is None
    until(lambda: shared.fraction > 0)
    store.cancel(("k",), "a")
    time.sleep(1.0)
    assert shared.active  # b still wants it
    store.cancel(("k",), "b")
    until(lambda: not shared.active)
    assert shared.task.status == worker.STOPPED and shared.error.startswith("Stopped after ")
    again = store.start(("k",), "Counting", task_functions.count_until_stopped, watcher="a", limit=3)
    assert again is not shared  # a cancelled task starts afresh
    until(lambda: not again.active)
    assert again.result == 3


def test_errors_are_one_sentence(store):
    broken = store.start(("b",), "Dividing", task_functions.divide, 1.0, 0.0, watcher="s")
    until(lambda: not broken.active)
    assert broken.error == "The job failed: ZeroDivisionError: float division by zero" and broken.result is None


def test_a_refused_task_says_why_and_is_tried_again():
    def refuse(*args, **kwargs):
        raise tasks.ClusterError("The Dask scheduler is not answering right now: try again in a few seconds.")

    refusing = TaskStore(submit=refuse)
    shared = refusing.start(("k",), "Counting", task_functions.count_until_stopped, watcher="s")
    assert not shared.active and shared.error.startswith("The Dask scheduler is not answering")
    refusing._submit = tasks.submit
    again = refusing.start(("k",), "Counting", task_functions.count_until_stopped, watcher="s", limit=2)
    until(lambda: not again.active)
    assert again.result == 2


def test_finished_tasks_are_evicted_oldest_first(store, monkeypatch):
    monkeypatch.setattr("ui.shared_tasks.KEEP_FINISHED", 2)
    done = []
    for i in range(4):
        shared = store.start((i,), f"t{i}", task_functions.count_until_stopped, watcher="s", limit=1)
        until(lambda shared=shared: not shared.active)
        done.append(shared)
    store.start((9,), "t9", task_functions.count_until_stopped, watcher="s", limit=1)  # starting one makes room
    assert store.get((0,)) is None and store.get((1,)) is None
    assert store.get((2,)) is done[2] and store.get((3,)) is done[3]


def test_a_cluster_that_cannot_start_refuses_the_task_with_one_sentence(store, monkeypatch):
    """No exception reaches the page when the job engine is missing (issue 19): the task is refused, and said so."""
    from explorer.runtime import cluster

    def no_engine(timeout: float = 60.0):
        raise TimeoutError("The job engine did not start in time.")

    monkeypatch.setattr(cluster, "engine", no_engine)
    shared = store.start(("refused",), "Counting", task_functions.count_until_stopped, watcher="a")
    assert shared.task is None and not shared.active and shared.error.startswith("The job engine has not started")


class _Waiting:
    """A task that waits in the cluster's queue: third in line, with two of its kind running."""

    status, fraction, message, result, error, active = worker.QUEUED, 0.0, "", None, None, True

    def queue(self) -> tuple:
        return 3, 2, 2

    def stop(self) -> None:
        self.active = False


def test_a_waiting_task_says_how_many_go_first_instead_of_a_speed_guess():
    """Issue 21: "about 3 s" took 17.6 s under a class; the queue ahead is what the student can be told."""
    store = TaskStore(submit=lambda *a, **k: _Waiting())
    shared = store.start(("k",), "Occlusion", task_functions.count_until_stopped, watcher="a")
    assert shared.message == "Occlusion: queued behind 4 other computations…"  # 2 queued before it + 2 running
    assert store.ahead() == 1 and store.ahead(exclude=(("k",),)) == 0
    assert time_note(3.2, 0) == "about 3 s on a quiet server"
    assert time_note(3.2, 1).startswith("queued behind 1 other computation on the server")
