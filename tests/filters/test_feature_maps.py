"""explorer.filters.feature_maps: hooked feature maps equal a manual forward pass; hooks never stay; the model is not mutated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import transforms as T

from explorer.filters import feature_maps
from explorer.models import zoo
from explorer.filters import feature_figures as ffig
from explorer.models import layers
from explorer.models import registry


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _manual_lite(model, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of a few Lite0 layers, computed by calling its submodules by hand."""
    f = model.features
    with torch.inference_mode():
        if layer == "features.0":
            return f[0](x)[0]
        if layer == "features.3":
            return f[3](f[2](f[1](f[0](x))))[0]
        if layer == "features.2.0.depthwise.conv":
            h = f[2][0].expand(f[1](f[0](x)))
            return f[2][0].depthwise.conv(f[2][0].depthwise.pad(h))[0]
        if layer == "features.8":
            return f(x)[0]
    raise AssertionError(layer)


@pytest.mark.parametrize("layer", ["features.0", "features.2.0.depthwise.conv", "features.3", "features.8"])
def test_lite0_feature_maps_equal_manual_forward(lite0, cat, layer):
    before = _state(lite0.model)
    maps = feature_maps.feature_maps(lite0, cat, layer)
    expected = _manual_lite(lite0.model, feature_maps.preprocess(lite0, cat), layer)
    assert maps.shape == expected.shape == layers.layer_shapes(lite0)[layer]
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-5)
    assert _no_hooks(lite0.model)
    after = lite0.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not lite0.model.training


def test_resnet18_and_alexnet_feature_maps_equal_manual_forward(cat):
    torch.manual_seed(0)
    resnet = zoo.load("resnet18", pretrained=False)
    m, x = resnet.model, feature_maps.preprocess(resnet, cat)
    with torch.inference_mode():
        stem = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        layer2_conv1 = m.layer2[0].conv1(m.layer1(stem))[0]
        layer3 = m.layer3(m.layer2(m.layer1(stem)))[0]
    torch.testing.assert_close(feature_maps.feature_maps(resnet, cat, "layer2.0.conv1"), layer2_conv1)
    torch.testing.assert_close(feature_maps.feature_maps(resnet, cat, "layer3"), layer3)
    assert _no_hooks(m)

    # AlexNet's ReLUs are in place: the conv's own output (before ReLU) must be returned, negatives included.
    alexnet = zoo.load("alexnet", pretrained=False)
    x = feature_maps.preprocess(alexnet, cat)
    with torch.inference_mode():
        conv1 = alexnet.model.features[0](x)[0]
    maps = feature_maps.feature_maps(alexnet, cat, "features.0")
    torch.testing.assert_close(maps, conv1)
    assert (maps < 0).any()
    assert _no_hooks(alexnet.model)


def test_hook_removed_when_layer_is_bad_or_forward_fails(lite0, cat):
    with pytest.raises(ValueError, match="no layer"):
        feature_maps.feature_maps(lite0, cat, "features.99")
    with pytest.raises(ValueError, match="does not produce feature maps"):
        feature_maps.feature_maps(lite0, cat, "classifier.1")  # [1, 1000], not [1, C, H, W]
    assert _no_hooks(lite0.model)

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    broken = dataclasses.replace(lite0, model=nn.Sequential(nn.Conv2d(3, 4, 3), Boom()))
    with pytest.raises(RuntimeError, match="boom"):
        feature_maps.feature_maps(broken, cat, "0")
    assert _no_hooks(broken.model)


def test_analyse_matches_predict_and_what_the_model_saw(lite0, cat):
    result = feature_maps.analyse(lite0, cat, "features.3", k=5)
    expected = zoo.predict(lite0, cat, k=5)
    assert [label for label, _ in result.top] == [label for label, _ in expected]
    np.testing.assert_allclose([p for _, p in result.top], [p for _, p in expected], rtol=1e-5)
    assert result.top[0][0] in {"tiger cat", "Egyptian cat", "tabby"}
    crop = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC, antialias=True), T.CenterCrop(224)])
    reference = np.asarray(crop(cat)).astype(int)
    # The crop goes through ToTensor/Normalize and back: equal up to rounding, except where bicubic overshoots.
    assert result.seen.shape == (224, 224, 3)
    assert np.mean(np.abs(result.seen.astype(int) - reference) <= 1) > 0.99
    assert _no_hooks(lite0.model)


def test_stage_summary_of_lite0_shrinks_resolution_and_grows_channels(lite0):
    stages = feature_maps.stage_summary(layers.layer_table(lite0), lite0.input_size)
    assert [s.resolution[0] for s in stages] == [112, 56, 28, 14, 7]
    assert [s.downsampling for s in stages] == [2, 4, 8, 16, 32]
    assert stages[0].channels == (32, 16) and stages[-1].channels == (192, 320, 1280)
    assert stages[0].reading == feature_maps.HIERARCHY[0] and stages[-1].reading == feature_maps.HIERARCHY[-1]
    assert "28×28 (1/8 of the input side) · features.3 · 40 channels" in stages[2].line


@pytest.mark.parametrize("name", registry.list_models())
def test_layer_table_for_every_zoo_model(name):
    """On the meta device (no weights): every listed layer is a module with [C, H, W] output, stages shrink."""
    entry = registry.info(name)
    with torch.device("meta"):
        model = registry.build(name)
    loaded = zoo.LoadedModel(name, model, zoo.make_transform(entry), entry.input_size,
                             [str(i) for i in range(entry.num_classes)], False, "", entry)
    table = layers.layer_table(loaded)
    names = [layer.name for layer in table]
    assert len(names) == len(set(names)) > 0
    assert all(len(layer.shape) == 3 and layer.kind in {"conv", "block", "stage"} for layer in table)
    assert all(model.get_submodule(n) is not None for n in names)
    stages = feature_maps.stage_summary(table, entry.input_size)
    sides = [s.resolution[0] for s in stages]
    assert sides == sorted(sides, reverse=True) and len(set(sides)) == len(sides)
    assert layers.default_layer(table) in names
    assert _no_hooks(model)


def test_first_layer_filters_and_conv_weight(lite0):
    filters = feature_maps.first_layer_filters(lite0)
    assert filters.shape == (32, 3, 3, 3)
    assert torch.equal(filters, lite0.model.features[0].conv.weight)
    filters.zero_()  # a copy: the model's weights stay
    assert lite0.model.features[0].conv.weight.abs().sum() > 0
    lenet = zoo.load("lenet5")
    assert feature_maps.first_layer_filters(lenet).shape == (6, 1, 5, 5)
    assert feature_maps.conv_weight(lite0, "features.2.0.depthwise.conv").shape == (96, 1, 3, 3)
    with pytest.raises(ValueError, match="not a convolution"):
        feature_maps.conv_weight(lite0, "features.2")


def test_top_channels_are_sorted_by_mean_activation():
    maps = torch.zeros(5, 2, 2)
    maps[3] = 4.0
    maps[1] = 2.0
    maps[4, 0, 0] = 1.0  # mean 0.25
    maps[0] = -1.0
    assert feature_maps.top_channels(maps, 3) == [3, 1, 4]
    assert feature_maps.top_channels(maps, 99) == [3, 1, 4, 2, 0]


def test_grid_of_32_maps_stays_small(lite0, cat):
    result = feature_maps.analyse(lite0, cat, "features.0.conv")  # 32 maps of 112×112, the largest of Lite0
    channels = feature_maps.top_channels(result.maps, 32)
    fig = ffig.feature_grid(result.maps, channels, "features.0.conv", result.seen)
    assert len(fig.to_json()) <= 3_000_000
    assert "32 of 32 channels (112×112 each" in fig.spec["layout"]["title"]["text"]
    grid = ffig.filter_grid(feature_maps.first_layer_filters(lite0), "features.0.conv")
    assert "3×3×3×32" in grid.spec["layout"]["title"]["text"]


def test_default_slice_layer_and_depthwise(lite0):
    assert feature_maps.default_slice_layer(lite0) == "features.1.0.depthwise.conv"
    assert feature_maps.is_depthwise(lite0, "features.1.0.depthwise.conv")
    assert not feature_maps.is_depthwise(lite0, "features.1.0.project.conv")
    assert feature_maps.first_conv(lite0) == "features.0.conv"
    resnet = zoo.load("resnet18", pretrained=False)
    assert feature_maps.default_slice_layer(resnet) == "layer1.0.conv1"
    assert not feature_maps.is_depthwise(resnet, "layer1.0.conv1")


def test_alexnet_note_matches_the_shapes_shown():
    entry = registry.info("alexnet")
    with torch.device("meta"):
        model = registry.build("alexnet")
    loaded = zoo.LoadedModel("alexnet", model, zoo.make_transform(entry), entry.input_size, None, False, "", entry)
    assert layers.layer_shapes(loaded)["features.0"] == (64, 55, 55)
    assert tuple(model.features[0].weight.shape) == (64, 3, 11, 11)
    note = feature_maps.LECTURE_NOTES["alexnet"]
    assert "96 filters of 11×11×3" in note and "64 filters" in note and "55×55" in note
