"""explorer.models.store.ModelStore: shared models within a memory budget, one load per model however many ask at once."""

import threading

from explorer.models import zoo
from explorer.models.store import ModelStore, model_bytes


def test_least_recently_used_model_leaves_when_the_budget_is_passed():
    lenet, mobile = zoo.load("lenet5"), zoo.load("mobilenet_v3_small")  # untrained here: counted
    store = ModelStore(budget=model_bytes(lenet) + model_bytes(mobile) + 1)  # SqueezeNet is smaller than MobileNet
    store.get("lenet5")
    store.get("squeezenet1_1")
    assert store.loaded() == [("lenet5", True), ("squeezenet1_1", True)]
    store.get("lenet5")  # used again: now the most recent
    store.get("mobilenet_v3_small")  # over budget: the least recently used (SqueezeNet) leaves
    assert store.loaded() == [("lenet5", True), ("mobilenet_v3_small", True)]
    assert store.cached("squeezenet1_1") is None


def test_models_whose_weights_ship_with_the_app_always_stay_and_are_not_counted():
    store = ModelStore(budget=1)
    lite = store.get("efficientnet_lite0")
    assert lite.pretrained
    store.get("lenet5")
    store.get("squeezenet1_1")  # over budget: LeNet-5 leaves, Lite0 stays
    assert store.loaded() == [("efficientnet_lite0", True), ("squeezenet1_1", True)]
    assert store.cached("efficientnet_lite0") is lite and store.stamp("efficientnet_lite0") == "efficientnet_lite0#1"


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
