"""Batch norm in eval mode as what it is, a fixed per-channel affine map, with a backward pass of one multiply.

In eval mode a batch norm computes y = (x - μ) · γ / sqrt(σ² + ε) + β with its running statistics, so
dL/dx = dL/dy · γ / sqrt(σ² + ε): one scale per channel. torch's own backward (`native_batch_norm_backward`)
computes the same from the saved input in a general kernel that also serves training mode, and on
EfficientNet-Lite0 its 49 batch norms were about a quarter of the cheap maps' two backward passes (issue 17).

`batch_norm` takes `F.batch_norm`'s arguments. In eval mode on an input that needs a gradient it returns
`F.batch_norm`'s own output, bit for bit (the forward pass, and so every activation and every ReLU's on/off
pattern, is unchanged), with that one-multiply backward; the gradient then differs from torch's by float rounding
(below 1e-6 of its largest value on Lite0: tests/attribution/test_frozen_norm.py). Otherwise it is
`F.batch_norm`. `explorer.attribution.cheap` routes every batch norm of its forward pass here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _FrozenBatchNorm(torch.autograd.Function):
    """y = F.batch_norm(x) in eval mode; dL/dx = dL/dy · γ / sqrt(σ² + ε). The statistics and the affine
    parameters are constants here (no gradient)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, weight: torch.Tensor | None,
                bias: torch.Tensor | None, eps: float) -> torch.Tensor:
        scale = torch.rsqrt(var + eps) if weight is None else weight * torch.rsqrt(var + eps)  # [C]
        ctx.scale = scale.view(1, -1, *([1] * (x.dim() - 2)))  # broadcast over [N, C, ...]
        return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:
        return grad * ctx.scale, None, None, None, None, None


def batch_norm(input: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,  # noqa: A002
               weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """`F.batch_norm` (same arguments and output [N, C, ...]), with the one-multiply backward in eval mode."""
    if training or running_mean is None or running_var is None or not input.requires_grad:
        return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    return _FrozenBatchNorm.apply(input, running_mean, running_var, weight, bias, eps)
