"""The gradient methods behind `explorer.attribution.methods`: Grad-CAM, guided gradients, Integrated
Gradients, SmoothGrad and GradientShap, each on a model, a normalised input [1, C, H, W] and a class.

The heavy ones are split into independent batches of plain inputs (`explorer.runtime.batches`), so
that the batches can run apart, with progress and cancel between them.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import numpy as np
import torch
from captum.attr import GradientShap, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from captum.attr._utils.approximation_methods import approximation_parameters
from torch import nn

from explorer import randomness
from explorer.attribution.guided import guided_backprop
from explorer.runtime.batches import Batches

IG_BATCH = 10  # alphas per backward pass: the fastest batch on this CPU (1 thread, Lite0)
SAMPLE_BATCH = 5  # noisy copies / random baselines per backward pass


def grad_cam(twin: nn.Module, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
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


def guided_gradient(module: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """∂ logit[target] / ∂ input with the guided rule at every activation (`explorer.attribution.guided`): [1, C, H, W]."""
    leaf = x.detach().clone().requires_grad_()
    with guided_backprop():
        score = module(leaf)[0, target]
    return torch.autograd.grad(score, leaf)[0]


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


def integrated_gradients(module, x, target, baseline, steps, batches: Batches) -> torch.Tensor:
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


def smoothgrad(module, x, target, samples, noise, batches: Batches) -> torch.Tensor:
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


def gradient_shap(module, x, target, samples, baselines, batches: Batches) -> torch.Tensor:
    """captum GradientShap with `samples` random (baseline, point) draws, in seeded batches, averaged."""
    shap = GradientShap(module)
    x = x.detach().clone().requires_grad_()  # captum would warn and set it

    def run(batch: tuple[int, int]) -> torch.Tensor:
        seed, n = batch
        with _seeded(seed):
            return shap.attribute(x, baselines=baselines, n_samples=n, target=target).detach() * n

    parts = batches.run(run, list(enumerate(_split(samples, SAMPLE_BATCH))), "batch")
    return torch.stack(parts).sum(0) / samples
