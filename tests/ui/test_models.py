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
