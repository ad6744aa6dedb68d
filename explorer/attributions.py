"""Attributions: which pixels made a network choose a class. A thin layer over captum.

One calling convention for every method (as captum's `attr/`):

    attribute(model, image, method, target=None, **options) -> Attribution

`model` is a zoo model (`zoo.load`), a `TrainedModel` from the Transfer-learning page (with its
own preprocessing and class names) or any classifier `nn.Module` (then `image` is a tensor).
Every map explains the target class's *logit* (the score before softmax), is a float array
[H, W] aligned with the model's input crop (`model_view`), and follows the sign convention of
its method (`MethodInfo.sign`).

Shared models stay shared (DESIGN.md section 6):
- Grad-CAM hooks a layer. The hooks go on a *structural copy* of the model: new module objects
  that share the parameter tensors (no weights are copied), so the model every session uses
  is never hooked, and two threads explaining it at once cannot see each other's activations.
- The guided rule (`explorer.guided`) is a thread-local torch function mode: nothing to hook.
- Gradients are taken with respect to the input only (`torch.autograd.grad`): no parameter's
  `.grad` is written, and the model stays in eval mode.

Heavy methods (Integrated Gradients, SmoothGrad, GradientShap, Occlusion) are split into
independent batches of plain inputs. `executor` (any `concurrent.futures.Executor`) may run them
in parallel, `progress(fraction, message)` hears of every finished batch, and `cancel` (anything
with `is_set()`, e.g. a `threading.Event`) is checked before every batch; a cancelled run raises
`Cancelled`. The faithfulness checks live in `explorer.sanity_checks` and are re-exported here.
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
import weakref
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from captum.attr import GradientShap, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from captum.attr._utils.approximation_methods import approximation_parameters
from PIL import Image
from torch import nn

from explorer import features, trainer, zoo
from explorer.guided import guided_backprop

Progress = Callable[[float, str], None]


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(ValueError):
    """The computation was cancelled before it finished (pages show the message)."""


@dataclass(frozen=True)
class MethodInfo:
    """What the page says about a method.

    Attributes:
        name: key of `METHODS`, e.g. "grad_cam".
        title: display name.
        sign: "absolute" (|value|: how much, not which way), "positive" (only evidence for the
            class) or "signed" (red: for the class, blue: against it).
        units: what a map value is, for colour bars.
        explanation: one line for students.
        heavy: True when it takes many passes (progress, cancel, batches).
        defaults: the options and their default values.
    """

    name: str
    title: str
    sign: str
    units: str
    explanation: str
    heavy: bool
    defaults: dict[str, Any]

    def passes(self, size: int = 224, **options: Any) -> tuple[int, int]:
        """(forward, backward) passes of one image at `size` px, with `options` over the defaults.

        A pass over a batch of n images counts as n. The first forward pass (the prediction) is
        not counted; Integrated Gradients adds one for the baseline's score (the completeness check).
        """
        o = {**self.defaults, **{k: v for k, v in options.items() if v is not None}}
        if self.name == "occlusion":
            return occlusion_windows(size, int(o["window"]), int(o["stride"])), 0
        n = {"saliency": 1, "grad_cam": 1, "guided_grad_cam": 2}.get(self.name) or int(o.get("steps") or o["samples"])
        return n + (1 if self.name == "integrated_gradients" else 0), n

    def cost(self, size: int = 224, **options: Any) -> str:
        """"64 forward + 64 backward passes", in words."""
        f, b = self.passes(size, **options)
        plural = "" if f == 1 else "es"
        return f"{f:,} forward pass{plural}" + (f" + {b:,} backward" if b else ", no backward pass")


#: Baselines ("nothing") for Integrated Gradients, in pixel terms.
BASELINES = {"black": "a black image", "blur": "your photo blurred (Gaussian, σ = 10 px at 224 px)",
             "mean": "a flat image of the normalisation mean (a grey for Lite0)"}
IG_BATCH = 10  # alphas per backward pass: the fastest batch on this CPU (1 thread, Lite0)
SAMPLE_BATCH = 5  # noisy copies / random baselines per backward pass
OCCLUSION_BATCH = 16  # windows per forward pass (perturbations_per_eval)

METHODS: dict[str, MethodInfo] = {m.name: m for m in (
    MethodInfo("grad_cam", "Grad-CAM", "positive", "ReLU(Σ α·A), logit units",
               "Weights a layer's feature maps by the gradient of the class score and keeps the positive sum: "
               "where, at that layer's resolution, the evidence for the class sits.", False, {"layer": None}),
    MethodInfo("saliency", "Saliency (gradient)", "absolute", "|∂logit/∂pixel|",
               "How much each pixel would change the class score if nudged: |∂score/∂pixel|.", False, {}),
    MethodInfo("guided_grad_cam", "Guided Grad-CAM", "absolute", "|guided gradient| × CAM",
               "Grad-CAM times guided backpropagation (only positive gradients pass each activation): "
               "sharp, but known to fail the randomization check.", False, {"layer": None}),
    MethodInfo("integrated_gradients", "Integrated Gradients", "signed", "logit per pixel",
               "Averages the gradient along a straight path from a baseline image to yours, times the "
               "difference: the attributions add up to score(image) − score(baseline).", True,
               {"steps": 64, "baseline": "black"}),
    MethodInfo("smoothgrad", "SmoothGrad", "absolute", "mean |∂logit/∂pixel|",
               "Averages |gradient| over noisy copies of your image (captum NoiseTunnel): less speckle.", True,
               {"samples": 20, "noise": 0.15}),
    MethodInfo("gradient_shap", "GradientShap", "signed", "logit per pixel",
               "Integrated Gradients from random baselines (black, blurred) at random points on the path, "
               "averaged: an estimate of SHAP values.", True, {"samples": 20}),
    MethodInfo("occlusion", "Occlusion (Zeiler & Fergus)", "signed", "logit drop",
               "Slides a grey square over the image and records how much the class score drops: "
               "no gradients, just forward passes.", True, {"window": 32, "stride": 16}),
)}


@dataclass
class Attribution:
    """One attribution map and what it explains.

    Attributes:
        map: float32 [H, W], aligned with the model's input crop (H = W = the input size), in
            the units of the target's logit per pixel, with the method's sign convention.
        method: key of `METHODS`.
        target: class index explained.
        label: its class name.
        probability: the model's softmax probability of `target` on the image, in [0, 1].
        options: the options used (defaults filled in, e.g. the Grad-CAM layer).
        seconds: wall time of the computation.
        sign: "absolute", "positive" or "signed" (see `MethodInfo`).
        score: the target's logit on the image.
        gap: Integrated Gradients only: score − the baseline's score, which the map should sum to.
    """

    map: np.ndarray
    method: str
    target: int
    label: str
    probability: float
    options: dict[str, Any]
    seconds: float
    sign: str
    score: float = 0.0
    gap: float | None = None

    @property
    def completeness_error(self) -> float | None:
        """|sum(map) − gap| / |gap| for Integrated Gradients (0 for an exact integral), else None."""
        if self.gap is None:
            return None
        return abs(float(self.map.sum(dtype=np.float64)) - self.gap) / max(abs(self.gap), 1e-12)


# --- the model behind one calling convention ---------------------------------------------------

@dataclass
class Explained:
    """A classifier as the attribution code sees it (built by `explained`).

    Attributes:
        module: the network (shared: never changed).
        labels: class names in output order.
        preprocess: PIL image -> float tensor [1, C, S, S], normalised; None when inputs are tensors.
        mean, std: normalisation, float tensors [C] (pixels in [0, 1] = x * std + mean).
        pretrained: False for random weights (their maps mean nothing).
        title: a name for messages.
        layers: zoo name or training config used to list layers, or None.
    """

    module: nn.Module
    labels: list[str]
    preprocess: Callable[[Image.Image], torch.Tensor] | None
    mean: torch.Tensor
    std: torch.Tensor
    pretrained: bool
    title: str
    source: Any = field(default=None, repr=False)

    def input(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        """A new tensor [1, C, S, S] for `image` (a PIL image, or a preprocessed [C, S, S] / [1, C, S, S])."""
        if isinstance(image, torch.Tensor):
            x = image.detach().clone().float()
            return x.unsqueeze(0) if x.dim() == 3 else x
        if self.preprocess is None:
            raise ValueError(f"{self.title} takes a preprocessed tensor [C, H, W], not a picture.")
        return self.preprocess(image.convert("RGB")).detach().clone()


def explained(model: zoo.LoadedModel | trainer.TrainedModel | nn.Module | Explained) -> Explained:
    """Wrap a zoo model, a trained model or a bare classifier module (see `Explained`)."""
    if isinstance(model, Explained):
        return model
    if isinstance(model, zoo.LoadedModel):
        n = model.info.num_classes
        labels = model.labels or [f"class {i}" for i in range(n)]
        return Explained(model.model, labels, lambda im: model.transform(im).unsqueeze(0),
                         torch.tensor(model.info.mean), torch.tensor(model.info.std), model.pretrained,
                         model.info.title, model)
    if isinstance(model, trainer.TrainedModel):
        prep = model.preprocess
        return Explained(model.model, list(model.classes), lambda im: prep([im]), prep.mean.flatten(),
                         prep.std.flatten(), True, f"your {model.config.backbone_label} model", model)
    if isinstance(model, nn.Module):
        return Explained(model, [], None, torch.zeros(1), torch.ones(1), True, type(model).__name__, None)
    raise ValueError(f"Cannot explain a {type(model).__name__}: pass a zoo model, a trained model or an nn.Module.")


def model_view(model, image: Image.Image | torch.Tensor) -> np.ndarray:
    """What the model sees, in pixels: uint8 [S, S, 3], the crop every map is aligned with."""
    net = explained(model)
    x = net.input(image)[0]
    c = x.shape[0]
    mean, std = net.mean.view(-1, 1, 1), net.std.view(-1, 1, 1)
    pixels = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    if c == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.permute(1, 2, 0).contiguous().numpy()


def layer_table(model) -> list[features.LayerInfo]:
    """The layers `layer=` accepts (conv layers, blocks, stages), in network order, with output shapes.

    Computed once per architecture on the `meta` device (no weights, no compute; see
    `features.layer_table`): the model itself is not touched.
    """
    net = explained(model)
    if isinstance(net.source, zoo.LoadedModel):
        return list(_zoo_layers(net.source.name, len(net.labels)))
    if isinstance(net.source, trainer.TrainedModel):
        cfg = net.source.config
        return list(_trained_layers(cfg.backbone, len(net.labels), cfg.custom_net))
    raise ValueError("Pass a zoo model or a trained model to list its layers.")


@lru_cache(maxsize=64)
def _zoo_layers(name: str, num_classes: int) -> tuple[features.LayerInfo, ...]:
    with torch.device("meta"):
        module = zoo.build(name, num_classes=num_classes)
    return tuple(features.module_layer_table(module, zoo.info(name).input_shape))


@lru_cache(maxsize=64)
def _trained_layers(backbone: str, num_classes: int, custom: str | None) -> tuple[features.LayerInfo, ...]:
    spec = trainer.input_spec(trainer.TrainConfig(backbone=backbone, strategy="scratch", custom_net=custom))
    size = spec.input_size if isinstance(spec.input_size, tuple) else (spec.input_size,) * 2
    with torch.device("meta"):
        module, _, _ = trainer.architecture(backbone, num_classes, False, custom)
    return tuple(features.module_layer_table(module, (spec.in_channels, *size)))


def default_layer(model) -> str:
    """The Grad-CAM layer: the last block with a spatial output (H, W > 1), per architecture.

    Lite0: "features.8" (its 1×1 head convolution, 1280×7×7); ResNet: "layer4"; VGG: "features.28".
    """
    spatial = [layer.name for layer in layer_table(model) if layer.shape[1] * layer.shape[2] > 1]
    if not spatial:
        raise ValueError("This network has no layer with a spatial output, so Grad-CAM does not apply.")
    return spatial[-1]


# --- shared models: structural copies for hooks ------------------------------------------------

_COPIES: weakref.WeakKeyDictionary[nn.Module, list[nn.Module]] = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def structural_copy(module: nn.Module) -> nn.Module:
    """New module objects that share `module`'s parameters and buffers (no weights copied), without hooks."""
    memo = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    twin = copy.deepcopy(module, memo)
    for m in twin.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks):
            hooks.clear()
    return twin


class _Borrowed:
    """`with _Borrowed(model) as twin:` a hook-free structural copy, reused across calls (0.02 s saved)."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.twin = module, None

    def __enter__(self) -> nn.Module:
        with _COPIES_LOCK:
            pool = _COPIES.setdefault(self.module, [])
            self.twin = pool.pop() if pool else None
        if self.twin is None:
            self.twin = structural_copy(self.module)
        return self.twin

    def __exit__(self, *exc: object) -> None:
        clean = not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in self.twin.modules())
        if clean:  # a copy with a hook left behind (an error inside captum) is dropped, not reused
            with _COPIES_LOCK:
                _COPIES.setdefault(self.module, []).append(self.twin)


# --- batches: progress, cancel, executor -------------------------------------------------------

class _Batches:
    """Runs independent batches, here in order or on an executor, reporting each one done.

    Progress is always reported, and cancellation checked, from the calling thread; each batch
    also checks `cancel` before it starts, so batches still queued on an executor end at once.
    """

    def __init__(self, title: str, progress: Progress | None, cancel: CancelFlag | None,
                 executor: Executor | None) -> None:
        self.title, self.progress, self.cancel, self.executor = title, progress, cancel, executor

    def check(self) -> None:
        """Raise `Cancelled` if the cancel flag is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.title}: cancelled before the map was finished.")

    def _report(self, done: int, total: int, unit: str) -> None:
        if self.progress is not None:
            self.progress(done / total, f"{self.title}: {unit} {done} of {total}")

    def _guarded(self, fn: Callable[[Any], torch.Tensor], item: Any) -> torch.Tensor:
        self.check()
        return fn(item)

    def run(self, fn: Callable[[Any], torch.Tensor], items: list, unit: str) -> list[torch.Tensor]:
        """[fn(item) for item in items], in the order of `items`."""
        self.check()
        if self.executor is None or len(items) < 2:
            results = []
            for item in items:
                results.append(self._guarded(fn, item))
                self._report(len(results), len(items), unit)
            return results
        futures = {self.executor.submit(self._guarded, fn, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        try:
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                self._report(done, len(items), unit)
                self.check()
        finally:
            for future in futures:
                future.cancel()
        return results


# --- the methods ---------------------------------------------------------------------------------

def _grad_cam(twin: nn.Module, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
    """Grad-CAM of `layer` (captum LayerGradCam, ReLU), bilinearly upsampled to the input: [H, W]."""
    try:
        module = twin.get_submodule(layer)
    except AttributeError:
        raise ValueError(f"There is no layer {layer!r} in this network: pick one from the layer list.") from None
    calls: list[tuple[int, ...]] = []
    counter = module.register_forward_hook(lambda _m, _a, out: calls.append(tuple(getattr(out, "shape", ()))))
    try:
        cam = LayerGradCam(twin, module).attribute(x, target=target, relu_attributions=True)
    finally:
        counter.remove()
    if len(calls) > 1:
        raise ValueError(f"Layer {layer!r} runs {len(calls)} times in one forward pass (the same module reused): "
                         "Grad-CAM would silently explain only its last call. Pick a block or a convolution.")
    shape = calls[0] if calls else ()
    if len(shape) != 4 or shape[2] * shape[3] <= 1:
        raise ValueError(f"Layer {layer!r} has no spatial output (shape {list(shape)}): Grad-CAM needs a layer "
                         "whose output is a grid of feature maps. Pick a layer with H×W larger than 1×1.")
    up = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return up[0, 0].detach()


def _guided_gradient(module: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """∂ logit[target] / ∂ input with the guided rule at every activation (`explorer.guided`): [1, C, H, W]."""
    leaf = x.detach().clone().requires_grad_()
    with guided_backprop():
        score = module(leaf)[0, target]
    return torch.autograd.grad(score, leaf)[0]


#: σ of the blur that removes the class from a photo (baseline and insertion canvas), as a share of
#: the input's side: 10 px at 224 px.
BLUR_SIGMA = 10 / 224


def blurred(x: torch.Tensor) -> torch.Tensor:
    """x [N, C, H, W] blurred with a Gaussian of σ = `BLUR_SIGMA` × the side (10 px at 224 px, kernel ±3σ).

    RISE's canvas (an 11-pixel kernel, σ = 5) is too weak at 224 px: Lite0 still gives the
    gallery cat 0.29 of its 0.39 "tiger cat" on it. With σ = 10 px the class is gone (p ≈ 0.00)
    from every gallery photo tried, so insertion starts from nothing.
    """
    side = min(x.shape[-2:])
    sigma = BLUR_SIGMA * side
    k = min(2 * round(3 * sigma) + 1, 2 * side - 1)  # reflection padding needs the kernel under twice the side
    return TF.gaussian_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])


def _baseline(net: Explained, x: torch.Tensor, kind: str) -> torch.Tensor:
    """The IG baseline [1, C, H, W] in the model's normalised space (see `BASELINES`)."""
    if kind == "black":
        return ((0.0 - net.mean) / net.std).view(1, -1, 1, 1).expand_as(x).clone()
    if kind == "blur":
        return blurred(x)
    if kind == "mean":
        return torch.zeros_like(x)
    raise ValueError(f"Unknown baseline {kind!r}: choose one of {', '.join(BASELINES)}.")


def _split(total: int, size: int) -> list[int]:
    """`total` items in near-equal batches of at most `size`: [10, 10, 10, 10, 10] for (50, 10)."""
    n = max(1, math.ceil(total / size))
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _integrated_gradients(module, x, target, baseline, steps, batches: _Batches) -> torch.Tensor:
    """captum's Integrated Gradients (Gauss-Legendre, `steps` nodes), its nodes split into batches.

    IG(x) = (x − x') ⊙ Σ_i w_i ∇score(x' + α_i (x − x')), with captum's nodes α_i and weights w_i;
    each batch computes the gradients of `IG_BATCH` nodes (captum `Saliency`, signed), so the
    batches can run apart. Tests check the sum against captum's `IntegratedGradients`.
    """
    weights_of, alphas_of = approximation_parameters("gausslegendre")
    alphas = torch.tensor(alphas_of(steps), dtype=x.dtype)
    weights = torch.tensor(weights_of(steps), dtype=x.dtype)
    saliency = Saliency(module)
    sizes = _split(steps, IG_BATCH)
    bounds = [0, *np.cumsum(sizes).tolist()]
    nodes = [(alphas[a:b], weights[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def run(node: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        a, w = node
        points = baseline + a.view(-1, 1, 1, 1) * (x - baseline)
        grads = saliency.attribute(points, target=target, abs=False).detach()
        return (grads * w.view(-1, 1, 1, 1)).sum(0, keepdim=True)

    return (x - baseline) * torch.stack(batches.run(run, nodes, "batch of path points")).sum(0)


def _smoothgrad(module, x, target, samples, noise, batches: _Batches) -> torch.Tensor:
    """captum NoiseTunnel(Saliency) "smoothgrad": mean |gradient| over `samples` noisy copies, in batches."""
    sigma = noise * float(x.max() - x.min())  # Smilkov et al.: 10-20% of the input's range
    tunnel = NoiseTunnel(Saliency(module))
    sizes = _split(samples, SAMPLE_BATCH)
    parts = batches.run(lambda n: tunnel.attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=sigma,
                                                   target=target).detach() * n, sizes, "batch")
    return torch.stack(parts).sum(0) / samples


def _gradient_shap(module, x, target, samples, baselines, batches: _Batches) -> torch.Tensor:
    """captum GradientShap with `samples` random (baseline, point) draws, in batches, averaged."""
    shap = GradientShap(module)
    sizes = _split(samples, SAMPLE_BATCH)
    parts = batches.run(lambda n: shap.attribute(x, baselines=baselines, n_samples=n, target=target).detach() * n,
                        sizes, "batch")
    return torch.stack(parts).sum(0) / samples


def occlusion_positions(size: int, window: int, stride: int) -> list[int]:
    """Top (or left) edges of the windows along one side, as captum's Occlusion places them.

    ceil((size − window) / stride) + 1 positions, k·stride; the last window may hang over the edge.
    """
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


def occlusion_windows(size: int, window: int, stride: int) -> int:
    """Number of windows (forward passes besides the unoccluded one) on a size×size input."""
    return len(occlusion_positions(size, window, stride)) ** 2


def check_occlusion(size: int, window: int, stride: int) -> None:
    """Raise ValueError with a student-facing message for impossible Occlusion settings."""
    if window > size:
        raise ValueError(f"The Occlusion window ({window} px) is larger than the image the model sees "
                         f"({size}×{size} px): choose a window of at most {size} px.")
    if window < 1 or stride < 1:
        raise ValueError("The Occlusion window and stride must be at least 1 px.")
    if stride > window:
        raise ValueError(f"A stride ({stride} px) larger than the window ({window} px) would leave pixels that no "
                         "window covers: choose a stride of at most the window.")


def _occlusion(module, x, target, window, stride, score: float, batches: _Batches) -> torch.Tensor:
    """Occlusion with a window×window square of zeros (the normalisation mean: grey), [H, W].

    Every pixel gets the mean drop of the target's logit, score − score(occluded), over the windows
    that cover it: captum's `Occlusion` with baselines 0, computed here in batches of windows
    (`OCCLUSION_BATCH` per forward pass) so that batches can run apart (tests compare with captum).
    """
    h, w = x.shape[-2:]
    windows = [(top, left) for top in occlusion_positions(h, window, stride)
               for left in occlusion_positions(w, window, stride)]
    groups = [windows[i:i + OCCLUSION_BATCH] for i in range(0, len(windows), OCCLUSION_BATCH)]

    def run(group: list[tuple[int, int]]) -> torch.Tensor:
        batch = x.repeat(len(group), 1, 1, 1)
        for i, (top, left) in enumerate(group):
            batch[i, :, top:top + window, left:left + window] = 0.0
        with torch.inference_mode():
            drops = score - module(batch)[:, target]
        total = torch.zeros(2, h, w)  # [sum of drops, count of windows] per pixel
        for (top, left), drop in zip(group, drops.tolist()):
            total[0, top:top + window, left:left + window] += drop
            total[1, top:top + window, left:left + window] += 1
        return total

    total = torch.stack(batches.run(run, groups, "batch of windows")).sum(0)
    return total[0] / total[1]


def _channels(attr: torch.Tensor, sign: str) -> torch.Tensor:
    """[1, C, H, W] -> [H, W]: the sum over colour channels, then |·| for absolute maps (captum's visualiser).

    Saliency and SmoothGrad are |gradient| per channel already (captum's `Saliency`), so their map
    is Σ_c |∂score/∂x_c|.
    """
    m = attr[0].sum(0) if attr.dim() == 4 else attr
    return m.abs() if sign == "absolute" else m


def _options(info: MethodInfo, net: Explained, size: int, options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - set(info.defaults)
    if unknown:
        raise ValueError(f"{info.title} has no option {', '.join(sorted(unknown))}; "
                         f"its options are: {', '.join(info.defaults) or 'none'}.")
    o = {**info.defaults, **{k: v for k, v in options.items() if v is not None}}
    if "layer" in o and o["layer"] is None:
        o["layer"] = default_layer(net.source) if net.source is not None else None
        if o["layer"] is None:
            raise ValueError(f"{info.title} needs layer= for a bare nn.Module.")
    if info.name == "occlusion":
        o["window"], o["stride"] = int(o["window"]), int(o["stride"])
        check_occlusion(size, o["window"], o["stride"])
    for key in ("steps", "samples"):
        if key in o and not 1 <= int(o[key]) <= 1000:
            raise ValueError(f"{info.title}: {key} must be 1-1000.")
    if info.name == "integrated_gradients" and o["baseline"] not in BASELINES:
        raise ValueError(f"Unknown baseline {o['baseline']!r}: choose one of {', '.join(BASELINES)}.")
    return o


def predict(model, image: Image.Image | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [K], probabilities [K]) of one image, K = the number of classes."""
    net = explained(model)
    with torch.inference_mode():
        logits = net.module(net.input(image))[0].float()
    return logits.clone(), torch.softmax(logits, 0).clone()


def check_target(model, target: int) -> None:
    """Raise ValueError unless `target` is a class index of the model."""
    net = explained(model)
    n = len(net.labels) if net.labels else None
    if not isinstance(target, (int, np.integer)) or target < 0 or (n is not None and target >= n):
        top = f"0–{n - 1}" if n else "a class index"
        raise ValueError(f"Target class {target} is outside the {n or ''} classes of {net.title}: choose {top}.")


def attribute(model, image: Image.Image | torch.Tensor, method: str, target: int | None = None, *,
              progress: Progress | None = None, cancel: CancelFlag | None = None,
              executor: Executor | None = None, **options: Any) -> Attribution:
    """Explain the model's score for `target` on `image` with `method`.

    Args:
        model: a `zoo.LoadedModel`, a `trainer.TrainedModel` or a classifier `nn.Module`.
        image: a PIL image (preprocessed as the model expects), or a tensor [C, H, W] / [1, C, H, W]
            already preprocessed. It is not modified.
        method: a key of `METHODS`.
        target: class index; None explains the top prediction.
        progress: called as progress(fraction done in [0, 1], message) after every batch.
        cancel: anything with `is_set()`; checked before every batch.
        executor: runs the batches of heavy methods (in parallel); None runs them here, in order.
        options: the method's options (`METHODS[method].defaults`): `layer` (Grad-CAM), `steps` and
            `baseline` (IG), `samples` (SmoothGrad, GradientShap), `noise` (SmoothGrad, share of the
            input's range), `window` and `stride` (Occlusion, in input pixels).

    Returns:
        An `Attribution` whose `map` is float32 [H, W] at the model's input size.

    Raises:
        ValueError: unknown method or option, a target outside the classes, a layer without a
            spatial output, an Occlusion window larger than the image; `Cancelled` when cancelled.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    info = METHODS[method]
    net = explained(model)
    start = time.perf_counter()
    with torch.inference_mode(False), torch.enable_grad():
        x = net.input(image)
        o = _options(info, net, x.shape[-1], options)
        with torch.no_grad():
            logits = net.module(x)[0]
        if target is None:
            target = int(logits.argmax())
        check_target(net, target)
        target = int(target)
        score = float(logits[target])
        batches = _Batches(info.title, progress, cancel, executor)
        batches.check()
        gap = None
        m = net.module
        if method in ("grad_cam", "guided_grad_cam"):
            with _Borrowed(m) as twin:
                attr = _grad_cam(twin, x, target, o["layer"])
            if method == "guided_grad_cam":
                attr = attr * _guided_gradient(m, x, target)[0].sum(0)
        elif method == "saliency":
            attr = Saliency(m).attribute(x.clone(), target=target)  # |∂score/∂x| per channel
        elif method == "integrated_gradients":
            base = _baseline(net, x, o["baseline"])
            attr = _integrated_gradients(m, x, target, base, int(o["steps"]), batches)
            with torch.no_grad():
                gap = score - float(m(base)[0, target])
        elif method == "smoothgrad":
            attr = _smoothgrad(m, x, target, int(o["samples"]), float(o["noise"]), batches)
        elif method == "gradient_shap":
            references = torch.cat([_baseline(net, x, "black"), blurred(x)])
            attr = _gradient_shap(m, x, target, int(o["samples"]), references, batches)
        else:
            attr = _occlusion(m, x, target, o["window"], o["stride"], score, batches)
        if progress is not None and not info.heavy:
            progress(1.0, f"{info.title}: done")
        heat = _channels(attr.detach().float(), info.sign).numpy().astype(np.float32)
    probability = float(torch.softmax(logits.float(), 0)[target])
    label = net.labels[target] if target < len(net.labels) else f"class {target}"
    return Attribution(heat, method, target, label, probability, o, time.perf_counter() - start, info.sign,
                       score, gap)


def __getattr__(name: str):
    """`model_randomization` and `deletion_insertion` live in `explorer.sanity_checks`; re-exported here."""
    if name in ("model_randomization", "deletion_insertion"):
        from explorer import sanity_checks  # noqa: PLC0415 - it imports this module

        return getattr(sanity_checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
