"""ui.classroom without a browser: what the poller reruns, for whom, and what each replica reports; what a
student keeps while following.

Streamlit's runtime is replaced by a recorder (`hooks.rerun_session`, `hooks.session_active`): the class
itself lives in this process's embedded scheduler, as under `make run`.
"""

import pytest

from explorer.classroom import store, views
from explorer.runtime import cluster
from ui.classroom import hooks, own, poller

PAGES = {"": "h-home", "conv": "h-conv", "filters": "h-filters", "attributions": "h-attr"}


@pytest.fixture
def reruns(monkeypatch):
    """Every rerun the poller asks for: (session id, page hash, query, navigate); all sessions connected."""
    asked = []
    monkeypatch.setattr(hooks, "session_active", lambda sid: not sid.startswith("gone"))
    monkeypatch.setattr(hooks, "rerun_session", lambda sid, page, query, context, navigate:
                        asked.append((sid, page, query, navigate)) or True)
    return asked


def _seat(sid: str, code: str, seen: tuple, following: bool = True, teacher: bool = False,
          mine: own.Own = own.Own()) -> poller.Seat:
    return poller.Seat(sid, code, teacher, following, PAGES, "h-home", f"class={code}", b"", mine, seen)


def test_followers_are_rerun_onto_the_teachers_view_once_per_change(reruns):
    client = cluster.engine().client
    state, _ = store.create(client, "T", seat="t")
    watch = poller.Poller()
    seen = store.get(client, state.code).poke_key()
    for seat in [_seat("f1", state.code, seen), _seat("f2", state.code, seen, mine=own.Own(source="Upload")),
                 _seat("e1", state.code, seen, following=False), _seat("t1", state.code, seen, teacher=True)]:
        watch.seats[seat.session_id] = seat
    watch.tick()
    assert reruns == []  # nothing changed: nothing runs
    store.publish(client, state.code, views.View("filters", {"fm_layer": ["features.5"], "img_src": ["Upload"]}, 1))
    watch.tick()
    watch.tick()  # once per change, however many ticks
    assert sorted(reruns) == [
        ("f1", "h-filters", f"class={state.code}&fm_layer=features.5", True),  # the teacher's photo: the gallery
        ("f2", "h-filters", f"class={state.code}&fm_layer=features.5&img_src=Upload", True),  # their own photo
    ]
    reruns.clear()
    store.set_paused(client, state.code, True)
    watch.tick()
    assert sorted(r[0] for r in reruns) == ["e1", "f1", "f2"]  # a pause reaches explorers too, in place
    assert ("e1", "h-home", f"class={state.code}", False) in reruns


def test_each_replica_reports_its_students_and_the_teacher_adds_them_up(reruns):
    client = cluster.engine().client
    state, _ = store.create(client, "T", seat="t")
    seen = store.get(client, state.code).poke_key()
    here, there = poller.Poller(replica="web-1"), poller.Poller(replica="web-2")
    for sid, following in [("a", True), ("b", True), ("c", False), ("gone-d", True)]:
        here.seats[sid] = _seat(sid, state.code, seen, following)
    there.seats["e"] = _seat("e", state.code, seen)
    here.tick()
    there.tick()
    counted = {}
    for replica, entry in client.get_metadata([store.ROOT, "followers", state.code]).items():
        counted[replica] = (entry["f"], entry["e"])
    assert sorted(counted.values()) == [(1, 0), (2, 1)]  # "gone-d" lost its connection: not counted
    assert store.get(client, state.code).counts() == (3, 1)


def test_what_a_student_keeps_depends_on_the_page():
    mine = own.Own(source="Webcam", model="your run #2 lenet5", run="r-1")
    assert mine.keep("filters") == {"img_src": "Webcam"}
    assert mine.keep("attributions") == {"img_src": "Webcam", "at_model": "your run #2 lenet5"}
    assert mine.keep("transfer") == {"run": "r-1"}
    assert mine.keep("conv") == {}
    state = store.ClassState("K7MQ2P", "T", "h", "s", 0.0, 0.0,
                             view=views.View("attributions", {"at_model": ["resnet18"], "at_methods": ["Saliency"]}, 3))
    page, params = poller.target(state, mine)
    assert page == "attributions" and params == {"at_model": ["your run #2 lenet5"], "at_methods": ["Saliency"],
                                                 "img_src": ["Webcam"], "class": ["K7MQ2P"]}
