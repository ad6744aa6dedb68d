"""Classes in the scheduler's metadata: made, published, paused, counted, ended, and read by another replica."""

import time

from distributed import Client

from explorer.classroom import codes, store, views


def test_a_class_is_made_read_back_by_another_client_and_keeps_only_the_secrets_hash(client):
    state, secret = store.create(client, "  Ms <b>Rivera</b> ", seat="tab-1")
    assert codes.normalize_code(state.code) == state.code and state.live()
    with Client(client.scheduler.address, set_as_default=False) as other:  # another web replica
        seen = store.get(other, state.code)
    assert seen.name == "Ms <b>Rivera</b>" and seen.seat == "tab-1" and seen.view == views.View(published=seen.view.published)
    assert codes.secret_matches(secret, seen.secret_hash)
    assert secret not in repr(client.get_metadata([store.ROOT]))


def test_publish_pause_counts_and_end_each_write_their_own_leaf(client):
    state, _ = store.create(client, "T", seat="a")
    store.publish(client, state.code, views.View("conv", {"ca_stride": ["2"], "teacher": ["x"]}, 1))
    store.set_paused(client, state.code, True)
    now = time.time()
    store.report(client, "replica-1", {state.code: (3, 1)}, now)
    store.report(client, "replica-2", {state.code: (2, 0)}, now)
    store.report(client, "replica-gone", {state.code: (9, 9)}, now - store.COUNTS_TTL_S - 1)
    seen = store.get(client, state.code)
    assert seen.view.page == "conv" and seen.view.params == {"ca_stride": ["2"]} and seen.view.version == 1
    assert seen.paused and seen.counts() == (5, 1)
    assert seen.poke_key() == (1, True, False)
    store.take_seat(client, state.code, "b")
    store.end(client, state.code)
    ended = store.get(client, state.code)
    assert ended.seat == "b" and not ended.live() and ended.poke_key() == (1, True, True)
    assert ended.view == seen.view  # the end changed nothing else


def test_two_classes_do_not_mix(client):
    one, _ = store.create(client, "One", seat="1")
    two, _ = store.create(client, "Two", seat="2")
    store.publish(client, one.code, views.View("filters", {"fm_layer": ["features.3"]}, 1))
    store.publish(client, two.code, views.View("conv", {"ca_pad": ["1"]}, 1))
    classes = store.snapshot(client)
    assert classes[one.code].view.page == "filters" and classes[two.code].view.page == "conv"
    assert classes[one.code].name == "One" and classes[two.code].name == "Two"


def test_a_class_ends_by_itself_after_three_idle_hours_and_is_swept_a_day_later(client):
    past = time.time() - store.IDLE_S - 60
    state, _ = store.create(client, "Idle", seat="x", now=past)
    assert not store.get(client, state.code).live()
    store.touch(client, state.code)  # an active teacher keeps a class going
    assert store.get(client, state.code).live()
    old, _ = store.create(client, "Old", seat="y", now=past - store.KEEP_ENDED_S)
    assert old.code in store.sweep(client)
    assert store.get(client, old.code) is None and store.get(client, state.code) is not None


def test_malformed_metadata_reads_as_no_class(client):
    client.set_metadata([store.ROOT, "classes", "ABCDEF"], {"name": 3})
    client.set_metadata([store.ROOT, "classes", "not a code"], {"name": "x", "secret": "y", "seat": "z"})
    client.set_metadata([store.ROOT, "classes", "ABCDEG"], {"name": "x", "secret": "y", "seat": "z",
                                                             "view": {"page": "../etc", "q": {"a": 5}, "v": "x"}})
    classes = store.snapshot(client)
    assert "ABCDEF" not in classes and "not a code" not in classes
    odd = classes["ABCDEG"]
    assert odd.view == views.View("", {}, 0, 0.0) and odd.counts() == (0, 0)
