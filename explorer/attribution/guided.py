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
Each activation's output gets a hook on its own backward node (torch computes dL/dy * f'(x)
there as usual; the hook cuts the negative part), so the rule touches this forward pass's graph
only. In-place activations are computed out of place, so that the node is the activation's.
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


class Rule:
    """Which rule the backward passes through a graph built under `guided_backprop(rule)` follow: the guided one
    while `guided` is True, the plain chain rule otherwise. One forward pass then serves both a plain and a guided
    backward pass (`explorer.attribution.cheap`)."""

    def __init__(self, guided: bool = True) -> None:
        self.guided = guided

    def __call__(self, grad_inputs: tuple, _grad_outputs: tuple) -> tuple | None:
        """The hook of an activation's backward node: its gradient dL/dx = dL/dy * f'(x), negative part cut."""
        if not self.guided:
            return None
        return tuple(None if g is None else g.clamp(min=0) for g in grad_inputs)


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

    With a `Rule`, the backward passes follow it at the time they run (`rule.guided`).
    """

    def __init__(self, rule: Rule | None = None) -> None:
        super().__init__()
        self.rule = rule or Rule()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _IN_PLACE and func not in ACTIVATIONS:
            return func(*args, **kwargs)
        func, args, kwargs = _out_of_place(func, args, kwargs)
        y = func(*args, **kwargs)
        if y.grad_fn is not None:  # the activation's own backward node (out of place): its dL/dx goes through `rule`
            y.grad_fn.register_hook(self.rule)
        return y
