"""Attributions: which pixels made a network choose a class. A thin layer over captum.

One calling convention for every method (as captum's `attr/`):

    attribute(model, image, method, target=None, **options) -> Attribution

`model` is a zoo model (`zoo.load`), a `TrainedModel` from the Transfer-learning page (with its
own preprocessing and class names) or any classifier `nn.Module` (then `image` is a tensor).
Every map explains the target class's *logit* (the score before softmax), is a float array
[H, W] aligned with the model's input crop (`model_view`), and follows the sign convention of
its method (`MethodInfo.sign`).

Shared models stay shared (DESIGN.md section 6):
- Grad-CAM hooks a layer of a *structural copy* of the model (`explorer.attribution.explained_model`): new module
  objects sharing the parameter tensors, so the model every session uses is never hooked.
- The guided rule (`explorer.attribution.guided`) is a thread-local torch function mode: nothing to hook.
- Gradients are taken with respect to the input only (`torch.autograd.grad`): no parameter's
  `.grad` is written, and the model stays in eval mode.

Heavy methods (Integrated Gradients, SmoothGrad, GradientShap, Occlusion) are split into
independent batches of plain inputs (`explorer.runtime.batches`): `executor` may run them in parallel,
`progress(fraction, message)` hears of every finished batch, and `cancel` is checked before every
batch; a cancelled run raises `Cancelled`. The methods themselves are in `explorer.attribution.gradients` and
`explorer.attribution.occlusion`; `METHODS` carries each one's function. The faithfulness checks live in
`explorer.attribution.sanity_checks`.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from captum.attr import Saliency
from PIL import Image

from explorer.attribution import gradients
from explorer.attribution.baselines import BASELINES, baseline, blurred
from explorer.attribution.explained_model import Explained, borrowed_copy, check_target, default_layer, explained
from explorer.attribution.occlusion import check_occlusion, occlusion, occlusion_windows
from explorer.runtime.batches import Batches, CancelFlag, Progress, worker_pool


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
        compute: request -> (map before the sign convention, [1, C, H, W] or [H, W]; the Integrated
            Gradients gap or None).
    """

    name: str
    title: str
    sign: str
    units: str
    explanation: str
    heavy: bool
    defaults: dict[str, Any]
    compute: Callable[["Request"], tuple[torch.Tensor, float | None]] = field(repr=False, compare=False,
                                                                              default=None)

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


@dataclass(frozen=True)
class Request:
    """One attribution being computed: what every method's function receives.

    Attributes:
        net: the model as the attribution code sees it.
        x: the normalised input [1, C, H, W].
        target: the class index explained.
        score: the target's logit on `x`.
        options: the method's options, defaults filled in.
        batches: runs the batches of heavy methods, with progress and cancel.
    """

    net: Explained
    x: torch.Tensor
    target: int
    score: float
    options: dict[str, Any]
    batches: Batches


def _grad_cam(r: Request) -> tuple[torch.Tensor, None]:
    with borrowed_copy(r.net.module) as twin:
        return gradients.grad_cam(twin, r.x, r.target, r.options["layer"]), None


def _guided_grad_cam(r: Request) -> tuple[torch.Tensor, None]:
    cam, _ = _grad_cam(r)
    return cam * gradients.guided_gradient(r.net.module, r.x, r.target)[0].sum(0), None


def _saliency(r: Request) -> tuple[torch.Tensor, None]:
    return Saliency(r.net.module).attribute(r.x.clone().requires_grad_(), target=r.target), None  # |∂score/∂x|


def _integrated_gradients(r: Request) -> tuple[torch.Tensor, float]:
    base = baseline(r.net, r.x, r.options["baseline"])
    attr = gradients.integrated_gradients(r.net.module, r.x, r.target, base, int(r.options["steps"]), r.batches)
    with torch.no_grad():
        return attr, r.score - float(r.net.module(base)[0, r.target])


def _smoothgrad(r: Request) -> tuple[torch.Tensor, None]:
    o = r.options
    return gradients.smoothgrad(r.net.module, r.x, r.target, int(o["samples"]), float(o["noise"]), r.batches), None


def _gradient_shap(r: Request) -> tuple[torch.Tensor, None]:
    references = torch.cat([baseline(r.net, r.x, "black"), blurred(r.x)])
    return gradients.gradient_shap(r.net.module, r.x, r.target, int(r.options["samples"]), references,
                                   r.batches), None


def _occlusion(r: Request) -> tuple[torch.Tensor, None]:
    return occlusion(r.net.module, r.x, r.target, r.options["window"], r.options["stride"], r.score,
                     r.batches), None


METHODS: dict[str, MethodInfo] = {m.name: m for m in (
    MethodInfo("grad_cam", "Grad-CAM", "positive", "ReLU(Σ α·A), logit units",
               "Weights a layer's feature maps by the gradient of the class score and keeps the positive sum: "
               "where, at that layer's resolution, the evidence for the class sits.", False, {"layer": None}, _grad_cam),
    MethodInfo("saliency", "Saliency (gradient)", "absolute", "|∂logit/∂pixel|",
               "How much each pixel would change the class score if nudged: |∂score/∂pixel|.", False, {}, _saliency),
    MethodInfo("guided_grad_cam", "Guided Grad-CAM", "absolute", "|guided gradient| × CAM",
               "Grad-CAM times guided backpropagation (only positive gradients pass each activation): "
               "sharp, but known to fail the randomization check.", False, {"layer": None}, _guided_grad_cam),
    MethodInfo("integrated_gradients", "Integrated Gradients", "signed", "logit per pixel",
               "Averages the gradient along a straight path from a baseline image to yours, times the "
               "difference: the attributions add up to score(image) − score(baseline).", True,
               {"steps": 64, "baseline": "black"}, _integrated_gradients),
    MethodInfo("smoothgrad", "SmoothGrad", "absolute", "mean |∂logit/∂pixel|",
               "Averages |gradient| over noisy copies of your image (captum NoiseTunnel): less speckle.", True,
               {"samples": 20, "noise": 0.15}, _smoothgrad),
    MethodInfo("gradient_shap", "GradientShap", "signed", "logit per pixel",
               "Integrated Gradients from random baselines (black, blurred) at random points on the path, "
               "averaged: an estimate of SHAP values.", True, {"samples": 20}, _gradient_shap),
    MethodInfo("occlusion", "Occlusion (Zeiler & Fergus)", "signed", "logit drop",
               "Slides a grey square over the image and records how much the class score drops: "
               "no gradients, just forward passes.", True, {"window": 32, "stride": 16}, _occlusion),
)}


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
        model: a `zoo.LoadedModel`, a `classifier.TrainedModel` or a classifier `nn.Module`.
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
        attr, gap = info.compute(Request(net, x, target, score, o, batches))
        if progress is not None and not info.heavy:
            progress(1.0, f"{info.title}: done")
        heat = _channels(attr.detach().float(), info.sign).numpy().astype(np.float32)
    probability = float(torch.softmax(logits.float(), 0)[target])
    label = net.labels[target] if target < len(net.labels) else f"class {target}"
    return Attribution(heat, method, target, label, probability, o, time.perf_counter() - start, info.sign,
                       score, gap)


def heavy_map(model, image: Image.Image | torch.Tensor, method: str, target: int | None, options: dict, *,
              progress: Progress, cancel: CancelFlag) -> Attribution:
    """`attribute` as a Dask task (`explorer.runtime.tasks.submit`), its batches on this process's cores
    (`batches.worker_pool`)."""
    return attribute(model, image, method, target, progress=progress, cancel=cancel, executor=worker_pool(),
                     **options)


