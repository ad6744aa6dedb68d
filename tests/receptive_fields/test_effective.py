"""Effective receptive fields (Luo et al. 2016), the truncated forward pass, and the inputs they are computed on."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
import torch
from torch import nn

from explorer import images
from explorer.filters import feature_maps
from explorer.receptive_fields import fields as rf
from explorer.receptive_fields import inputs as rf_inputs
from explorer.models import registry
from explorer.receptive_fields import graph as rf_graph
from explorer.receptive_fields import effective
from explorer.runtime import batches

LAYER = "features.3"


@pytest.fixture(scope="module")
def batch():
    photos = [images.sample_image(n) for n in ("chelsea (cat)", "coffee", "rocket")]
    return rf_inputs.preprocess(rf_inputs.zoo_input("efficientnet_lite0", 224), photos)


def test_inputs_match_the_models_own_preprocessing(lite0):
    cat = images.sample_image("chelsea (cat)")
    x = rf_inputs.preprocess(rf_inputs.zoo_input("efficientnet_lite0", 224), [cat])
    assert torch.equal(x, feature_maps.preprocess(lite0, cat))
    assert np.array_equal(rf_inputs.to_pixels(rf_inputs.zoo_input("efficientnet_lite0", 224), x[0]),
                          feature_maps.input_view(lite0, x))
    assert rf_inputs.preprocess(rf_inputs.zoo_input("efficientnet_lite0", 225), [cat]).shape == (1, 3, 225, 225)
    gray = rf_inputs.preprocess(rf_inputs.custom_input((1, 28, 20)), [cat])
    assert gray.shape == (1, 1, 28, 20) and gray.min() >= -1 and gray.max() <= 1
    with pytest.raises(ValueError, match="takes 5 input channels.*set its input channels to 1 or 3"):
        rf_inputs.preprocess(rf_inputs.custom_input((5, 8, 8)), [cat])


def test_layer_output_equals_the_hooked_feature_map(lite0):
    cat = images.sample_image("chelsea (cat)")
    x = feature_maps.preprocess(lite0, cat)
    assert torch.allclose(rf_graph.layer_output(lite0.model, LAYER, x)[0], feature_maps.feature_maps(lite0, cat, LAYER))
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        rf_graph.layer_output(lite0.model, "nope", x)


def test_effective_field_lies_inside_the_theoretical_box_and_sums_to_one(lite0, batch):
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    flags = [p.requires_grad for p in lite0.model.parameters()]
    inputs = batch.clone()
    steps = []
    erf = effective.effective_rf(lite0.model, LAYER, batch, progress=lambda f, m: steps.append((f, m)), batch_size=2)
    assert erf.shape == (224, 224) and erf.dtype == np.float64
    assert erf.min() >= 0 and erf.sum() == pytest.approx(1.0)
    field = rf.find(rf.receptive_fields(lite0.model, 224), LAYER)
    top, left, bottom, right = rf.unit_box(field, 14, 14)  # the centre unit of the 28×28 map
    rows, cols = np.nonzero(erf > 0)
    assert len(rows) > 0
    assert top <= rows.min() and rows.max() <= bottom and left <= cols.min() and cols.max() <= right
    assert [f for f, _ in steps] == [2 / 3, 1.0] and steps[-1][1] == "3 of 3 images"
    # The shared model is left as it was: weights, requires_grad, mode, hooks, gradients; the inputs too.
    assert all(torch.equal(before[k], v) for k, v in lite0.model.state_dict().items())
    assert [p.requires_grad for p in lite0.model.parameters()] == flags
    assert all(p.grad is None for p in lite0.model.parameters())
    assert not lite0.model.training and not any(m._forward_hooks for m in lite0.model.modules())
    assert torch.equal(inputs, batch)


def test_training_enlarges_the_effective_field(lite0, batch):
    field = rf.find(rf.receptive_fields(lite0.model, 224), LAYER)
    box = rf.unit_box(field, 14, 14)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    torch.manual_seed(0)
    untrained = registry.build("efficientnet_lite0")
    trained = effective.centred_square(effective.effective_rf(lite0.model, LAYER, batch), centre, 0.9)
    random = effective.centred_square(effective.effective_rf(untrained, LAYER, batch), centre, 0.9)
    assert random < trained < field.size[0]  # Luo et al.: a fraction of the box, and larger after training


def test_cancel_stops_before_the_next_batch(lite0, batch):
    flag = threading.Event()
    flag.set()
    with pytest.raises(batches.Cancelled, match="after 0 of 3 images"):
        effective.effective_rf(lite0.model, LAYER, batch, cancel=flag)
    flag.clear()
    with pytest.raises(batches.Cancelled, match="after 1 of 3 images"):
        effective.effective_rf(lite0.model, LAYER, batch, batch_size=1, cancel=flag, progress=lambda f, m: flag.set())


def test_bad_arguments_say_what_to_change(lite0, batch):
    with pytest.raises(ValueError, match=r"batch \[N, C, H, W\]"):
        effective.effective_rf(lite0.model, LAYER, batch[0])
    flat = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    with pytest.raises(ValueError, match="does not produce feature maps"):
        effective.effective_rf(flat, "1", torch.rand(1, 3, 8, 8))


def test_centred_square():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert effective.centred_square(delta, (4, 4), 0.9) == 1
    uniform = np.full((9, 9), 1 / 81)
    assert effective.centred_square(uniform, (4, 4), 1.0) == 9
    assert effective.centred_square(uniform, (4, 4), 0.3) == 5  # 25/81 ≥ 0.3 > 9/81
    assert effective.centred_square(np.full((4, 4), 1 / 16), (1.5, 1.5), 0.25) == 2  # half-pixel centre: even sides
    with pytest.raises(ValueError, match="mass fraction"):
        effective.centred_square(uniform, (4, 4), 0)


def test_photos_preprocessed_one_at_a_time_give_the_batchs_field(lite0, batch):
    """What the page hands to its task (the photos, not a float batch of its own) computes the same field."""
    photos = [images.sample_image(n) for n in ("chelsea (cat)", "coffee", "rocket")]
    spec = rf_inputs.zoo_input("efficientnet_lite0", 224)
    steps = []
    erf = effective.effective_rf_of_photos(lite0.model, LAYER, spec, photos, progress=lambda f, m: steps.append(m))
    np.testing.assert_allclose(erf, effective.effective_rf(lite0.model, LAYER, batch), rtol=1e-9, atol=1e-15)
    assert steps == ["1 of 3 images", "2 of 3 images", "3 of 3 images"]
    with pytest.raises(ValueError, match="at least one photo"):
        effective.effective_rf_of_photos(lite0.model, LAYER, spec, [])


def test_a_model_is_freed_once_its_maps_and_field_are_computed():
    """The truncated module's torch.fx graph is a reference cycle holding the model's layers; with Streamlit's
    collection after every run turned off (runner.postScriptGC), a model the store dropped stayed in memory."""
    model = registry.build("lenet5")
    weight = weakref.ref(next(model.parameters()))
    layer = rf.default_layer(rf.receptive_fields(model, 32))
    x = torch.rand(2, 1, 32, 32)
    gc.disable()  # as between two of Python's own collections
    try:
        rf_graph.layer_output(model, layer, x)
        effective.effective_rf(model, layer, x)
        del model
        assert weight() is None
    finally:
        gc.enable()
