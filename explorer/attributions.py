"""Attributions: which pixels made a network choose a class. A thin layer over captum.

One calling convention for every method (as captum's `attr/`):

    attribute(model, image, method, target=None, **options) -> Attribution

`model` is a zoo model (`zoo.load`), a `TrainedModel` from the Transfer-learning page (with its
own preprocessing and class names) or any classifier `nn.Module` (then `image` is a tensor).
Every map explains the target class's *logit* (the score before softmax), is a float array
[H, W] aligned with the model's input crop (`model_view`), and follows the sign convention of
its method (`MethodInfo.sign`).

Shared models stay shared (DESIGN.md section 6):
- Grad-CAM hooks a layer of a *structural copy* of the model (`explorer.explained`): new module
  objects sharing the parameter tensors, so the model every session uses is never hooked.
- The guided rule (`explorer.guided`) is a thread-local torch function mode: nothing to hook.
- Gradients are taken with respect to the input only (`torch.autograd.grad`): no parameter's
  `.grad` is written, and the model stays in eval mode.

Heavy methods (Integrated Gradients, SmoothGrad, GradientShap, Occlusion) are split into
independent batches of plain inputs (`explorer.batches`): `executor` may run them in parallel,
`progress(fraction, message)` hears of every finished batch, and `cancel` is checked before every
batch; a cancelled run raises `Cancelled`. The faithfulness checks live in `explorer.sanity_checks`
and are re-exported here.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torchvision.transforms.functional as TF
from captum.attr import GradientShap, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from captum.attr._utils.approximation_methods import approximation_parameters
from PIL import Image
from torch import nn

from explorer import randomness
from explorer.batches import Batches, CancelFlag, Cancelled, Progress, worker_pool  # noqa: F401 - part of this API
from explorer.explained import (  # noqa: F401 - part of this API
    Explained, borrowed_copy, check_target, default_layer, explained, layer_table, model_view, predict,
    structural_copy,
)
from explorer.guided import guided_backprop


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


#: Integrated Gradients puts half its nodes on the first `IG_SPLIT` of the path (see `ig_nodes`).
IG_SPLIT = 0.1


def ig_nodes(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(alphas, weights) [steps] of the path integral ∫₀¹ … dα: captum's Gauss-Legendre rule on two panels.

    Half the nodes go to α in [0, IG_SPLIT], half to [IG_SPLIT, 1]. A trained network's score
    saturates within the first few percent of the path from a black image (Lite0's "tiger cat"
    logit goes from −0.7 to 9.5 by α = 0.04, then stays near 9), so one Gauss-Legendre rule over
    [0, 1] spends most nodes where the gradient is nearly 0 (Miglani et al. 2020, saturation in IG).
    On eight gallery photos, from black and grey baselines with 64 nodes, the completeness error
    fell from 0-18% (mean 7%) to 0.4-7% (mean 4%); splitting at 0.05 or 0.2 did no better.
    Each panel is exactly captum's rule for IG between the panel's end points.
    """
    weights_of, alphas_of = approximation_parameters("gausslegendre")
    near = steps // 2
    alphas, weights = [], []
    for (lo, hi), n in (((0.0, IG_SPLIT), near), ((IG_SPLIT, 1.0), steps - near)):
        alphas += [lo + (hi - lo) * a for a in alphas_of(n)]
        weights += [(hi - lo) * w for w in weights_of(n)]
    return torch.tensor(alphas), torch.tensor(weights)


def _integrated_gradients(module, x, target, baseline, steps, batches: Batches) -> torch.Tensor:
    """IG(x) = (x − x') ⊙ Σ_i w_i ∇score(x' + α_i (x − x')), its nodes (`ig_nodes`) split into batches.

    Each batch takes the gradients of `IG_BATCH` path points (captum `Saliency`, signed), so the
    batches can run apart. Tests check the sum against captum's `IntegratedGradients` on each panel.
    """
    alphas, weights = (t.to(x.dtype) for t in ig_nodes(steps))
    saliency = Saliency(module)
    sizes = _split(steps, IG_BATCH)
    bounds = [0, *np.cumsum(sizes).tolist()]
    nodes = [(alphas[a:b], weights[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def run(node: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        a, w = node
        points = (baseline + a.view(-1, 1, 1, 1) * (x - baseline)).requires_grad_()
        grads = saliency.attribute(points, target=target, abs=False).detach()
        return (grads * w.view(-1, 1, 1, 1)).sum(0, keepdim=True)

    return (x - baseline) * torch.stack(batches.run(run, nodes, "batch of path points")).sum(0)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """captum's NoiseTunnel and GradientShap draw from torch's and numpy's global generators.

    Hold `randomness.GLOBAL_LOCK`, as every global draw in `explorer` does (a training run seeds
    the global generator for its model build), seed both generators, and restore them after: the
    map is reproducible and nobody else's random numbers change.
    """
    with randomness.seeded(seed):
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _smoothgrad(module, x, target, samples, noise, batches: Batches) -> torch.Tensor:
    """captum NoiseTunnel(Saliency) "smoothgrad": mean |gradient| over `samples` noisy copies, in seeded batches."""
    sigma = noise * float(x.max() - x.min())  # Smilkov et al.: 10-20% of the input's range
    tunnel = NoiseTunnel(Saliency(module))
    x = x.detach().clone().requires_grad_()  # captum would warn and set it

    def run(batch: tuple[int, int]) -> torch.Tensor:
        seed, n = batch
        with _seeded(seed):
            return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=sigma, target=target).detach() * n

    parts = batches.run(run, list(enumerate(_split(samples, SAMPLE_BATCH))), "batch")
    return torch.stack(parts).sum(0) / samples


def _gradient_shap(module, x, target, samples, baselines, batches: Batches) -> torch.Tensor:
    """captum GradientShap with `samples` random (baseline, point) draws, in seeded batches, averaged."""
    shap = GradientShap(module)
    x = x.detach().clone().requires_grad_()  # captum would warn and set it

    def run(batch: tuple[int, int]) -> torch.Tensor:
        seed, n = batch
        with _seeded(seed):
            return shap.attribute(x, baselines=baselines, n_samples=n, target=target).detach() * n

    parts = batches.run(run, list(enumerate(_split(samples, SAMPLE_BATCH))), "batch")
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


def _occlusion(module, x, target, window, stride, score: float, batches: Batches) -> torch.Tensor:
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
    for key, least in (("steps", 2), ("samples", 1)):
        if key in o and not least <= int(o[key]) <= 1000:
            raise ValueError(f"{info.title}: {key} must be {least}-1000.")
    if info.name == "integrated_gradients" and o["baseline"] not in BASELINES:
        raise ValueError(f"Unknown baseline {o['baseline']!r}: choose one of {', '.join(BASELINES)}.")
    return o


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
        o = _options(info, net, min(x.shape[-2:]), options)
        with torch.no_grad():
            logits = net.module(x)[0]
        if target is None:
            target = int(logits.argmax())
        check_target(net, target)
        target = int(target)
        score = float(logits[target])
        batches = Batches(info.title, progress, cancel, executor)
        batches.check()
        gap = None
        m = net.module
        if method in ("grad_cam", "guided_grad_cam"):
            with borrowed_copy(m) as twin:
                attr = _grad_cam(twin, x, target, o["layer"])
            if method == "guided_grad_cam":
                attr = attr * _guided_gradient(m, x, target)[0].sum(0)
        elif method == "saliency":
            attr = Saliency(m).attribute(x.clone().requires_grad_(), target=target)  # |∂score/∂x| per channel
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


def heavy_map(model, image: Image.Image | torch.Tensor, method: str, target: int | None, options: dict, *,
              progress: Progress, cancel: CancelFlag) -> Attribution:
    """`attribute` as a Dask task (`explorer.tasks.submit`), its batches on this process's cores
    (`batches.worker_pool`)."""
    return attribute(model, image, method, target, progress=progress, cancel=cancel, executor=worker_pool(),
                     **options)


def __getattr__(name: str):
    """`model_randomization` and `deletion_insertion` live in `explorer.sanity_checks`; re-exported here."""
    if name in ("model_randomization", "deletion_insertion"):
        from explorer import sanity_checks  # noqa: PLC0415 - it imports this module

        return getattr(sanity_checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
