"""explorer.models.store.ModelStore: shared models within a memory budget, one load per model however many ask at once."""

import threading

from explorer.models import zoo
from explorer.models.store import ModelStore, model_bytes


def test_least_recently_used_model_leaves_when_the_budget_is_passed():
    lenet, lite = zoo.load("lenet5"), zoo.load("efficientnet_lite0")
    store = ModelStore(budget=model_bytes(lenet) + model_bytes(lite) + 1)
    store.get("lenet5")
    store.get("efficientnet_lite0")
    assert store.loaded() == [("lenet5", True), ("efficientnet_lite0", True)]
    store.get("lenet5")  # used again: now the most recent
    store.get("mobilenet_v3_small")  # over budget: the least recently used (Lite0) leaves
    assert store.loaded() == [("lenet5", True), ("mobilenet_v3_small", True)]
    assert store.cached("efficientnet_lite0") is None


def test_one_model_over_budget_still_stays():
    store = ModelStore(budget=1)
    loaded = store.get("lenet5")
    assert store.cached("lenet5") is loaded and store.loaded() == [("lenet5", True)]


def test_concurrent_requests_build_the_model_once():
    store = ModelStore(budget=2**40)
    got: list[zoo.LoadedModel] = []
    threads = [threading.Thread(target=lambda: got.append(store.get("efficientnet_lite0"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and all(g is got[0] for g in got)
    assert store.stamp("efficientnet_lite0") == "efficientnet_lite0#1"


def test_a_model_built_again_gets_a_new_stamp():
    """An untrained model rebuilt after eviction has new random weights: caches keyed by the stamp see it."""
    store = ModelStore(budget=1)
    store.get("lenet5")
    first = store.stamp("lenet5")
    store.get("mobilenet_v3_small")  # evicts LeNet-5
    store.get("lenet5")
    assert store.stamp("lenet5") != first
