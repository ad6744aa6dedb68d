"""The guided-backpropagation rule, applied to whatever activations a model really uses.

Guided backpropagation (Springenberg et al. 2015) changes the backward pass of every ReLU so
that only positive gradient flows back through units that were active: for y = relu(x),
dL/dx = max(dL/dy * 1[x > 0], 0). Guided Grad-CAM (Selvaraju et al. 2017) multiplies that
gradient image by the Grad-CAM map.

captum's `GuidedBackprop` hooks `nn.ReLU` modules only. EfficientNet-Lite uses `nn.ReLU6`,
MobileNet v3 `nn.Hardswish`, EfficientNet-B0 `nn.SiLU`, and GoogLeNet, Inception v3 and
DenseNet call `F.relu` directly, so on those networks captum's "guided" gradient silently
equals the plain gradient. Here the rule is generalised to any activation f:

    dL/dx = max(dL/dy * f'(x), 0)

i.e. the gradient passes the activation as usual and its negative part is then cut. For ReLU
this is exactly captum's rule (f' = 1[x > 0]); for ReLU6 it also stops the gradient where the
unit is saturated (x > 6), as the plain gradient does; for SiLU and Hardswish, whose slope is
negative for some x < 0, a negative product is cut as well. Gates that scale features rather
than rectify them (the sigmoids of squeeze-and-excitation) keep their plain gradient.

The rule is installed with a `TorchFunctionMode`, which sees every activation call, whether it
comes from a module or from `F.relu`, and is local to the calling thread: a model shared by
many sessions is neither changed nor hooked, and other threads keep the plain backward pass.
In-place activations are computed out of place (their callers use the returned tensor).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

#: Rectifier-like activations whose backward pass becomes guided (functional forms and in-place twins).
ACTIVATIONS = (F.relu, torch.relu, F.relu6, F.hardtanh, F.hardswish, F.silu, F.gelu, F.elu, F.leaky_relu,
               F.mish)
_IN_PLACE = {torch.relu_: torch.relu, F.relu_: F.relu, F.hardtanh_: F.hardtanh, F.elu_: F.elu,
             F.leaky_relu_: F.leaky_relu}


def _signature(func) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except ValueError:  # a builtin such as torch.relu or F.gelu: no `inplace` option to turn off
        return None


_SIGNATURES = {f: _signature(f) for f in ACTIVATIONS}


class _GuidedBackward(torch.autograd.Function):
    """Identity on the forward value y = f(x); backward returns max(grad_y * f'(x), 0)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        ctx.save_for_backward(slope)
        return y.clone()

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (slope,) = ctx.saved_tensors
        return (grad_y * slope).clamp(min=0), None, None


def _out_of_place(func, args: tuple, kwargs: dict) -> tuple:
    """The same activation call with `inplace=False` (the guided backward needs the input kept)."""
    func = _IN_PLACE.get(func, func)
    signature = _SIGNATURES.get(func)
    if signature is None:
        return func, args, kwargs
    bound = signature.bind(*args, **kwargs)
    if "inplace" in bound.arguments:
        bound.arguments["inplace"] = False
    return func, bound.args, bound.kwargs


class guided_backprop(TorchFunctionMode):  # noqa: N801 - used like a function: `with guided_backprop():`
    """Context manager: inside it, on this thread, activations backpropagate with the guided rule.

    Example:
        >>> x = image.requires_grad_()
        >>> with guided_backprop():
        ...     score = model(x)[0, target]
        >>> guided = torch.autograd.grad(score, x)[0]   # [1, C, H, W]
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _IN_PLACE and func not in ACTIVATIONS:
            return func(*args, **kwargs)
        func, args, kwargs = _out_of_place(func, args, kwargs)
        x = args[0]
        if not (torch.is_grad_enabled() and x.requires_grad):
            return func(*args, **kwargs)
        with torch.enable_grad():
            leaf = x.detach().requires_grad_()
            y = func(leaf, *args[1:], **kwargs)
            (slope,) = torch.autograd.grad(y.sum(), leaf)  # elementwise activation: f'(x)
        return _GuidedBackward.apply(x, slope, y.detach())
