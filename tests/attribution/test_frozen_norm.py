"""explorer.attribution.frozen_norm: F.batch_norm's own output, and torch's gradient to float rounding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.attribution import frozen_norm


def _norm(kind: type[nn.Module], channels: int, affine: bool) -> nn.Module:
    torch.manual_seed(0)
    norm = kind(channels, affine=affine, eps=1e-3)
    norm.running_mean.normal_()
    norm.running_var.uniform_(0.01, 4.0)
    if affine:
        norm.weight.data.normal_()
        norm.bias.data.normal_()
    return norm.eval()


@pytest.mark.parametrize("kind, shape", [(nn.BatchNorm2d, (2, 8, 9, 7)), (nn.BatchNorm1d, (3, 8)),
                                         (nn.BatchNorm1d, (3, 8, 5))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_eval_mode_same_output_and_torchs_gradient(kind, shape, affine, channels_last):
    norm = _norm(kind, shape[1], affine)
    x, seed = torch.randn(shape), torch.randn(shape)  # seed: the gradient from the layer above, in x's order
    if channels_last and x.dim() == 4:
        x, seed = x.to(memory_format=torch.channels_last), seed.to(memory_format=torch.channels_last)
    x.requires_grad_()
    args = (norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.1, norm.eps)
    expected = F.batch_norm(x, *args)
    got = frozen_norm.batch_norm(x, *args)
    assert torch.equal(got, expected)  # bit for bit: the forward pass is untouched
    assert got.grad_fn is not None and "Frozen" in type(got.grad_fn).__name__
    want, = torch.autograd.grad(expected, x, seed)
    have, = torch.autograd.grad(got, x, seed)
    assert torch.allclose(have, want, rtol=1e-6, atol=1e-6 * float(want.abs().max()))
    assert have.stride() == want.stride()


def test_training_mode_and_inputs_without_gradient_are_torchs_own():
    norm = _norm(nn.BatchNorm2d, 4, True)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    y = frozen_norm.batch_norm(x, None, None, norm.weight, norm.bias, True, 0.1, norm.eps)  # batch statistics
    assert type(y.grad_fn).__name__.startswith("NativeBatchNorm")
    assert torch.equal(y, F.batch_norm(x, None, None, norm.weight, norm.bias, True, 0.1, norm.eps))
    z = frozen_norm.batch_norm(x.detach(), norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
    assert type(z.grad_fn).__name__.startswith("NativeBatchNorm") and torch.equal(z, norm(x.detach()))
