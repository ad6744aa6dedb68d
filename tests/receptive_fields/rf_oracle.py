"""Back-propagation oracle for receptive fields: the input pixels one output unit really depends on.

Used by tests/receptive_fields/test_fields.py (a sample of layers per model) and bench/receptive_field.py
(every layer). The network is made "transparent" so that a zero gradient can only mean "no path":
- every convolution weight is 1/fan_in and every bias 0, so no sum of paths cancels;
- activations become the identity (a ReLU would zero the gradient wherever its input is negative),
  and max pooling becomes average pooling of the same geometry (max routes the gradient to one
  pixel of the window);
- batch norm is reset to the identity scale; the input is all ones.
The support of the input gradient of one unit (all its channels) is then exactly its field.
float64 is used because float32 underflows at the far edges of DenseNet's field; networks with
depthwise convolutions (slow in float64 on the CPU) run in float32 with the seed gradient scaled
by 1e20, as in loss scaling.
"""

from __future__ import annotations

import contextlib
import copy
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from explorer.receptive_fields import fields as rf

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU, nn.Tanh,
               nn.LeakyReLU, nn.ELU)


class _Unreached(nn.Module):
    """Stands for a linear layer (the classifier): the oracle stops at a feature map before it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the oracle's forward pass should have stopped before the classifier")


class _ConstantPool(nn.Module):
    """A global pooling that outputs ones: the squeeze-and-excitation path cut off (no gradient through it), and
    its scale fixed at 1. (Detaching it is not enough: with identity activations each SE block multiplies the
    map by its own mean, so the values collapse doubly exponentially and far-edge gradients underflow.)"""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(self.pool(x))


def has_depthwise(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def transparent(model: nn.Module, cut_global: bool = False, dtype: torch.dtype | None = None) -> nn.Module:
    """A CPU copy of `model` (which may live on the meta device) with the oracle's weights, identity
    activations and average pooling, in float64 (float32 when it has depthwise convolutions, unless
    `dtype` says otherwise).

    cut_global: replace every adaptive average pooling below the top level (the squeeze-and-excitation
    paths) by constant ones, leaving the convolutional path only.
    """
    model = copy.deepcopy(model).eval()
    for name, module in list(model.named_modules()):
        if not name:
            continue
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        if isinstance(module, ACTIVATIONS):
            setattr(owner, child, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            assert module.dilation in (1, (1, 1)), "average pooling has no dilation"
            setattr(owner, child, nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode))
        elif isinstance(module, nn.AdaptiveMaxPool2d):
            setattr(owner, child, nn.AdaptiveAvgPool2d(module.output_size))
        elif cut_global and parent and isinstance(module, nn.AdaptiveAvgPool2d):
            setattr(owner, child, _ConstantPool(module))
        elif isinstance(module, nn.Linear):  # VGG's classifier would be 1 GB in float64
            setattr(owner, child, _Unreached())
    dtype = dtype or (torch.float32 if has_depthwise(model) else torch.float64)
    if next(model.parameters()).is_meta:
        model = model.to(dtype).to_empty(device="cpu")  # every value is set below: skip the random init
    else:
        model = model.to(dtype)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
    return model


@contextlib.contextmanager
def transparent_functions():
    """Functional ReLU and max pooling (Inception, GoogLeNet, DenseNet call them) made transparent too."""
    saved = F.relu, F.max_pool2d

    def identity(x, *args, **kwargs):
        return x

    def avg_instead(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        assert dilation in (1, (1, 1)) and not return_indices
        return F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode)

    F.relu, F.max_pool2d = identity, avg_instead
    try:
        yield
    finally:
        F.relu, F.max_pool2d = saved


class _Stop(Exception):
    pass


def support(model: nn.Module, layer: str, side: int | tuple[int, int], unit: tuple[int, int],
            channels: int = 3, scale: float | None = None) -> torch.Tensor:
    """bool [H, W]: input pixels with a non-zero gradient for unit (row, col) of `layer` (all channels), for an
    input of `side` (square) or (H, W) pixels.

    `model` must come from `transparent`. The forward pass stops at `layer`. `scale` multiplies the seed
    gradient (default 1 in float64, 1e20 in float32): far edges of deep fields carry tiny gradients.
    """
    rows, cols = (side, side) if isinstance(side, int) else side
    dtype = next(model.parameters()).dtype
    scale = scale or (1.0 if dtype == torch.float64 else 1e20)
    x = torch.ones(1, channels, rows, cols, dtype=dtype, requires_grad=True)
    captured: list[torch.Tensor] = []

    def hook(_m, _a, out):
        captured.append(out)
        raise _Stop

    handle = model.get_submodule(layer).register_forward_hook(hook)
    try:
        with transparent_functions():
            model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    out = captured[0]
    seed = torch.zeros_like(out)
    seed[0, :, unit[0], unit[1]] = scale
    (grad,) = torch.autograd.grad(out, x, seed)
    return grad[0].abs().sum(0) > 0


def bounding_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the True pixels of a bool [H, W] mask."""
    rows = mask.any(1).nonzero().flatten()
    cols = mask.any(0).nonzero().flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


_FLOORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> smallest input side


def fitting_input(model: nn.Module, layer: str, preferred: int | None = None,
                  limit: int = 4096) -> tuple[int, rf.LayerRF, tuple[int, int]]:
    """(side, field, unit): an input side at which the centre unit's box of `layer` lies inside the image.

    Tries `preferred` first when given (the model's own size, where its padding offsets are the ones
    the page shows), then the smallest sides that can hold the field.
    """
    start = rf.find(rf.receptive_fields(model, preferred or 224), layer)
    size, jump = max(start.size), int(max(start.jump))
    if model not in _FLOORS:
        _FLOORS[model] = rf.smallest_input(model)
    floor = _FLOORS[model]
    candidates = ([preferred] if preferred else []) + [max(floor, size + k * jump + 1) for k in range(0, 8)]
    for side in candidates:
        if side > limit:
            break
        try:
            layer_rf = rf.find(rf.receptive_fields(model, side), layer)
        except ValueError:  # too small for the network
            continue
        unit = (layer_rf.output_size[0] // 2, layer_rf.output_size[1] // 2)
        top, left, bottom, right = rf.unit_box(layer_rf, *unit)
        if top >= 0 and left >= 0 and bottom < side and right < side:
            return side, layer_rf, unit
    raise AssertionError(f"no input up to {limit} px holds the field of {layer}")
