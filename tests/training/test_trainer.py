"""explorer.training.trainer and explorer.training.model_io: strategies, training, export (runs as jobs: test_jobs.py)."""

import io
import json
import os
import threading
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.models import custom_net
from explorer.training import augment, datasets, feature_cache, jobs, model_io, trainer
from explorer.training.config import TrainConfig
from explorer.models import registry
from explorer.training.config import CUSTOM, backbones
from explorer.training import classifier
from explorer.runtime import worker


def _run(config, train, val, classes, stop_event=None):
    out = list(trainer.train(config, train, val, classes, stop_event))
    return out, out[-1]["model"]


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("strategy, tuned", [
    ("linear_probe", []),
    ("finetune_last", ["classifier.3"]),
    ("finetune_all", ["features.0", "features.3", "classifier.1", "classifier.3"]),
    ("scratch", ["features.0", "features.3", "classifier.1", "classifier.3"]),
])
def test_each_strategy_freezes_exactly_what_it_says(shapes, strategy, tuned):
    data, train, val = shapes
    config = TrainConfig("lenet5", strategy, epochs=1, batch_size=8, lr=0.05, backbone_lr=0.05, finetune_blocks=1)
    prepared = trainer.prepare_model(config, 3)
    assert prepared.head == "classifier.5" and prepared.tuned == tuned
    model = prepared.model
    for name, p in model.named_parameters():
        module = name.rsplit(".", 1)[0]
        assert p.requires_grad == (module in tuned or module == "classifier.5"), name
    # Train for real and compare: frozen weights unchanged, trained ones moved.
    config = TrainConfig("lenet5", strategy, epochs=1, batch_size=8, lr=0.05, backbone_lr=0.05)
    with torch.random.fork_rng():
        before = _snapshot(trainer.prepare_model(config, 3).model)
    _, trained = _run(config, train, val, data.classes)
    after = trained.model.state_dict()
    for key in before:
        module = key.rsplit(".", 1)[0]
        changed = not torch.equal(before[key], after[key])
        assert changed == (module in tuned or module == "classifier.5"), key


def test_finetune_last_on_lite0_keeps_frozen_batchnorm_statistics():
    data = datasets.demo_shapes(3, size=32)
    train, val = datasets.split(data, 0.34, seed=0)
    config = TrainConfig("efficientnet_lite0", "finetune_last", epochs=1, batch_size=4, finetune_blocks=2)
    prepared = trainer.prepare_model(config, 3)
    assert prepared.tuned == ["features.7", "features.8"] and prepared.head == "classifier.1"
    before = _snapshot(prepared.model)
    _, trained = _run(config, train, val, data.classes)
    after = trained.model.state_dict()
    for key in before:
        tuned = key.startswith(("features.7.", "features.8.", "classifier.1."))
        if not tuned:
            assert torch.equal(before[key], after[key]), key
        elif key.endswith(".weight"):
            assert not torch.equal(before[key], after[key]), key
    assert not torch.equal(before["features.8.bn.running_mean"], after["features.8.bn.running_mean"])
    assert torch.equal(before["features.6.0.project.bn.running_mean"], after["features.6.0.project.bn.running_mean"])


def test_linear_probe_on_demo_shapes_reaches_high_accuracy():
    data = datasets.demo_shapes(12, seed=1)
    train, val = datasets.split(data, 0.25, seed=0)
    config = TrainConfig("efficientnet_lite0", "linear_probe", epochs=15, batch_size=16, lr=0.01)
    out, trained = _run(config, train, val, data.classes)
    epochs = [m for m in out if m["kind"] == "epoch"]
    assert out[-1]["fast_path"] and len(epochs) == 15
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_s"} <= set(epochs[-1])
    assert epochs[-1]["val_acc"] >= 0.85
    ev = classifier.evaluate(trained, val)
    assert ev.accuracy == pytest.approx(epochs[-1]["val_acc"]) and ev.confusion.sum() == len(val)


def test_fast_path_matches_the_full_forward(shapes):
    """Cached features + head give the same logits as the whole network on the same images."""
    data, train, val = shapes
    config = TrainConfig("lenet5", "linear_probe", epochs=2, batch_size=8)
    out, trained = _run(config, train, val, data.classes)
    assert out[-1]["fast_path"]
    full = torch.nn.functional.cross_entropy(trained.logits([i for i, _ in val]), torch.tensor([y for _, y in val]))
    assert float(full) == pytest.approx(out[-2]["val_loss"], rel=1e-5)


def test_augmented_linear_probe_takes_the_slow_path(shapes):
    data, train, val = shapes
    config = TrainConfig("lenet5", "linear_probe", epochs=1, augment=augment.Augment(rotation=20, hflip=True))
    out, _ = _run(config, train, val, data.classes)
    assert not out[-1]["fast_path"]


def test_augmentation_preview_is_seeded_and_changes_pixels():
    img = datasets.demo_shapes(1).samples[0][0]
    aug = augment.Augment(rotation=30, width_shift=0.2, zoom=0.2, shear=10, colour=0.3, channel_shift=30,
                          hflip=True, randaugment=True)
    a = augment.preview([img], aug, size=64, per_image=3, seed=5)
    b = augment.preview([img], aug, size=64, per_image=3, seed=5)
    assert len(a[0]) == 4 and a[0][1].size == (64, 64)
    assert all(np.array_equal(np.array(x), np.array(y)) for x, y in zip(a[0], b[0]))
    assert not np.array_equal(np.array(a[0][0]), np.array(a[0][1]))
    assert augment.build(augment.Augment()) is None


def test_stop_mid_epoch_returns_a_usable_model(shapes):
    data, train, val = shapes
    stop = threading.Event()
    out = []
    for m in trainer.train(TrainConfig("lenet5", "scratch", epochs=5, batch_size=4), train, val, data.classes, stop):
        out.append(m)
        if m["kind"] == "batch" and m["step"] == 2:
            stop.set()
    assert out[-1]["kind"] == "done" and out[-1]["stopped"] and out[-1]["epochs_done"] == 0
    assert [m["step"] for m in out if m["kind"] == "batch"] == [1, 2]
    assert len(classifier.predict(out[-1]["model"], val[0][0], k=2)) == 2


def test_export_then_import_gives_identical_predictions(shapes):
    data, train, val = shapes
    _, trained = _run(TrainConfig("lenet5", "scratch", epochs=1, augment=augment.Augment(hflip=True)),
                      train, val, data.classes)
    blob = model_io.export_model(trained, {"id": 7, "data": "shapes"})
    assert json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("config.json"))["run"] == {"id": 7, "data": "shapes"}
    loaded = model_io.import_model(blob)
    assert loaded.classes == data.classes and loaded.config == trained.config
    images = [img for img, _ in val]
    assert torch.equal(loaded.logits(images), trained.logits(images))
    with pytest.raises(ValueError, match="not a model zip"):
        model_io.import_model(b"not a zip")


def test_import_rejects_weights_of_another_shape(shapes):
    data, train, val = shapes
    _, trained = _run(TrainConfig("lenet5", "scratch", epochs=1), train, val, data.classes)
    trained.classes = data.classes + ["extra"]
    with pytest.raises(ValueError, match="do not fit"):
        model_io.import_model(model_io.export_model(trained))


@pytest.mark.parametrize("kwargs, match", [
    ({"strategy": "magic"}, "Unknown strategy"), ({"backbone": "nope"}, "Unknown model"),
    ({"epochs": 0}, "Epochs"), ({"lr": 0.0}, "positive"), ({"optimizer": "rmsprop"}, "optimizer"),
    ({"backbone": "squeezenet1_1"}, "Linear"), ({"strategy": "finetune_last", "finetune_blocks": 9}, "at most 4"),
])
def test_bad_configs_are_refused(shapes, kwargs, match):
    data, train, val = shapes
    with pytest.raises(ValueError, match=match):
        list(trainer.train(TrainConfig(**{"backbone": "lenet5", **kwargs}), train, val, data.classes))


def test_a_second_linear_probe_on_the_same_images_reuses_the_features(shapes):
    data, train, val = shapes
    out, _ = _run(TrainConfig("lenet5", "linear_probe", epochs=1, seed=7), train, val, data.classes)
    assert [m["done"] for m in out if m["kind"] == "prepare"][-1] == len(train) + len(val)  # progress, to the end
    before = dict(feature_cache._HEAD)
    out, _ = _run(TrainConfig("lenet5", "linear_probe", epochs=2, lr=0.1, seed=7), train, val, data.classes)
    assert feature_cache._HEAD.keys() == before.keys()  # nothing recomputed
    assert not [m for m in out if m["kind"] == "prepare"]
    _run(TrainConfig("lenet5", "linear_probe", epochs=1, seed=8), train, val, data.classes)
    assert len(set(feature_cache._HEAD) - set(before)) == 2  # another seed, other random features: train + val
    # The cached vectors are what the frozen backbone computes.
    prepared = trainer.prepare_model(TrainConfig("lenet5", "linear_probe", seed=8), 3)
    prepared.model.classifier[5] = torch.nn.Identity()
    pre = classifier.Preprocess(registry.info("lenet5"))
    x = pre.normalize(pre.pixels([img for img, _ in train]))
    fresh = prepared.model.eval()(x).detach()
    cached = list(feature_cache._HEAD.values())[-2]  # the training set of seed 8
    assert torch.allclose(cached, fresh, atol=1e-6)


def test_the_final_evaluation_matches_a_fresh_evaluation(shapes):
    data, train, val = shapes
    for strategy in ("linear_probe", "scratch"):
        out, trained = _run(TrainConfig("lenet5", strategy, epochs=2), train, val, data.classes)
        fresh = classifier.evaluate(trained, val)
        assert (out[-1]["evaluation"].confusion == fresh.confusion).all()
        assert np.allclose(out[-1]["evaluation"].probs, fresh.probs, atol=1e-5)


# --- the custom network from the Architectures page ----------------------------------------------

SMALL_CNN = [  # (1, 16, 16) -> conv 8 -> pool -> (8, 8, 8) -> 512 -> 10
    {"layer": "Conv2d", "size": 8, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "ReLU"},
    {"layer": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0}, {"layer": "Flatten"},
    {"layer": "Linear", "size": 10},
]


@pytest.fixture(scope="module")
def digits():
    data = datasets.digits(20, size=16)
    train, val = datasets.split(data, 0.25, seed=0)
    return data, train, val


def _custom(spec=SMALL_CNN, shape=(1, 16, 16), **kwargs):
    return TrainConfig(CUSTOM, kwargs.pop("strategy", "scratch"), custom_net=custom_net.to_config(spec, shape),
                       **kwargs)


def test_custom_text_round_trips():
    text = custom_net.to_config(SMALL_CNN, (1, 16, 16))
    assert text == "1x16x16:Conv2d-8-3-1-1_ReLU_MaxPool2d-2-2-0_Flatten_Linear-10"
    assert custom_net.from_config(text) == (SMALL_CNN, (1, 16, 16))


def test_custom_network_gets_a_head_of_the_number_of_classes_and_is_all_trainable():
    prepared = trainer.prepare_model(_custom(), 3)
    model = prepared.model
    assert isinstance(model, torch.nn.Sequential) and prepared.head == "4"
    assert (model[4].in_features, model[4].out_features) == (8 * 8 * 8, 3)
    assert all(p.requires_grad for p in model.parameters()) and prepared.frozen == []
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    # The input: resized to the spec's (C, H, W), grayscale for C == 1, then (x - 0.5) / 0.5.
    pre = classifier.Preprocess(classifier.input_spec(_custom()))
    img = datasets.digits(1, size=32).samples[0][0]
    x = pre([img])
    expected = np.asarray(img.convert("L").resize((16, 16), Image.BILINEAR), dtype=np.float32) / 255
    assert x.shape == (1, 1, 16, 16)
    assert torch.allclose(x[0, 0], torch.from_numpy((expected - 0.5) / 0.5), atol=2 / 255 / 0.5)
    rgb = classifier.Preprocess(classifier.input_spec(_custom(shape=(3, 20, 12))))([img])
    assert rgb.shape == (1, 3, 20, 12) and float(rgb.min()) >= -1 and float(rgb.max()) <= 1


def test_custom_network_trained_from_scratch_learns_the_digits(digits):
    data, train, val = digits
    out, trained = _run(_custom(epochs=6, batch_size=16, lr=3e-3), train, val, data.classes)
    epochs = [m for m in out if m["kind"] == "epoch"]
    assert len(epochs) == 6 and not out[-1]["fast_path"]
    assert epochs[-1]["val_acc"] >= 0.6  # chance is 0.1
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert classifier.evaluate(trained, val).accuracy == pytest.approx(epochs[-1]["val_acc"])


def test_custom_network_export_then_import_gives_identical_predictions(digits):
    data, train, val = digits
    spec = [{"layer": "Conv2d", "size": 4, "kernel": 3, "stride": 2, "padding": 1}, {"layer": "BatchNorm"},
            {"layer": "ReLU"}, {"layer": "Residual", "size": 8, "stride": 2}, {"layer": "GlobalAvgPool"},
            {"layer": "Dropout", "p": 0.25}, {"layer": "Linear", "size": 5}]
    _, trained = _run(_custom(spec, (3, 24, 24), epochs=1, batch_size=16), train, val, data.classes)
    blob = model_io.export_model(trained, {"id": 7, "data": "shapes"})
    assert json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("config.json"))["run"] == {"id": 7, "data": "shapes"}
    loaded = model_io.import_model(blob)
    assert loaded.config == trained.config and loaded.config.custom_net == custom_net.to_config(spec, (3, 24, 24))
    assert loaded.classes == data.classes
    images = [img for img, _ in val]
    assert torch.equal(loaded.logits(images), trained.logits(images))


@pytest.mark.parametrize("config, match", [
    (_custom(strategy="linear_probe"), "no pretrained weights.*From scratch"),
    (_custom(strategy="finetune_all"), "no pretrained weights"),
    (_custom(SMALL_CNN + [{"layer": "ReLU"}]), "ends in layer 6 \\(ReLU\\), not a Linear.*Architectures page"),
    (_custom(SMALL_CNN[:4]), "not a Linear"),
    (_custom(shape=(2, 16, 16)), "2 input channels.*1 or 3"),
    (_custom(shape=(1, 1, 1)), "Layer 3 \\(MaxPool2d 2×2, stride 2\\) needs at least 2×2 pixels.*Architectures page"),
    (_custom(shape=(1, 1000, 1000)), "too large"),
    (_custom(SMALL_CNN[:3] + SMALL_CNN[4:]), "needs a flat input.*Architectures page"),
    (TrainConfig(CUSTOM, "scratch"), "build or fix it on the Architectures page"),
    (TrainConfig(CUSTOM, "scratch", custom_net="1x16:Flatten_Linear-3"), "not an image"),
])
def test_custom_networks_that_cannot_train_are_refused(digits, config, match):
    data, train, val = digits
    with pytest.raises(ValueError, match=match):
        config.check()
    with pytest.raises(ValueError, match=match):
        list(trainer.train(config, train, val, data.classes))


def test_a_custom_layer_with_an_invalid_setting_is_named():
    with pytest.raises(ValueError, match="Layer 2 \\(Dropout p=1.5\\).*\\[0, 1\\).*Architectures page"):
        custom_net.to_config([{"layer": "Flatten"}, {"layer": "Dropout", "p": 1.5}, {"layer": "Linear", "size": 2}],
                            (1, 8, 8))


def test_backbones_offer_torchvision_models_only_with_cached_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert backbones() == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "lenet5"]
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("resnet18", "squeezenet1_1"):  # squeezenet's classifier is a convolution: never offered
        (checkpoints / os.path.basename(registry.info(name).tv_weights.url)).write_bytes(b"")
    assert backbones()[-1] == "resnet18" and "squeezenet1_1" not in backbones()


def test_the_reported_speed_counts_the_feature_caching_and_the_run_shows_its_progress(shapes):
    data, train, val = shapes
    feature_cache.clear()
    run = jobs.start(TrainConfig("lenet5", "linear_probe", epochs=3, seed=11), train, val, data.classes)
    assert run.wait(60) and run.status == worker.DONE, run.error
    s = run.summary
    assert run.prepare["done"] == run.prepare["total"] == len(train) + len(val)
    assert s["cache"] == "head" and s["cache_seconds"] > 0
    assert s["images_per_s"] == pytest.approx(3 * len(train) / s["elapsed"])  # end to end
    assert s["train_images_per_s"] > s["images_per_s"]  # the training steps alone are faster
    assert run.batches[-1]["images_per_s"] <= s["train_images_per_s"]


def test_near_chance_is_within_two_standard_deviations_of_the_majority_class():
    ev = classifier.evaluation_from_logits(torch.tensor([[1.0, 0.0]] * 20), [0] * 10 + [1] * 10, 2)
    assert ev.chance == 0.5 and ev.accuracy == 0.5 and ev.near_chance
    good = classifier.evaluation_from_logits(torch.eye(2).repeat(10, 1), [0, 1] * 10, 2)
    assert good.accuracy == 1.0 and not good.near_chance


def test_frozen_macs_share_is_the_frozen_blocks_share_of_the_work():
    from explorer.architecture.profiling import profile

    with torch.device("meta"):
        model = registry.build("efficientnet_lite0", num_classes=2)  # a new head (the share is for 2 classes)
    total = profile(model, (3, 224, 224)).macs
    prefix = profile(torch.nn.Sequential(*model.features[:8]), (3, 224, 224)).macs  # stem + 7 stages
    share = trainer.frozen_macs_share(TrainConfig("efficientnet_lite0", "finetune_last", finetune_blocks=1))
    assert share == pytest.approx(prefix / total, rel=1e-9)
    assert trainer.frozen_macs_share(TrainConfig("efficientnet_lite0", "linear_probe")) > 0.999
    assert trainer.frozen_macs_share(TrainConfig("lenet5", "scratch")) == 0
