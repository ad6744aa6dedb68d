"""ui.models: how model pickers name the models, and how an untrained model's output is described."""

import os

import pytest
import torch
from PIL import Image

from explorer.models import registry, weights, zoo
from ui import models as ui_models


def test_pickers_mark_the_models_without_weights_here(torch_home):
    assert ui_models.picker_label("efficientnet_lite0") == "efficientnet_lite0"
    assert ui_models.picker_label("lenet5") == "lenet5 (untrained here)"
    assert ui_models.picker_label("squeezenet1_1") == "squeezenet1_1 (untrained here)"
    entry = registry.info("squeezenet1_1")
    torch.save(registry.build("squeezenet1_1").state_dict(), torch_home / os.path.basename(entry.tv_weights.url))
    assert weights.available("squeezenet1_1") and ui_models.picker_label("squeezenet1_1") == "squeezenet1_1"


def test_an_untrained_models_output_is_described_not_ranked(torch_home, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    loaded = zoo.load("alexnet")
    probs = zoo.class_probabilities(loaded, Image.new("RGB", (64, 64), "white"))
    assert probs.shape == (1000,) and float(probs.sum()) == pytest.approx(1.0, abs=1e-4)
    text = ui_models.untrained_output(loaded.info.title, float(probs.min()), float(probs.max()), 1000)
    assert text.startswith("**AlexNet is untrained here, so it makes no prediction.**") and "1/1,000" in text
    assert "all 1,000 classes tie at 0.10%" in ui_models.untrained_output("X", 0.001, 0.001, 1000)


def test_a_model_the_store_dropped_is_not_held_by_its_load(monkeypatch, torch_home):
    """Loads run in the background (`ui.models._loads`); a finished load kept there held its model after the store
    let it go, and a class that tried every zoo model kept them all (5 GiB)."""
    import gc
    import weakref

    from explorer.models import store

    small = store.ModelStore(budget=1)  # every load evicts the one before
    monkeypatch.setattr(store, "shared", lambda: small)
    monkeypatch.setattr(ui_models, "QUICK_LOAD_S", 120.0)
    first = weakref.ref(ui_models.loaded_model("lenet5", pretrained=False).model)
    ui_models.loaded_model("squeezenet1_1", pretrained=False)
    ui_models.loaded_model("lenet5", pretrained=True)  # a third load: the first one's future is gone by now
    gc.collect()
    assert first() is None
