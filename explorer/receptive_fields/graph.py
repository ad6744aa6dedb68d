"""A model's graph, read with torch.fx, and the receptive field of every value in it.

`trace(model)` records the operations of one forward pass symbolically (no computation);
`propagate(traced, (H, W))` then walks the graph in order and gives every node a `Feature`
(a map with a field per axis, `explorer.receptive_fields.geometry.Axis`) or a `Flat` (a vector with no spatial
position left), dispatching each module, function and method to its rule in `explorer.receptive_fields.ops`.
The rules compute the spatial sizes themselves, so nothing is executed: the walk takes 2-20 ms for
any zoo model, where a meta-device forward pass takes 70-400 ms.

Why a custom tracer:
- TF-style "same" padding (`explorer.models.efficientnet_lite.SamePad2d`) computes its pads from the
  input's shape, which plain `torch.fx.symbolic_trace` cannot follow; it is kept as one leaf
  node whose pads are computed here from the known size (so the field depends on the input size,
  as it does in the model).
- torch.fx patches `nn.Module.__call__` and `__getattr__` for the whole process while it traces.
  Other sessions may be running a shared model in other threads at that moment: their calls are
  passed straight through (`_owner`), and traces are serialised (`_TRACE_LOCK`) because two
  overlapping patchers restore each other's patches in the wrong order.
- It records the node of each module call's output, which is how layers are named.
"""

from __future__ import annotations

import builtins
import operator
import threading
from dataclasses import dataclass, replace
from functools import reduce

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torchvision.ops import stochastic_depth

from explorer.receptive_fields import ops
from explorer.models.efficientnet_lite import SamePad2d
from explorer.receptive_fields.geometry import GeometryError
from explorer.receptive_fields.ops import UNKNOWN, Feature, InputTooSmallError, Repeat, UnsupportedError

#: Modules kept as single nodes because their forward reads the input's shape.
LEAF_TYPES: tuple[type[nn.Module], ...] = (SamePad2d,)

_TRACE_LOCK = threading.Lock()


@dataclass
class Traced:
    """A traced model: its graph, its root and the output node of each module's first call."""

    root: nn.Module
    graph: fx.Graph
    outputs: dict[str, fx.Node]


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__()
        self._owner = threading.get_ident()
        self.outputs: dict[str, fx.Node] = {}
        self.calls: list[str] = []

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, LEAF_TYPES) or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self._owner:  # another session's forward pass: run it as usual
            return forward(*args, **kwargs)
        name = self.path_of_module(m)
        self.calls.append(name)
        out = super().call_module(m, forward, args, kwargs)
        self.calls.pop()
        if name not in self.outputs and isinstance(out, fx.Proxy):
            self.outputs[name] = out.node
        return out

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self._owner:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def describe(root: nn.Module, name: str) -> str:
    """"features.0.pad (SamePad2d)": a module as messages name it ("the model" for the root)."""
    if not name:
        return f"the model ({type(root).__name__})"
    return f"{name} ({type(root.get_submodule(name)).__name__})"


def trace(model: nn.Module) -> Traced:
    """The graph of `model`'s forward pass in its current mode (eval for the zoo), without running it.

    The model is not modified. Raises UnsupportedError naming the module whose forward torch.fx
    cannot trace (e.g. Python control flow that depends on the input's values).
    """
    tracer = _Tracer()
    with _TRACE_LOCK:
        try:
            graph = tracer.trace(model)
        except Exception as exc:  # noqa: BLE001 - any tracing failure becomes one sentence naming the module
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UnsupportedError(f"torch.fx cannot trace {describe(model, tracer.calls[-1] if tracer.calls else '')}"
                                   f": {reason}") from None
        finally:
            outputs = tracer.outputs
            tracer.__dict__.clear()  # the tracer sits in a reference cycle and holds the model (`release`)
    return Traced(model, graph, outputs)


def _where(node: fx.Node, root: nn.Module) -> str:
    if node.op == "call_module":
        return describe(root, node.target)
    stack = node.meta.get("nn_module_stack") or {}
    inside = describe(root, list(stack.values())[-1][0]) if stack else "the model's forward"
    what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return f"{inside}, operation {what}"


def propagate(traced: Traced, input_size: tuple[int, int]) -> dict[fx.Node, object]:
    """The field of every node of the graph for an input of `input_size` = (rows, cols) pixels.

    Raises:
        InputTooSmallError: a layer would get an empty map at this size.
        UnsupportedError: a module or operation this analysis cannot follow (the message names it).
    """
    env: dict[fx.Node, object] = {}
    for node in traced.graph.nodes:
        if node.op == "output":
            continue
        try:
            value = env[node] = _run(node, traced.root, env, input_size)
        except InputTooSmallError:
            raise InputTooSmallError(_where(node, traced.root)) from None
        except (UnsupportedError, GeometryError) as exc:
            raise UnsupportedError(f"{_where(node, traced.root)}: {exc}") from None
        if isinstance(value, Feature) and value.misaligned:  # name the merge where a new report arose
            seen = {n for arg in node.all_input_nodes if isinstance(env.get(arg), Feature) for n in env[arg].misaligned}
            notes = tuple(n if n in seen else f"{_where(node, traced.root)}: {n}" for n in value.misaligned)
            value = env[node] = replace(value, misaligned=notes)
    return env


def _run(node: fx.Node, root: nn.Module, env: dict, input_size: tuple[int, int]) -> object:
    if node.op == "placeholder":
        first = not any(n.op == "placeholder" for n in env)
        return ops.input_feature(input_size) if first else None
    if node.op == "get_attr":
        value = reduce(getattr, node.target.split("."), root)
        return tuple(value.shape) if torch.is_tensor(value) else value
    args = fx.node.map_arg(node.args, env.__getitem__)
    kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
    if node.op == "call_module":
        return _module(root.get_submodule(node.target), args, kwargs)
    if node.op == "call_function":
        return _function(node.target, args, kwargs)
    if node.op == "call_method":
        return _method(node.target, args, kwargs)
    raise UnsupportedError(f"unknown graph operation {node.op}")


# --- dispatch -----------------------------------------------------------------------------

_POINTWISE_MODULES = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign,
    nn.Tanhshrink, nn.Threshold, nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity, nn.LocalResponseNorm,
    nn.ChannelShuffle,
)
_POINTWISE_FUNCTIONS = {
    F.relu, F.relu_, F.relu6, F.hardtanh, F.hardtanh_, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish,
    F.hardswish, F.hardsigmoid, F.sigmoid, F.tanh, F.softplus, F.dropout, F.dropout2d, F.batch_norm,
    F.local_response_norm, F.channel_shuffle, torch.relu, torch.relu_, torch.sigmoid, torch.tanh, torch.clamp,
    torch.exp, torch.abs, torch.neg, stochastic_depth, torch.channel_shuffle,
}
_POINTWISE_METHODS = {
    "contiguous", "clone", "float", "double", "half", "to", "type", "type_as", "detach", "relu", "relu_", "sigmoid",
    "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clamp_min", "clamp_min_", "abs", "neg", "exp",
}
_ARITHMETIC = {
    operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
    operator.truediv: operator.truediv, operator.floordiv: operator.floordiv, operator.iadd: operator.add,
    operator.imul: operator.mul, operator.mod: operator.mod, torch.add: operator.add, torch.sub: operator.sub,
    torch.mul: operator.mul, torch.div: operator.truediv, torch.maximum: max, torch.minimum: min,
}
_ARITHMETIC_METHODS = {"add": operator.add, "add_": operator.add, "sub": operator.sub, "sub_": operator.sub,
                       "mul": operator.mul, "mul_": operator.mul, "div": operator.truediv, "div_": operator.truediv}
_POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d)
_ADAPTIVE_TYPES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_PAD_TYPES = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)
#: Module types that `explorer.receptive_fields.fields` lists as "pool" layers.
POOL_TYPES = _POOL_TYPES + _ADAPTIVE_TYPES


def _vectors_only(values: tuple) -> bool:
    """True when no argument is a feature map: after flattening, any operation is fine (no pixel left to move)."""
    return not any(isinstance(v, Feature) for v in _leaves(values))


def _leaves(values) -> list:
    out = []
    for v in values:
        if isinstance(v, (tuple, list)):
            out.extend(_leaves(v))
        elif isinstance(v, Repeat):
            out.extend(_leaves([v.value]))
        else:
            out.append(v)
    return out


def _bind(args: tuple, kwargs: dict, names: list[str], defaults: dict) -> dict:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


def _module(m: nn.Module, args: tuple, kwargs: dict) -> object:
    x = args[0] if args else next(iter(kwargs.values()), None)
    if isinstance(m, nn.Conv2d):
        return ops.conv(x, m.kernel_size, m.stride, m.padding, m.dilation, m.padding_mode)
    if isinstance(m, nn.ConvTranspose2d):
        if len(args) > 1 or kwargs:
            raise UnsupportedError("a transposed convolution called with an explicit output_size")
        return ops.conv_transpose(x, m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation)
    if isinstance(m, nn.MaxPool2d):
        return ops.pool(x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return ops.pool(x, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode)
    if isinstance(m, _ADAPTIVE_TYPES):
        return ops.adaptive_pool(x, m.output_size)
    if isinstance(m, SamePad2d):
        x = ops.spatial(x, "padding")
        (top, bottom), (left, right) = m.pads(x.size[0]), m.pads(x.size[1])
        return ops.pad(x, (left, right, top, bottom))
    if isinstance(m, _PAD_TYPES):
        return ops.pad(x, tuple(m.padding) if isinstance(m.padding, (tuple, list)) else (m.padding,) * 4)
    if isinstance(m, (nn.Upsample, nn.UpsamplingNearest2d)):
        return ops.upsample(x, m.size, m.scale_factor, m.mode)
    if isinstance(m, _POINTWISE_MODULES):
        return x
    if isinstance(m, nn.Flatten):
        return ops.flatten(x, m.start_dim, m.end_dim)
    if isinstance(m, nn.Linear):
        if isinstance(x, Feature):
            raise UnsupportedError("a linear layer applied to a feature map mixes the pixels of each row")
        return x
    if _vectors_only((*args, *kwargs.values())):
        return ops.merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how {type(m).__name__} moves pixels")


def _function(fn, args: tuple, kwargs: dict) -> object:
    if fn is operator.getitem:
        return ops.getitem(*args)
    if fn is builtins.getattr:
        return ops.size_of(args[0]) if args[1] == "shape" else UNKNOWN
    if fn in _ARITHMETIC:
        return ops.arith(_ARITHMETIC[fn], [*args, *(v for k, v in kwargs.items() if k == "other")])
    if fn in (torch.cat, torch.concat):
        b = _bind(args, kwargs, ["tensors", "dim"], {"dim": 0})
        feats = [t for t in b["tensors"] if isinstance(t, Feature)]
        if feats and ops.norm_dim(b["dim"], feats[0].ndim) in feats[0].dims:
            raise UnsupportedError("concatenates maps along their rows or columns")
        return ops.merge(list(b["tensors"]))
    if fn in _POINTWISE_FUNCTIONS:
        return args[0] if args else next(iter(kwargs.values()))
    if fn is torch.flatten:
        b = _bind(args, kwargs, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
        return ops.flatten(b["input"], b["start_dim"], b["end_dim"])
    if fn is F.max_pool2d:
        b = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"],
                  {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False})
        return ops.pool(b["input"], b["kernel_size"], b["stride"], b["padding"], b["dilation"], b["ceil_mode"])
    if fn is F.avg_pool2d:
        b = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "ceil_mode"],
                  {"stride": None, "padding": 0, "ceil_mode": False})
        return ops.pool(b["input"], b["kernel_size"], b["stride"], b["padding"], 1, b["ceil_mode"])
    if fn in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        b = _bind(args, kwargs, ["input", "output_size"], {})
        return ops.adaptive_pool(b["input"], b["output_size"])
    if fn is F.conv2d:
        b = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation"],
                  {"stride": 1, "padding": 0, "dilation": 1})
        return ops.conv(b["input"], tuple(b["weight"][2:]), b["stride"], b["padding"], b["dilation"])
    if fn is F.conv_transpose2d:
        b = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                                 "dilation"], {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1})
        return ops.conv_transpose(b["input"], tuple(b["weight"][2:]), b["stride"], b["padding"], b["output_padding"],
                              b["dilation"])
    if fn is F.pad:
        b = _bind(args, kwargs, ["input", "pad", "mode"], {"mode": "constant"})
        return ops.pad(b["input"], b["pad"], b["mode"])
    if fn is F.interpolate:
        b = _bind(args, kwargs, ["input", "size", "scale_factor", "mode"], {"size": None, "scale_factor": None,
                                                                            "mode": "nearest"})
        return ops.upsample(b["input"], b["size"], b["scale_factor"], b["mode"])
    if fn in (torch.mean, torch.sum, torch.amax, torch.amin):
        b = _bind(args, kwargs, ["input", "dim", "keepdim"], {"keepdim": False})
        return ops.reduce_dims(b["input"], b["dim"], b["keepdim"])
    if fn is torch.transpose:
        return ops.transpose(*args)
    if fn is torch.permute:
        return ops.permute(args[0], list(args[1]))
    if fn in (torch.chunk, torch.split):
        b = _bind(args, kwargs, ["input", "n", "dim"], {"dim": 0})
        return ops.channels_only(b["input"], b["dim"], "splits the map")
    if fn in (torch._assert, torch._check):
        return None
    if _vectors_only((*args, *kwargs.values())):
        return ops.merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how {getattr(fn, '__name__', fn)} "
                           "moves pixels")


def _method(name: str, args: tuple, kwargs: dict) -> object:
    x, rest = args[0], args[1:]
    if name == "size":
        return ops.size_of(x, *rest, **kwargs)
    if name == "dim":
        return x.ndim if isinstance(x, Feature) else UNKNOWN
    if name in ("view", "reshape"):
        shape = list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else list(rest)
        return ops.view(x, shape)
    if name in _POINTWISE_METHODS:
        return x
    if name in _ARITHMETIC_METHODS:
        return ops.arith(_ARITHMETIC_METHODS[name], [x, *rest, *kwargs.values()])
    if name == "flatten":
        b = _bind(rest, kwargs, ["start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
        return ops.flatten(x, b["start_dim"], b["end_dim"])
    if name in ("mean", "sum", "amax", "amin"):
        b = _bind(rest, kwargs, ["dim", "keepdim"], {"keepdim": False})
        return ops.reduce_dims(x, b["dim"], b["keepdim"])
    if name == "transpose":
        return ops.transpose(x, *rest)
    if name == "permute":
        return ops.permute(x, list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else list(rest))
    if name in ("chunk", "split"):
        b = _bind(rest, kwargs, ["n", "dim"], {"dim": 0})
        return ops.channels_only(x, b["dim"], "splits the map")
    if name == "unsqueeze":
        if not isinstance(x, Feature):
            return x
        d = ops.norm_dim(rest[0], x.ndim + 1)
        return replace(x, ndim=x.ndim + 1, dims=tuple(p + 1 if p >= d else p for p in x.dims))
    if _vectors_only((*args, *kwargs.values())):
        return ops.merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how .{name}() moves pixels")


def truncated(model: nn.Module, layer: str) -> nn.Module:
    """A module that computes `layer`'s output (its first call) from the model's input, and nothing after it.

    The model's graph is cut after that layer (torch.fx). The result calls the model's own modules:
    nothing is copied or modified and no hook is attached, so it is safe on a shared model.

    Raises:
        ValueError: `layer` is not a module called in the model's forward pass.
    """
    traced = trace(model)
    stop = traced.outputs.get(layer)
    if stop is None:
        raise ValueError(f"{layer!r} is not a layer this model runs; pick one from receptive_fields().")
    graph, copied = fx.Graph(), {}
    for node in traced.graph.nodes:
        copied[node] = graph.node_copy(node, copied.__getitem__)
        if node is stop:
            break
    graph.output(copied[stop])
    return fx.GraphModule(traced.root, graph)


def layer_output(model: nn.Module, layer: str, inputs: torch.Tensor) -> torch.Tensor:
    """`layer`'s output for a preprocessed batch [N, C, H, W]: [N, C', H', W'] (no gradients, no hooks)."""
    cut = truncated(model, layer)
    try:
        with torch.inference_mode():
            return cut(inputs)
    finally:
        release(cut)


def release(cut: nn.Module) -> None:
    """Let go of the model's layers that a `truncated` module calls, once it is no longer needed.

    A GraphModule and its torch.fx graph refer to each other, so only the cycle collector frees the module, and
    the app turns Streamlit's collection after every run off (`runner.postScriptGC`): without this, a model the
    store had dropped stayed in memory until the next full collection, one more for every link that asked for a
    field or a map of another model. Emptying the cut's submodules breaks the only path to the model's weights
    (a full `gc.collect()` here would hold the GIL for every session meanwhile).
    """
    cut._modules.clear()  # noqa: SLF001 - nn.Module keeps its submodules there
