"""A model's graph, read with torch.fx, and the receptive field of every value in it.

`trace(model)` records the operations of one forward pass symbolically (no computation);
`propagate(traced, (H, W))` then walks the graph in order and gives every node a `Feature`
(a map with a field per axis, `explorer.rf_axis.Axis`) or a `Flat` (a vector with no spatial
position left). The walk computes the spatial sizes itself, so nothing is executed: 2-20 ms
for any zoo model, where a meta-device forward pass takes 70-400 ms.

Why a custom tracer:
- TF-style "same" padding (`explorer.efficientnet_lite.SamePad2d`) computes its pads from the
  input's shape, which plain `torch.fx.symbolic_trace` cannot follow; it is kept as one leaf
  node whose pads are computed here from the known size (so the field depends on the input size,
  as it does in the model).
- torch.fx patches `nn.Module.__call__` and `__getattr__` for the whole process while it traces.
  Other sessions may be running a shared model in other threads at that moment: their calls are
  passed straight through (`_owner`), and traces are serialised (`_TRACE_LOCK`) because two
  overlapping patchers restore each other's patches in the wrong order.
- It records the node of each module call's output, which is how layers are named.

Branches: a residual add or a concatenation takes the union of the fields of its inputs. Paths
whose jumps differ cannot be merged and raise; paths whose field centres differ (Araujo et al.'s
"unaligned" networks) are merged and reported in `Feature.misaligned`. An input that is broadcast
over the map (squeeze-and-excitation's per-channel scale, computed from a global average) does
not enlarge the convolutional field: it sets `global_context` instead.
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

from explorer import rf_axis
from explorer.efficientnet_lite import SamePad2d
from explorer.rf_axis import Axis, GeometryError

#: Modules kept as single nodes because their forward reads the input's shape.
LEAF_TYPES: tuple[type[nn.Module], ...] = (SamePad2d,)

_TRACE_LOCK = threading.Lock()


class UnsupportedError(ValueError):
    """A module or operation whose effect on the receptive field cannot be followed (names it)."""


class InputTooSmallError(ValueError):
    """A layer would produce an empty map at this input size (`where` names it)."""

    def __init__(self, where: str) -> None:
        super().__init__(f"{where} would produce an empty map")
        self.where = where


@dataclass(frozen=True)
class Feature:
    """A tensor with two spatial dimensions and the field of its units.

    Attributes:
        ndim: number of dimensions (4 for [N, C, H, W]; 5 inside ShuffleNet's channel shuffle).
        dims: positions of the row and column dimensions.
        size: (rows, cols) of the map.
        rows, cols: the field along each axis; None for a map broadcast from a vector.
        global_context: True when a path through a global average reaches the units.
        depth: convolutions on the longest path from the input.
        misaligned: reports of branch merges whose field centres disagreed.
    """

    ndim: int
    dims: tuple[int, int]
    size: tuple[int, int]
    rows: Axis | None
    cols: Axis | None
    global_context: bool = False
    depth: int = 0
    misaligned: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flat:
    """A tensor whose spatial positions have been merged (flatten, global mean, linear layers)."""

    global_context: bool
    depth: int


class Dim(int):
    """The size of a spatial dimension read with `.size()`, remembered through `view` calls."""

    axis: int

    def __new__(cls, value: int, axis: int) -> "Dim":
        obj = super().__new__(cls, value)
        obj.axis = axis
        return obj


class _Unknown:
    """A batch or channel size: not needed for the field, carried through arithmetic."""

    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Repeat:
    """The pieces of `chunk`/`split` along the channels: each has the field of the whole."""

    value: object


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
    return Traced(model, graph, tracer.outputs)


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


def input_feature(size: tuple[int, int]) -> Feature:
    """The input image [N, C, H, W]: pixel (r, c) sees itself."""
    return Feature(4, (2, 3), size, rf_axis.IDENTITY, rf_axis.IDENTITY)


def _run(node: fx.Node, root: nn.Module, env: dict, input_size: tuple[int, int]) -> object:
    if node.op == "placeholder":
        first = not any(n.op == "placeholder" for n in env)
        return input_feature(input_size) if first else None
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


# --- spatial operations -------------------------------------------------------------------

def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _spatial(x: object, what: str) -> Feature:
    if not isinstance(x, Feature) or x.rows is None:
        raise UnsupportedError(f"{what} needs a feature map, but gets a vector")
    if x.dims != (x.ndim - 2, x.ndim - 1):
        raise UnsupportedError(f"{what} works on the last two dimensions, but the map's rows and columns are elsewhere")
    return x


def _apply(x: Feature, per_axis: list[tuple[rf_axis.IndexMap, int]], weights: bool) -> Feature:
    """Map x through one index map per axis; `weights` counts the layer as a convolution (depth)."""
    if any(n < 1 for _, n in per_axis):
        raise InputTooSmallError("")
    rows = rf_axis.compose(x.rows, per_axis[0][0])
    cols = rf_axis.compose(x.cols, per_axis[1][0])
    return replace(x, size=(per_axis[0][1], per_axis[1][1]), rows=rows, cols=cols, depth=x.depth + int(weights))


def conv(x: object, kernel, stride=1, padding=0, dilation=1, padding_mode: str = "zeros") -> Feature:
    """Conv2d (or F.conv2d): padding an int, a pair, "valid" or "same" (extra pixel after, as PyTorch)."""
    x = _spatial(x, "a convolution")
    if padding_mode == "circular":
        raise UnsupportedError("circular padding wraps the image around, so edge units see the opposite side")
    kernel, stride, dilation = _pair(kernel), _pair(stride), _pair(dilation)
    maps = []
    for i in range(2):
        k, s, d, n = kernel[i], stride[i], dilation[i], x.size[i]
        if padding == "valid":
            before, total = 0, 0
        elif padding == "same":
            total = d * (k - 1)
            before = total // 2
        else:
            before = _pair(padding)[i]
            total = 2 * before
        maps.append((rf_axis.window(k, s, before, d), rf_axis.window_output(n, k, s, total, d)))
    return _apply(x, maps, weights=True)


def conv_transpose(x: object, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> Feature:
    x = _spatial(x, "a transposed convolution")
    kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
    output_padding, dilation = _pair(output_padding), _pair(dilation)
    maps = []
    for i in range(2):
        k, s, p, d = kernel[i], stride[i], padding[i], dilation[i]
        out = (x.size[i] - 1) * s - 2 * p + d * (k - 1) + output_padding[i] + 1
        maps.append((rf_axis.transposed(k, s, p, d), out))
    return _apply(x, maps, weights=True)


def pool(x: object, kernel, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> Feature:
    """MaxPool2d / AvgPool2d (stride defaults to the kernel, as in PyTorch)."""
    x = _spatial(x, "a pooling layer")
    kernel = _pair(kernel)
    stride = _pair(stride) if stride not in (None, [], ()) else kernel
    padding, dilation = _pair(padding), _pair(dilation)
    maps = []
    for i in range(2):
        k, s, p, d = kernel[i], stride[i], padding[i], dilation[i]
        out = rf_axis.window_output(x.size[i], k, s, 2 * p, d, ceil_mode, p)
        maps.append((rf_axis.window(k, s, p, d), out))
    return _apply(x, maps, weights=False)


def adaptive_pool(x: object, output_size) -> Feature:
    x = _spatial(x, "an adaptive pooling layer")
    out = [x.size[i] if o is None else o for i, o in enumerate(_pair(output_size))]
    pooled = _apply(x, [(rf_axis.adaptive(x.size[i], out[i]), out[i]) for i in range(2)], weights=False)
    return _global(pooled, x)


def _global(pooled: Feature, x: Feature) -> Feature:
    """A pooling whose one window covers a map of several units is global: its unit sees the whole image."""
    return replace(pooled, global_context=True) if pooled.size == (1, 1) and x.size != (1, 1) else pooled


def pad(x: object, pads: tuple[int, ...], mode: str = "constant") -> object:
    """F.pad / nn.ZeroPad2d-style padding: `pads` = (left, right, top, bottom)."""
    if mode == "circular":
        raise UnsupportedError("circular padding wraps the image around, so edge units see the opposite side")
    if not isinstance(x, Feature):
        return x
    x = _spatial(x, "padding")
    left, right, top, bottom = (tuple(pads) + (0, 0, 0, 0))[:4]
    return _apply(x, [(rf_axis.window(1, 1, top), x.size[0] + top + bottom),
                      (rf_axis.window(1, 1, left), x.size[1] + left + right)], weights=False)


def upsample(x: object, size=None, scale_factor=None, mode: str = "nearest") -> Feature:
    x = _spatial(x, "upsampling")
    out = _pair(size) if size is not None else tuple(int(n * s) for n, s in zip(x.size, _pair(scale_factor)))
    scales = [o // n if o % n == 0 else 0 for o, n in zip(out, x.size)]
    if mode not in ("nearest", "nearest-exact") or 0 in scales:
        raise UnsupportedError(f"{mode} upsampling to {out[0]}×{out[1]} is not supported (only nearest, by whole factors)")
    return _apply(x, [(rf_axis.nearest(scales[i]), out[i]) for i in range(2)], weights=False)


# --- elementwise and shape operations -----------------------------------------------------

def merge(values: list) -> object:
    """An elementwise operation (or a channel concatenation) of several tensors: the union of their fields."""
    feats = [v for v in values if isinstance(v, Feature)]
    flats = [v for v in values if isinstance(v, Flat)]
    if not feats:
        return Flat(any(f.global_context for f in flats), max(f.depth for f in flats)) if flats else None
    size = (max(f.size[0] for f in feats), max(f.size[1] for f in feats))
    full = [f for f in feats if f.size == size]
    paths = [f for f in full if f.rows is not None]
    broadcast = bool(flats) or len(full) < len(feats)
    rows = reduce(rf_axis.union, [f.rows for f in paths]) if paths else None
    cols = reduce(rf_axis.union, [f.cols for f in paths]) if paths else None
    notes = list(dict.fromkeys(n for f in feats for n in f.misaligned))
    for f in paths[1:]:
        for axis, (a, b) in (("rows", (paths[0].rows, f.rows)), ("columns", (paths[0].cols, f.cols))):
            gap = rf_axis.centre_gap(a, b)
            if gap:
                note = (f"the paths that meet here see fields whose centres differ by {gap:g} px along "
                        f"the {axis}; the box shown is their union")
                if note not in notes:
                    notes.append(note)
    base = paths[0] if paths else full[0]
    return Feature(base.ndim, base.dims, size, rows, cols,
                   broadcast or any(f.global_context for f in feats + flats),
                   max(f.depth for f in feats + flats), tuple(notes))


def _norm(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def flatten(x: object, start: int = 0, end: int = -1) -> object:
    if not isinstance(x, Feature):
        return x
    start, end = _norm(start, x.ndim), _norm(end, x.ndim)
    if any(start <= d <= end for d in x.dims) and end > start:
        return Flat(True, x.depth)
    return replace(x, ndim=x.ndim - (end - start), dims=tuple(d - (end - start) if d > end else d for d in x.dims))


def view(x: object, shape: list) -> object:
    """view / reshape: the spatial dimensions are followed through `.size()` values, or by their sizes."""
    if isinstance(x, Feature):
        tagged = [[i for i, v in enumerate(shape) if isinstance(v, Dim) and v.axis == a] for a in (0, 1)]
        if all(len(t) == 1 for t in tagged):
            return replace(x, ndim=len(shape), dims=(tagged[0][0], tagged[1][0]))
        if len(shape) >= 2 and tuple(shape[-2:]) == x.size:
            return replace(x, ndim=len(shape), dims=(len(shape) - 2, len(shape) - 1))
        return Flat(True, x.depth)
    if isinstance(x, Flat) and len(shape) >= 2 and tuple(shape[-2:]) == (1, 1):
        return Feature(len(shape), (len(shape) - 2, len(shape) - 1), (1, 1), None, None, True, x.depth)
    return x


def reduce_dims(x: object, dims, keepdim: bool = False) -> object:
    """mean / sum / amax over some dimensions: over both spatial ones it is a global pooling."""
    if not isinstance(x, Feature):
        return x
    dims = {_norm(d, x.ndim) for d in (dims if isinstance(dims, (tuple, list)) else [dims])}
    hit = [d in dims for d in x.dims]
    if all(hit):
        if not keepdim:
            return Flat(True, x.depth)
        return _global(_apply(x, [(rf_axis.adaptive(x.size[i], 1), 1) for i in range(2)], weights=False), x)
    if any(hit):
        raise UnsupportedError("reduces over one spatial dimension only")
    if keepdim:
        return x
    return replace(x, ndim=x.ndim - len(dims), dims=tuple(d - sum(r < d for r in dims) for d in x.dims))


def permute(x: object, order: list[int]) -> object:
    if not isinstance(x, Feature):
        return x
    order = [_norm(d, x.ndim) for d in order]
    dims = (order.index(x.dims[0]), order.index(x.dims[1]))
    if dims[0] > dims[1]:
        raise UnsupportedError("swaps the rows and columns of the map")
    return replace(x, dims=dims)


def _transpose(x: object, d0: int, d1: int) -> object:
    if not isinstance(x, Feature):
        return x
    order = list(range(x.ndim))
    d0, d1 = _norm(d0, x.ndim), _norm(d1, x.ndim)
    order[d0], order[d1] = order[d1], order[d0]
    return permute(x, order)


def _channels_only(x: object, dim: int, what: str) -> object:
    if isinstance(x, Feature) and _norm(dim, x.ndim) in x.dims:
        raise UnsupportedError(f"{what} along the rows or columns of the map")
    return Repeat(x)


def size_of(x: object, dim: int | None = None) -> object:
    if isinstance(x, Feature):
        sizes = tuple(Dim(x.size[x.dims.index(i)], x.dims.index(i)) if i in x.dims else UNKNOWN
                      for i in range(x.ndim))
        return sizes if dim is None else sizes[dim]
    return UNKNOWN if dim is not None else Repeat(UNKNOWN)


def getitem(x: object, index: object) -> object:
    if isinstance(x, (tuple, list)):
        return x[index]
    if isinstance(x, Repeat):
        return x.value
    if not isinstance(x, Feature):
        return x
    items = list(index) if isinstance(index, tuple) else [index]
    real = sum(1 for it in items if it is not None and it is not Ellipsis)
    expanded: list = []
    for it in items:
        expanded.extend([slice(None)] * (x.ndim - real) if it is Ellipsis else [it])
    expanded += [slice(None)] * (x.ndim - sum(1 for it in expanded if it is not None))
    out, pos, dims, axes, size = 0, 0, [0, 0], [x.rows, x.cols], list(x.size)
    for it in expanded:
        if it is None:
            out += 1
            continue
        if pos in x.dims:
            a = x.dims.index(pos)
            if not isinstance(it, slice):
                raise UnsupportedError("picks single rows or columns out of the map")
            start, stop, step = it.indices(size[a])
            n = len(range(start, stop, step))
            if (start, step, n) != (0, 1, size[a]):
                if n < 1:
                    raise InputTooSmallError("")
                axes[a] = rf_axis.compose(axes[a], rf_axis.window(1, step, -start))
                size[a] = n
            dims[a] = out
            out += 1
        elif isinstance(it, slice):
            out += 1
        elif not isinstance(it, int):
            raise UnsupportedError("indexes the map with a tensor")
        pos += 1
    return replace(x, ndim=out, dims=tuple(dims), size=tuple(size), rows=axes[0], cols=axes[1])


def _arith(op, args: list) -> object:
    if any(isinstance(a, (Feature, Flat)) for a in args):
        return merge(list(args))
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    return op(*args)


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
#: Module types that `explorer.receptive_field` lists as "pool" layers.
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
        return conv(x, m.kernel_size, m.stride, m.padding, m.dilation, m.padding_mode)
    if isinstance(m, nn.ConvTranspose2d):
        if len(args) > 1 or kwargs:
            raise UnsupportedError("a transposed convolution called with an explicit output_size")
        return conv_transpose(x, m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation)
    if isinstance(m, nn.MaxPool2d):
        return pool(x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return pool(x, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode)
    if isinstance(m, _ADAPTIVE_TYPES):
        return adaptive_pool(x, m.output_size)
    if isinstance(m, SamePad2d):
        x = _spatial(x, "padding")
        (top, bottom), (left, right) = m.pads(x.size[0]), m.pads(x.size[1])
        return pad(x, (left, right, top, bottom))
    if isinstance(m, _PAD_TYPES):
        return pad(x, tuple(m.padding) if isinstance(m.padding, (tuple, list)) else (m.padding,) * 4)
    if isinstance(m, (nn.Upsample, nn.UpsamplingNearest2d)):
        return upsample(x, m.size, m.scale_factor, m.mode)
    if isinstance(m, _POINTWISE_MODULES):
        return x
    if isinstance(m, nn.Flatten):
        return flatten(x, m.start_dim, m.end_dim)
    if isinstance(m, nn.Linear):
        if isinstance(x, Feature):
            raise UnsupportedError("a linear layer applied to a feature map mixes the pixels of each row")
        return x
    if _vectors_only((*args, *kwargs.values())):
        return merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how {type(m).__name__} moves pixels")


def _function(fn, args: tuple, kwargs: dict) -> object:
    if fn is operator.getitem:
        return getitem(*args)
    if fn is builtins.getattr:
        return size_of(args[0]) if args[1] == "shape" else UNKNOWN
    if fn in _ARITHMETIC:
        return _arith(_ARITHMETIC[fn], [*args, *(v for k, v in kwargs.items() if k == "other")])
    if fn in (torch.cat, torch.concat):
        b = _bind(args, kwargs, ["tensors", "dim"], {"dim": 0})
        feats = [t for t in b["tensors"] if isinstance(t, Feature)]
        if feats and _norm(b["dim"], feats[0].ndim) in feats[0].dims:
            raise UnsupportedError("concatenates maps along their rows or columns")
        return merge(list(b["tensors"]))
    if fn in _POINTWISE_FUNCTIONS:
        return args[0] if args else next(iter(kwargs.values()))
    if fn is torch.flatten:
        b = _bind(args, kwargs, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
        return flatten(b["input"], b["start_dim"], b["end_dim"])
    if fn is F.max_pool2d:
        b = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"],
                  {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False})
        return pool(b["input"], b["kernel_size"], b["stride"], b["padding"], b["dilation"], b["ceil_mode"])
    if fn is F.avg_pool2d:
        b = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "ceil_mode"],
                  {"stride": None, "padding": 0, "ceil_mode": False})
        return pool(b["input"], b["kernel_size"], b["stride"], b["padding"], 1, b["ceil_mode"])
    if fn in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        b = _bind(args, kwargs, ["input", "output_size"], {})
        return adaptive_pool(b["input"], b["output_size"])
    if fn is F.conv2d:
        b = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation"],
                  {"stride": 1, "padding": 0, "dilation": 1})
        return conv(b["input"], tuple(b["weight"][2:]), b["stride"], b["padding"], b["dilation"])
    if fn is F.conv_transpose2d:
        b = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                                 "dilation"], {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1})
        return conv_transpose(b["input"], tuple(b["weight"][2:]), b["stride"], b["padding"], b["output_padding"],
                              b["dilation"])
    if fn is F.pad:
        b = _bind(args, kwargs, ["input", "pad", "mode"], {"mode": "constant"})
        return pad(b["input"], b["pad"], b["mode"])
    if fn is F.interpolate:
        b = _bind(args, kwargs, ["input", "size", "scale_factor", "mode"], {"size": None, "scale_factor": None,
                                                                            "mode": "nearest"})
        return upsample(b["input"], b["size"], b["scale_factor"], b["mode"])
    if fn in (torch.mean, torch.sum, torch.amax, torch.amin):
        b = _bind(args, kwargs, ["input", "dim", "keepdim"], {"keepdim": False})
        return reduce_dims(b["input"], b["dim"], b["keepdim"])
    if fn is torch.transpose:
        return _transpose(*args)
    if fn is torch.permute:
        return permute(args[0], list(args[1]))
    if fn in (torch.chunk, torch.split):
        b = _bind(args, kwargs, ["input", "n", "dim"], {"dim": 0})
        return _channels_only(b["input"], b["dim"], "splits the map")
    if fn in (torch._assert, torch._check):
        return None
    if _vectors_only((*args, *kwargs.values())):
        return merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how {getattr(fn, '__name__', fn)} "
                           "moves pixels")


def _method(name: str, args: tuple, kwargs: dict) -> object:
    x, rest = args[0], args[1:]
    if name == "size":
        return size_of(x, *rest, **kwargs)
    if name == "dim":
        return x.ndim if isinstance(x, Feature) else UNKNOWN
    if name in ("view", "reshape"):
        shape = list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else list(rest)
        return view(x, shape)
    if name in _POINTWISE_METHODS:
        return x
    if name in _ARITHMETIC_METHODS:
        return _arith(_ARITHMETIC_METHODS[name], [x, *rest, *kwargs.values()])
    if name == "flatten":
        b = _bind(rest, kwargs, ["start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
        return flatten(x, b["start_dim"], b["end_dim"])
    if name in ("mean", "sum", "amax", "amin"):
        b = _bind(rest, kwargs, ["dim", "keepdim"], {"keepdim": False})
        return reduce_dims(x, b["dim"], b["keepdim"])
    if name == "transpose":
        return _transpose(x, *rest)
    if name == "permute":
        return permute(x, list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else list(rest))
    if name in ("chunk", "split"):
        b = _bind(rest, kwargs, ["n", "dim"], {"dim": 0})
        return _channels_only(x, b["dim"], "splits the map")
    if name == "unsqueeze":
        if not isinstance(x, Feature):
            return x
        d = _norm(rest[0], x.ndim + 1)
        return replace(x, ndim=x.ndim + 1, dims=tuple(p + 1 if p >= d else p for p in x.dims))
    if _vectors_only((*args, *kwargs.values())):
        return merge(_leaves((*args, *kwargs.values())))
    raise UnsupportedError(f"the receptive-field analysis does not know how .{name}() moves pixels")
