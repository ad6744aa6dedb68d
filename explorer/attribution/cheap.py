"""The cheap maps of one photo and class from one forward pass: Saliency, every layer's Grad-CAM, Guided Grad-CAM.

`methods.attribute` computes one map per call: Grad-CAM, Saliency and Guided Grad-CAM of one
photo cost 7 forward and 4 backward passes that way (each call repeats the prediction), and
another Grad-CAM layer costs 4 more (issue 17: the Attributions page's costliest clicks).
They share most of their work:

- one forward pass keeps the input and every candidate layer's output, and its graph has
  activations whose backward rule can be switched to the guided one (`guided.Rule`);
- a plain backward pass from the class's logit gives the input gradient (Saliency =
  Σ_c |∂score/∂x_c|) and every layer's gradient, so the Grad-CAM of every layer at once
  (ReLU(Σ_k α_k A_k) with α_k the spatial mean of ∂score/∂A_k, captum's `LayerGradCam`);
- a guided backward pass through the same graph gives the guided gradient, which times any
  layer's Grad-CAM is that layer's Guided Grad-CAM;
- the logits of the forward pass are the prediction (`probabilities`).

So a photo and class cost 1 forward + 2 backward passes (Lite0: about 80 ms of CPU on one
thread, with its weights in channels-last order (`explained_model.channels_last`) and its batch
norms backpropagated with one multiply (`frozen_norm`), against 340 ms for the three `attribute`
calls), and a change of layer none.
The Grad-CAMs are kept at each layer's own resolution ([h, w], a few KB) and upsampled
when asked for. Tests check every map against `methods.attribute` (captum).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from explorer.attribution import frozen_norm, guided
from explorer.attribution.explained_model import borrowed_copy, channels_last, check_target, explained
from explorer.attribution.methods import METHODS, Attribution

#: The methods whose maps `cheap_maps` computes.
CHEAP = ("grad_cam", "saliency", "guided_grad_cam")


@dataclass
class CheapMaps:
    """The cheap maps of one photo and class.

    Attributes:
        target: the class index explained; label: its name.
        probabilities: float32 [K], the model's softmax output on the photo.
        probability: its softmax probability in [0, 1]; score: its logit.
        size: (H, W) of the model's input, which every map is upsampled to.
        saliency: float32 [H, W], Σ_c |∂score/∂x_c|.
        guided: float32 [H, W], the guided gradient summed over colour channels (signed).
        cams: {layer name: float32 [h, w]} Grad-CAM at the layer's own resolution, or the sentence
            saying why that layer has none (no spatial output, run twice in one pass).
        seconds: wall time of the three passes.
    """

    target: int
    label: str
    probabilities: np.ndarray
    probability: float
    score: float
    size: tuple[int, int]
    saliency: np.ndarray
    guided: np.ndarray
    cams: dict[str, np.ndarray | str]
    seconds: float

    @property
    def nbytes(self) -> int:
        """Bytes held by the maps (for byte-bounded caches)."""
        cams = sum(c.nbytes for c in self.cams.values() if isinstance(c, np.ndarray))
        return self.probabilities.nbytes + self.saliency.nbytes + self.guided.nbytes + cams

    def cam(self, layer: str) -> np.ndarray:
        """Grad-CAM of `layer`, bilinearly upsampled to the input (captum's `LayerAttribution.interpolate`):
        float32 [H, W]. Raises ValueError for a layer not computed or without a Grad-CAM."""
        cam = self.cams.get(layer)
        if cam is None:
            raise ValueError(f"There is no layer {layer!r} in this network: pick one from the layer list.")
        if isinstance(cam, str):
            raise ValueError(cam)
        up = F.interpolate(torch.from_numpy(cam)[None, None], self.size, mode="bilinear")
        return up[0, 0].numpy()

    def attribution(self, method: str, layer: str | None = None) -> Attribution:
        """The map of `method` ("grad_cam", "saliency", "guided_grad_cam"; `layer` for the two Grad-CAMs), as
        `methods.attribute` returns it."""
        info = METHODS[method]
        if method == "saliency":
            heat, options = self.saliency, {}
        else:
            heat = self.cam(layer) if method == "grad_cam" else np.abs(self.cam(layer) * self.guided)
            options = {"layer": layer}
        return Attribution(heat.astype(np.float32), method, self.target, self.label, self.probability, options,
                           self.seconds, info.sign, self.score)


def _cam_or_reason(layer: str, outputs: list[torch.Tensor], grads: list[torch.Tensor | None]) -> np.ndarray | str:
    """Grad-CAM [h, w] of a layer from its outputs and their gradients in one pass, or why it has none."""
    if len(outputs) != 1:
        return (f"Layer {layer!r} runs {len(outputs)} times in one forward pass (the same module reused): Grad-CAM "
                "would silently explain only its last call. Pick a block or a convolution.")
    a, g = outputs[0], grads[0]
    if a.dim() != 4 or a.shape[2] * a.shape[3] <= 1:
        return (f"Layer {layer!r} has no spatial output (shape {list(a.shape)}): Grad-CAM needs a layer whose "
                "output is a grid of feature maps. Pick a layer with H×W larger than 1×1.")
    if g is None:
        g = torch.zeros_like(a)  # the class's score does not depend on this layer
    alpha = g[0].mean(dim=(1, 2))  # [C]
    return F.relu(alpha @ a[0].flatten(1)).view(a.shape[2:]).detach().float().numpy()  # Σ_k α_k A_k, [h, w]


def cheap_maps(model, image: Image.Image | torch.Tensor, target: int | None, layers: list[str]) -> CheapMaps:
    """The prediction, Saliency, the guided gradient and the Grad-CAM of every layer in `layers` for class `target`:
    1 forward and 2 backward passes (see the module docstring).

    Args:
        model: a `zoo.LoadedModel`, a `classifier.TrainedModel` or a classifier `nn.Module`.
        image: a PIL image, or a preprocessed tensor [C, H, W] / [1, C, H, W].
        target: the class index to explain; None explains the top prediction.
        layers: dotted module names (`explained_model.layer_table`'s); unknown ones are left out.
    """
    net = explained(model)
    if target is not None:
        check_target(net, target)
    start = time.perf_counter()
    with torch.inference_mode(False), torch.enable_grad(), borrowed_copy(channels_last(net.module)) as twin:
        x = net.input(image).requires_grad_()
        rule = guided.Rule(guided=False)
        logits, seen = _forward(twin, x, layers, rule, copies=False)
        if any(t._version != version for outputs in seen.values() for t, version in outputs):
            logits, seen = _forward(twin, x, layers, rule, copies=True)  # an activation was changed in place
        seen = {name: [t for t, _ in outputs] for name, outputs in seen.items()}
        target = int(logits.argmax() if target is None else target)
        score = logits[target]
        kept = [t for ts in seen.values() for t in ts if t.requires_grad]
        found = iter(torch.autograd.grad(score, [x] + kept, allow_unused=True, retain_graph=True))
        saliency = next(found)[0].abs().sum(0)
        grads = {name: [next(found) if t.requires_grad else None for t in ts] for name, ts in seen.items()}
        cams = {name: _cam_or_reason(name, seen[name], grads[name]) for name in seen}
        rule.guided = True
        guided_map = torch.autograd.grad(score, x)[0][0].sum(0)
    probabilities = torch.softmax(logits.detach().float(), 0).numpy()
    label = net.labels[target] if target < len(net.labels) else f"class {target}"
    return CheapMaps(target, label, probabilities, float(probabilities[target]), float(score.detach()),
                     tuple(x.shape[-2:]), saliency.detach().float().numpy(), guided_map.detach().float().numpy(),
                     cams, time.perf_counter() - start)


def _forward(twin: nn.Module, x: torch.Tensor, layers: list[str], rule: guided.Rule,
             copies: bool) -> tuple[torch.Tensor, dict[str, list[tuple[torch.Tensor, int]]]]:
    """The logits [K] of `x` [1, C, H, W] under the switchable guided rule, and {layer: [(output, its version
    counter when it was made)]} for every call of each of `layers`. With `copies`, the rest of the network gets
    a copy of each kept output, so that a later in-place operation (a residual block's `out += identity`)
    changes the copy, not the kept activation; without, a changed version counter says that one was changed."""
    modules = dict(twin.named_modules())
    seen: dict[str, list[tuple[torch.Tensor, int]]] = {name: [] for name in layers if name in modules}

    def keep(outputs: list):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                outputs.append((torch.empty(0), 0))  # not a feature map: `_cam_or_reason` says so
                return None
            outputs.append((output, output._version))
            return output.clone() if copies else None
        return hook

    hooks = [modules[name].register_forward_hook(keep(outputs)) for name, outputs in seen.items()]
    try:
        with _CheapPass(rule):
            return twin(x)[0], seen
    finally:
        for hook in hooks:
            hook.remove()


class _CheapPass(guided.guided_backprop):
    """The forward pass's rules: activations with the switchable guided backward (`guided.Rule`), and batch norms
    in eval mode with the one-multiply backward (`frozen_norm`: the same forward numbers, a tenth less CPU for
    the three maps of Lite0)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.batch_norm:
            return frozen_norm.batch_norm(*args, **(kwargs or {}))
        return super().__torch_function__(func, types, args, kwargs)
