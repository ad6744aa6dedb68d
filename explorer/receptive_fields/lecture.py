"""Lecture 3's receptive-field examples, computed live: the toy stack and "two 3×3 vs one 5×5".

"For convolution with kernel size K, each element in the output depends on a K × K receptive
field in the input. Each successive convolution adds K − 1 to the receptive field size. With L
layers the receptive field size is 1 + L·(K − 1)." With a stride S and a dilation D in every layer,
layer l adds (K − 1)·D times the jump so far, S^(l−1): r = 1 + (K − 1)·D·(1 + S + … + S^(L−1)).

"Are two 3×3 convolutions the same as one 5×5? No: two 3×3 convolutions have fewer parameters
and more non-linearities" (and the same 5×5 field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.architecture import profiling
from explorer.receptive_fields import fields as rf

#: Largest field (px) whose growth `path_counts` draws cell by cell.
MAX_DRAWN = 99


def toy_stack(layers: int, kernel: int, stride: int = 1, dilation: int = 1, channels: int = 1) -> nn.Sequential:
    """L convolutions of K×K, no padding, no bias, with the same stride and dilation: the lecture's stack."""
    if min(layers, kernel, stride, dilation, channels) < 1:
        raise ValueError("Layers, kernel, stride, dilation and channels must all be at least 1.")
    return nn.Sequential(*[nn.Conv2d(channels, channels, kernel, stride, 0, dilation, bias=False)
                           for _ in range(layers)])


def formula(layers: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """1 + (K − 1)·D·(1 + S + … + S^(L−1)); the lecture's 1 + L·(K − 1) when S = D = 1."""
    return 1 + (kernel - 1) * dilation * sum(stride ** i for i in range(layers))


def formula_text(layers: int, kernel: int, stride: int = 1, dilation: int = 1) -> str:
    """The formula with the numbers filled in, e.g. "1 + L·(K − 1) = 1 + 3·(3 − 1) = 7"."""
    value = formula(layers, kernel, stride, dilation)
    if stride == 1 and dilation == 1:
        return f"1 + L·(K − 1) = 1 + {layers}·({kernel} − 1) = {value}"
    powers = " + ".join(["1"] + [f"{stride}" if i == 1 else f"{stride}^{i}" for i in range(1, layers)])
    d = f"·{dilation}" if dilation != 1 else ""
    sym_d = "·D" if dilation != 1 else ""
    return (f"1 + (K − 1){sym_d}·(1 + S + … + S^(L−1)) = 1 + ({kernel} − 1){d}·({powers}) = {value}")


def growth(layers: int, kernel: int, stride: int = 1, dilation: int = 1) -> list[int]:
    """Field size after each layer of the toy stack, from `explorer.receptive_fields.fields` (not the formula)."""
    model = toy_stack(layers, kernel, stride, dilation)
    side = formula(layers, kernel, stride, dilation)  # the smallest input that gives the last layer one unit
    return [f.size[0] for f in rf.receptive_fields(model, side)]


def path_counts(layers: int, kernel: int, stride: int = 1, dilation: int = 1) -> list[np.ndarray]:
    """For l = 1 … L: how many paths lead from each input pixel to the centre unit of layer l.

    Computed by back-propagation through the stack with every weight 1 (the gradient of a unit
    with respect to a pixel counts the paths between them), on an input exactly as large as the
    last layer's field, so every map is int64 [r_L, r_L]. Pixels with 0 paths lie outside the field.

    Raises:
        ValueError: the last field is larger than `MAX_DRAWN` pixels.
    """
    side = formula(layers, kernel, stride, dilation)
    if side > MAX_DRAWN:
        raise ValueError(f"The field grows to {side} px, too large to draw cell by cell (at most {MAX_DRAWN}); "
                         "use fewer layers, a smaller kernel, stride or dilation.")
    model = toy_stack(layers, kernel, stride, dilation).double()
    with torch.no_grad():
        for conv in model:
            conv.weight.fill_(1.0)
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    maps, h = [], x
    outputs = []
    for conv in model:
        h = conv(h)
        outputs.append(h)
    for out in outputs:
        seed = torch.zeros_like(out)
        seed[0, 0, out.shape[2] // 2, out.shape[3] // 2] = 1
        (grad,) = torch.autograd.grad(out, x, seed, retain_graph=True)
        maps.append(grad[0, 0].round().long().numpy())
    return maps


@dataclass(frozen=True)
class StackFacts:
    """One way to build a field: the layers, and what they cost.

    Attributes:
        name: "2 × 3×3" or "1 × 5×5".
        field: receptive field (px) of the stack's output, from `explorer.receptive_fields.fields`.
        params: parameters (weights and biases) of the stack's convolutions.
        nonlinearities: ReLUs in the stack.
        macs: multiply-accumulates for one `channels`×56×56 map (explorer.architecture.profiling).
    """

    name: str
    field: int
    params: int
    nonlinearities: int
    macs: int


def small_vs_large(channels: int = 64, small: int = 2) -> tuple[StackFacts, StackFacts]:
    """`small` 3×3 convolutions (each + ReLU) against one (2·small + 1)×(2·small + 1) convolution (+ ReLU),
    both with `channels` in and out and "same" padding: the lecture's "two 3×3 vs one 5×5"."""
    if channels < 1 or small < 1:
        raise ValueError("Channels and the number of 3×3 layers must be at least 1.")
    k = 2 * small + 1
    with torch.device("meta"):  # shapes only: no weights are drawn (512 channels of 5×5 took 0.6 s)
        stacks = [(f"{small} × 3×3", nn.Sequential(*[m for _ in range(small) for m in (
                       nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())])),
                  (f"1 × {k}×{k}", nn.Sequential(nn.Conv2d(channels, channels, k, padding=small), nn.ReLU()))]
    facts = []
    for name, model in stacks:
        field = rf.receptive_fields(model, 56)[-1].size[0]
        macs = profiling.profile(model, (channels, 56, 56)).macs
        facts.append(StackFacts(name, field, sum(p.numel() for p in model.parameters()),
                                sum(isinstance(m, nn.ReLU) for m in model), macs))
    return facts[0], facts[1]
