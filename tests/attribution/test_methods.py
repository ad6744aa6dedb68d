"""explorer.attribution.methods: shapes, hand-computed gradients, captum as the oracle, shared models untouched, bad input."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import GuidedBackprop, IntegratedGradients, Occlusion, Saliency
from torch import nn

from explorer.attribution import methods as attr
from explorer import images
from explorer.models import zoo
from explorer.training import trainer
from explorer.attribution.guided import guided_backprop
from explorer.attribution import occlusion
from explorer.attribution import gradients
from explorer.attribution import explained_model
from explorer.runtime import batches
from explorer.attribution import baselines
from explorer.training.config import TrainConfig
from explorer.training import classifier

# Cheap settings for the heavy methods: the tests check maths, not the page's defaults.
CHEAP = {"integrated_gradients": {"steps": 4}, "smoothgrad": {"samples": 2}, "gradient_shap": {"samples": 2},
         "occlusion": {"window": 112, "stride": 112}}


def _hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in module.modules())


# --- every method on the real default model ---------------------------------------------------

@pytest.mark.parametrize("method", list(attr.METHODS))
def test_each_method_gives_a_finite_map_of_the_input_size(lite0, cat, method):
    a = attr.attribute(lite0, cat, method, **CHEAP.get(method, {}))
    assert a.map.shape == (224, 224) and a.map.dtype == np.float32
    assert np.isfinite(a.map).all() and np.abs(a.map).max() > 0
    assert (a.target, a.label) == (282, "tiger cat")  # the top prediction by default
    assert a.probability == pytest.approx(0.39, abs=0.01)
    assert a.sign == attr.METHODS[method].sign
    if a.sign != "signed":
        assert a.map.min() >= 0
    assert a.seconds > 0
    assert (a.completeness_error is not None) == (method == "integrated_gradients")


@pytest.mark.parametrize("name,layer", [("efficientnet_lite0", "features.8"), ("resnet18", "layer4"),
                                        ("vgg16", "features.28"), ("mobilenet_v3_small", "features.12"),
                                        ("inception_v3", "Mixed_7c"), ("lenet5", "features.3")])
def test_default_layer_is_the_last_spatial_block(name, layer):
    with torch.device("meta"):  # the layer table needs the architecture only
        loaded = zoo.load(name, pretrained=False)
    assert explained_model.default_layer(loaded) == layer


def test_model_view_is_the_crop_the_map_is_aligned_with(lite0, cat):
    pixels = explained_model.model_view(lite0, cat)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    expected = lite0.transform(cat) * 0.5 + 0.5  # Lite0: mean = std = 0.5
    assert np.abs(pixels.astype(float) / 255 - expected.permute(1, 2, 0).numpy()).max() < 1 / 255 + 1e-6


# --- hand-computed gradients on tiny models -----------------------------------------------------

def _linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
    return model, model[1].weight.detach().view(4, 3, 8, 8)


def test_saliency_smoothgrad_and_ig_of_a_linear_model_match_its_weights():
    model, w = _linear()
    x = torch.randn(3, 8, 8)
    sal = attr.attribute(model, x, "saliency", target=2)
    assert np.allclose(sal.map, w[2].abs().sum(0).numpy(), atol=1e-6)
    smooth = attr.attribute(model, x, "smoothgrad", target=2, samples=6)  # the gradient ignores the noise
    assert np.allclose(smooth.map, w[2].abs().sum(0).numpy(), atol=1e-6)
    ig = attr.attribute(model, x, "integrated_gradients", target=2, steps=5, baseline="black")  # baseline 0
    assert np.allclose(ig.map, (w[2] * x).sum(0).numpy(), atol=1e-5)
    assert ig.completeness_error < 1e-5


class _Quadratic(nn.Module):
    """score_k = Σ a_k x²: IG from 0 is a_k x² exactly (Gauss-Legendre integrates the linear gradient exactly)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor([1.0, -2.0]).view(2, 1, 1, 1))

    def forward(self, x):
        return (self.a.unsqueeze(0) * x.unsqueeze(1) ** 2).flatten(2).sum(2)


def test_ig_completeness_is_exact_for_a_quadratic():
    x = torch.randn(1, 5, 5)
    ig = attr.attribute(_Quadratic(), x, "integrated_gradients", target=1, steps=3, baseline="mean")
    assert np.allclose(ig.map, (-2.0 * x[0] ** 2).numpy(), atol=1e-5)
    assert ig.gap == pytest.approx(float(-2.0 * (x ** 2).sum()), rel=1e-5)
    assert ig.completeness_error < 1e-5


def test_occlusion_of_a_linear_model_is_the_mean_covering_window_drop():
    model, w = _linear()
    x = torch.randn(3, 8, 8)
    occ = attr.attribute(model, x, "occlusion", target=1, window=4, stride=2)
    contribution = (w[1] * x).sum(0)  # zeroing a pixel removes its term from the score
    expected = torch.zeros(8, 8)
    count = torch.zeros(8, 8)
    for top in (0, 2, 4):
        for left in (0, 2, 4):
            expected[top:top + 4, left:left + 4] += contribution[top:top + 4, left:left + 4].sum()
            count[top:top + 4, left:left + 4] += 1
    assert np.allclose(occ.map, (expected / count).numpy(), atol=1e-5)


def test_gradient_shap_of_a_linear_model_averages_input_minus_baseline_times_weight():
    model, w = _linear()
    x = torch.randn(3, 8, 8)
    n = 10
    gs = attr.attribute(model, x, "gradient_shap", target=0, samples=n)
    black = torch.zeros(1, 3, 8, 8)  # a bare module: mean 0, std 1
    blur = baselines.blurred(x[None])
    # Each sample draws black or the blurred image: the map is (x − mean of the drawn baselines) · w.
    sums = [float(((x - (k * black + (n - k) * blur) / n) * w[0]).sum()) for k in range(n + 1)]
    assert min(abs(gs.map.sum() - s) for s in sums) < 1e-4


def test_noisy_methods_are_reproducible_and_leave_the_global_generators_alone():
    model = _TinyCNN(nn.ReLU()).eval()
    x = torch.randn(3, 16, 16)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    for method in ("smoothgrad", "gradient_shap"):
        first = attr.attribute(model, x, method, target=0, samples=7)
        with ThreadPoolExecutor(2) as pool:
            again = attr.attribute(model, x, method, target=0, samples=7, executor=pool)
        assert np.array_equal(first.map, again.map)
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # a training run's seeded build is not disturbed
    assert np.array_equal(np.random.get_state()[1], numpy_state)


class _TinyCNN(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.act = act
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.act2 = type(act)()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.pool(self.act2(self.conv2(self.act(self.conv(x))))).flatten(1))


def test_grad_cam_matches_the_formula():
    model = _TinyCNN(nn.ReLU()).eval()
    x = torch.randn(3, 8, 8)
    cam = attr.attribute(model, x, "grad_cam", target=1, layer="act2")
    a = model.act2(model.conv2(model.act(model.conv(x[None])))).detach()[0]  # [4, 4, 4]
    alpha = model.fc.weight[1].detach() / 16  # ∂score/∂A_k averaged over the 4×4 positions
    expected = F.relu((alpha.view(4, 1, 1) * a).sum(0))
    expected = F.interpolate(expected[None, None], size=(8, 8), mode="bilinear", align_corners=False)[0, 0]
    assert np.allclose(cam.map, expected.numpy(), atol=1e-6)


def test_saliency_is_torch_autograd_gradient():
    model = _TinyCNN(nn.ReLU6()).eval()
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[0, 0], x)
    sal = attr.attribute(model, x.detach(), "saliency", target=0)
    assert np.allclose(sal.map, grad[0].abs().sum(0).numpy(), atol=1e-7)


# --- the guided rule ----------------------------------------------------------------------------

def _guided(model, x, target):
    leaf = x.clone().requires_grad_()
    with guided_backprop():
        score = model(leaf)[0, target]
    return torch.autograd.grad(score, leaf)[0]


def test_guided_rule_equals_captum_guided_backprop_on_relu_networks():
    for model in (_TinyCNN(nn.ReLU()).eval(), zoo.load("resnet18", pretrained=False).model):
        size = 8 if isinstance(model, _TinyCNN) else 64
        x = torch.randn(1, 3, size, size)
        ours = _guided(model, x, 1)
        theirs = GuidedBackprop(model).attribute(x, target=1)
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * float(theirs.abs().max()))
        assert _hooks(model) == 0


def test_guided_rule_changes_the_map_on_lite0_where_captums_does_not(lite0, cat):
    x = lite0.transform(cat)[None]
    plain = Saliency(lite0.model).attribute(x, target=282, abs=False)
    captum_guided = GuidedBackprop(lite0.model).attribute(x, target=282)
    assert torch.equal(captum_guided, plain)  # captum hooks nn.ReLU only: Lite0's ReLU6 is left alone
    ours = _guided(lite0.model, x, 282)
    assert not torch.allclose(ours, plain, atol=1e-3 * float(plain.abs().max()))
    guided_cam = attr.attribute(lite0, cat, "guided_grad_cam")
    cam = attr.attribute(lite0, cat, "grad_cam")
    times_plain = np.abs(cam.map * plain[0].sum(0).numpy())  # what captum's GuidedGradCam gives on Lite0
    assert np.corrcoef(guided_cam.map.ravel(), times_plain.ravel())[0, 1] < 0.9


def test_guided_rule_is_local_to_its_thread():
    model = _TinyCNN(nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    plain = Saliency(model).attribute(x, target=0, abs=False)
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def other():
        inside.wait()
        seen["plain"] = Saliency(model).attribute(x, target=0, abs=False)
        outside.set()

    thread = threading.Thread(target=other)
    thread.start()
    with guided_backprop():
        inside.set()
        outside.wait()
    thread.join()
    assert torch.equal(seen["plain"], plain)


# --- captum as the oracle for the batched methods ----------------------------------------------

def test_integrated_gradients_equals_captum_on_each_panel():
    model = _TinyCNN(nn.ReLU6()).eval()
    x = torch.randn(1, 3, 16, 16)
    ours = attr.attribute(model, x, "integrated_gradients", target=1, steps=25, baseline="mean")
    split = gradients.IG_SPLIT * x  # the path point at α = IG_SPLIT, from the zero baseline
    ig = IntegratedGradients(model)
    theirs = (ig.attribute(split, baselines=torch.zeros_like(x), target=1, n_steps=12)
              + ig.attribute(x, baselines=split, target=1, n_steps=13))
    assert np.allclose(ours.map, theirs[0].sum(0).numpy(), atol=1e-5 * np.abs(ours.map).max())
    alphas, weights = gradients.ig_nodes(25)
    assert float(weights.sum()) == pytest.approx(1.0) and sum(alphas < gradients.IG_SPLIT) == 12


@pytest.mark.parametrize("window,stride", [(8, 4), (10, 4), (32, 32)])  # (10, 4): the last windows overhang
def test_occlusion_equals_captum(window, stride):
    model = _TinyCNN(nn.ReLU()).eval()
    x = torch.randn(1, 3, 32, 32)
    ours = attr.attribute(model, x, "occlusion", target=0, window=window, stride=stride)
    theirs = Occlusion(model).attribute(x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
                                        baselines=0, target=0, perturbations_per_eval=16)
    assert np.allclose(ours.map, theirs[0, 0].numpy(), atol=1e-6)


def test_batches_on_an_executor_give_the_same_maps_and_report_progress():
    model = _TinyCNN(nn.ReLU()).eval()
    x = torch.randn(3, 64, 64)
    reports = []
    with ThreadPoolExecutor(2) as pool:
        parallel = attr.attribute(model, x, "occlusion", target=0, window=8, stride=8, executor=pool,
                                  progress=lambda f, m: reports.append((f, m)))
        ig = attr.attribute(model, x, "integrated_gradients", target=0, steps=30, executor=pool)
    assert np.allclose(parallel.map, attr.attribute(model, x, "occlusion", target=0, window=8, stride=8).map,
                       atol=1e-6)
    assert np.allclose(ig.map, attr.attribute(model, x, "integrated_gradients", target=0, steps=30).map, atol=1e-6)
    assert [f for f, _ in reports] == [0.25, 0.5, 0.75, 1.0]  # 64 windows: 4 batches of 16
    assert reports[-1][1] == "Occlusion (Zeiler & Fergus): batch of windows 4 of 4"


# --- shared models stay shared -------------------------------------------------------------------

def test_model_parameters_input_and_hooks_are_unchanged(lite0, cat):
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    x = lite0.transform(cat)
    x_before = x.clone()
    pixels_before = cat.tobytes()
    for method in attr.METHODS:
        attr.attribute(lite0, x, method, **CHEAP.get(method, {}))
    attr.attribute(lite0, cat, "grad_cam")
    assert all(torch.equal(before[k], v) for k, v in lite0.model.state_dict().items())
    assert all(p.grad is None for p in lite0.model.parameters())
    assert not lite0.model.training and not any(m.training for m in lite0.model.modules())
    assert _hooks(lite0.model) == 0
    assert torch.equal(x, x_before) and cat.tobytes() == pixels_before


def test_two_threads_explaining_one_shared_model_get_correct_maps(lite0):
    photos = [images.sample_image("chelsea (cat)"), images.sample_image("coffee")]
    expected = {(i, m): attr.attribute(lite0, p, m).map for i, p in enumerate(photos)
                for m in ("grad_cam", "guided_grad_cam", "saliency")}
    start = threading.Barrier(2)
    results: dict = {}

    def explain(i: int) -> None:
        start.wait()
        for _ in range(2):
            for m in ("grad_cam", "guided_grad_cam", "saliency"):
                results.setdefault((i, m), []).append(attr.attribute(lite0, photos[i], m).map)

    threads = [threading.Thread(target=explain, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, maps in results.items():
        assert all(np.allclose(m, expected[key], rtol=1e-4, atol=1e-6) for m in maps), key
    assert _hooks(lite0.model) == 0


# --- the student's own model ------------------------------------------------------------------------

def test_a_trained_model_is_explained_with_its_own_preprocessing_and_classes(cat):
    config = TrainConfig(backbone="lenet5", strategy="scratch")
    model, _, _ = trainer.architecture("lenet5", 3, pretrained=False)
    trained = classifier.TrainedModel(model, ["<b>cat</b>", "dog", "fox"], config)
    a = attr.attribute(trained, cat, "grad_cam", target=2)
    assert a.map.shape == (32, 32) and a.label == "fox" and a.options["layer"] == explained_model.default_layer(trained)
    assert explained_model.model_view(trained, cat).shape == (32, 32, 3)
    assert [layer.name for layer in explained_model.layer_table(trained)] == ["features.0", "features.3"]
    assert attr.attribute(trained, cat, "saliency").label in trained.classes


# --- bad input gets a message a student can act on ----------------------------------------------------

def test_a_target_outside_the_classes_is_refused(lite0, cat):
    with pytest.raises(ValueError, match="outside the 1000 classes.*0–999"):
        attr.attribute(lite0, cat, "saliency", target=1000)


def test_a_layer_without_spatial_output_is_refused(cat):
    small = zoo.load("mobilenet_v3_small", pretrained=False)
    squeeze = next(layer.name for layer in explained_model.layer_table(small) if layer.shape[1:] == (1, 1))
    with pytest.raises(ValueError, match="no spatial output"):
        attr.attribute(small, cat, "grad_cam", layer=squeeze)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        attr.attribute(small, cat, "grad_cam", layer="nope")


class _Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.conv(self.conv(x)).mean((2, 3)))


def test_a_layer_that_runs_twice_is_refused():
    with pytest.raises(ValueError, match="runs 2 times"):
        attr.attribute(_Reused().eval(), torch.randn(3, 8, 8), "grad_cam", layer="conv")


def test_an_occlusion_window_larger_than_the_image_is_refused(lite0, cat):
    with pytest.raises(ValueError, match="larger than the image"):
        attr.attribute(lite0, cat, "occlusion", window=256, stride=16)
    with pytest.raises(ValueError, match="stride"):
        attr.attribute(lite0, cat, "occlusion", window=16, stride=32)


def test_a_cancelled_run_stops_with_a_message(lite0, cat):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(batches.Cancelled, match="cancelled"):
        attr.attribute(lite0, cat, "occlusion", cancel=cancel)
    later = threading.Event()
    reports = []

    def progress(fraction: float, message: str) -> None:
        reports.append(fraction)
        later.set()  # cancel after the first batch

    with pytest.raises(batches.Cancelled):
        attr.attribute(lite0, cat, "integrated_gradients", steps=20, progress=progress, cancel=later)
    assert reports == [0.5]  # 2 batches of 10 path points: it stopped after the first


def test_unknown_methods_and_options_are_refused(lite0, cat):
    with pytest.raises(ValueError, match="Unknown method"):
        attr.attribute(lite0, cat, "lime")
    with pytest.raises(ValueError, match="no option steps"):
        attr.attribute(lite0, cat, "saliency", steps=3)
    with pytest.raises(ValueError, match="Unknown baseline"):
        attr.attribute(lite0, cat, "integrated_gradients", baseline="white")


def test_costs_in_passes():
    assert attr.METHODS["occlusion"].passes(224) == (169, 0)  # the 169 windows of 32 px, stride 16
    assert attr.METHODS["integrated_gradients"].passes(224, steps=50) == (51, 50)
    assert attr.METHODS["grad_cam"].cost() == "1 forward pass + 1 backward"
    assert occlusion.occlusion_positions(224, 72, 40) == [0, 40, 80, 120, 160]  # the last one overhangs
