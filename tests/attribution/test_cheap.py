"""explorer.attribution.cheap: the three cheap maps from one forward pass equal `methods.attribute`'s (captum's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop
from torch import nn

from explorer.attribution import cheap, explained_model
from explorer.attribution import methods as attr
from explorer.models import zoo
from explorer.training import classifier, trainer
from explorer.training.config import TrainConfig
from tests.attribution.test_methods import _hooks, _Reused


def _layers(model) -> list[str]:
    return [layer.name for layer in explained_model.layer_table(model)]


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6 * max(1.0, float(np.abs(b).max())))


def test_the_first_look_is_the_prediction_and_the_maps_of_the_top_class(lite0, cat):
    maps = cheap.cheap_maps(lite0, cat, None, _layers(lite0))
    _, probs = explained_model.predict(lite0, cat)
    assert np.allclose(maps.probabilities, probs.numpy(), atol=1e-6)
    assert (maps.target, maps.label) == (282, "tiger cat") and maps.probability == pytest.approx(0.39, abs=0.01)
    reference = {m: attr.attribute(lite0, cat, m) for m in cheap.CHEAP}
    for method, expected in reference.items():
        got = maps.attribution(method, expected.options.get("layer"))
        assert _close(got.map, expected.map), method
        assert (got.target, got.label, got.sign, got.options) == (expected.target, expected.label, expected.sign,
                                                                   expected.options)
        assert got.probability == pytest.approx(expected.probability) and got.score == pytest.approx(expected.score)


def test_every_layers_grad_cam_and_guided_grad_cam_equal_one_computed_alone(lite0, cat):
    layers = _layers(lite0)
    maps = cheap.cheap_maps(lite0, cat, 285, layers)  # Egyptian cat: not the top class
    assert maps.target == 285
    for layer in layers[::6] + [layers[-1]]:  # from the stem's 112×112 down to the head's 7×7
        for method in ("grad_cam", "guided_grad_cam"):
            expected = attr.attribute(lite0, cat, method, 285, layer=layer).map
            assert _close(maps.attribution(method, layer).map, expected), (method, layer)
    assert _close(maps.attribution("saliency").map, attr.attribute(lite0, cat, "saliency", 285).map)


def test_on_a_relu_network_the_guided_gradient_is_captums_guided_backprop(cat):
    resnet = zoo.load("resnet18", pretrained=False)
    maps = cheap.cheap_maps(resnet, cat, 7, ["layer4"])
    x = explained_model.explained(resnet).input(cat)
    captum = GuidedBackprop(resnet.model).attribute(x, target=7)[0].sum(0).numpy()
    assert _close(maps.guided, captum)
    assert _close(maps.attribution("grad_cam", "layer4").map, attr.attribute(resnet, cat, "grad_cam", 7).map)


def test_a_trained_model_with_its_own_preprocessing_and_classes(cat):
    config = TrainConfig(backbone="lenet5", strategy="scratch")
    model, _, _ = trainer.architecture("lenet5", 3, pretrained=False)
    trained = classifier.TrainedModel(model, ["cat", "dog", "fox"], config)
    maps = cheap.cheap_maps(trained, cat, 2, _layers(trained))
    assert maps.label == "fox" and maps.size == (32, 32) and maps.probabilities.shape == (3,)
    for method in cheap.CHEAP:
        assert _close(maps.attribution(method, "features.3").map if method != "saliency"
                      else maps.attribution(method).map,
                      attr.attribute(trained, cat, method, 2, **({} if method == "saliency" else
                                                                 {"layer": "features.3"})).map), method


def test_layers_without_a_grad_cam_say_why_and_the_others_still_work(cat):
    small = zoo.load("mobilenet_v3_small", pretrained=False)
    layers = _layers(small)
    squeeze = next(layer.name for layer in explained_model.layer_table(small) if layer.shape[1:] == (1, 1))
    maps = cheap.cheap_maps(small, cat, 1, layers)
    with pytest.raises(ValueError, match="no spatial output"):
        maps.attribution("grad_cam", squeeze)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        maps.attribution("guided_grad_cam", "nope")
    assert maps.attribution("grad_cam", explained_model.default_layer(small)).map.shape == (224, 224)
    reused = cheap.cheap_maps(_Reused().eval(), torch.randn(3, 8, 8), 0, ["conv"])
    with pytest.raises(ValueError, match="runs 2 times"):
        reused.attribution("grad_cam", "conv")
    with pytest.raises(ValueError, match="outside the 1000 classes"):
        cheap.cheap_maps(small, cat, 1000, layers)


def test_the_shared_model_and_the_photo_are_left_as_they_were(lite0, cat):
    before = {k: (v.clone(), v.stride()) for k, v in lite0.model.state_dict().items()}
    pixels = cat.tobytes()
    maps = cheap.cheap_maps(lite0, cat, None, _layers(lite0))  # on a channels-last copy of the weights
    assert all(torch.equal(before[k][0], v) and before[k][1] == v.stride()
               for k, v in lite0.model.state_dict().items())
    assert all(p.grad is None for p in lite0.model.parameters()) and not lite0.model.training
    assert _hooks(lite0.model) == 0 and cat.tobytes() == pixels
    assert 0.5e6 < maps.nbytes < 2e6  # the byte budget of `ui.attributions.choice.MAPS_BYTES` counts on it


def test_a_layer_whose_output_is_changed_in_place_afterwards_keeps_its_own_grad_cam():
    class InPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = self.conv(x)
            y += 1.0  # as a residual block's `out += identity`
            return self.fc(torch.relu(y).mean((2, 3)))

    torch.manual_seed(0)
    net, x = InPlace().eval(), torch.randn(3, 8, 8)
    maps = cheap.cheap_maps(net, x, 1, ["conv"])
    assert _close(maps.attribution("grad_cam", "conv").map, attr.attribute(net, x, "grad_cam", 1, layer="conv").map)
