"""How each operation moves pixels: the receptive-field rules `explorer.receptive_fields.graph` applies node by node.

Values flowing through the graph are `Feature` (a tensor with two spatial dimensions and the field of
its units per axis, `explorer.receptive_fields.geometry.Axis`), `Flat` (spatial positions merged away: flatten, a global
mean, linear layers), `Dim` (a spatial size read with `.size()`, followed through `view`), `UNKNOWN`
(a batch or channel size) and `Repeat` (the pieces of a channel split). Each rule also computes the
output's spatial size, so the model never has to run.

Branches: `merge` takes the union of the fields of its inputs. Paths whose jumps differ cannot be
merged and raise; paths whose field centres differ (Araujo et al.'s "unaligned" networks) are merged
and reported in `Feature.misaligned`. An input broadcast over the map (squeeze-and-excitation's
per-channel scale, computed from a global average) does not enlarge the convolutional field: it sets
`global_context` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce

from explorer.receptive_fields import geometry
from explorer.receptive_fields.geometry import Axis


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


def input_feature(size: tuple[int, int]) -> Feature:
    """The input image [N, C, H, W]: pixel (r, c) sees itself."""
    return Feature(4, (2, 3), size, geometry.IDENTITY, geometry.IDENTITY)


# --- spatial operations -------------------------------------------------------------------

def pair(v) -> tuple:
    """A module's int-or-pair setting (kernel_size=3 or (1, 7)) as (rows, cols)."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def spatial(x: object, what: str) -> Feature:
    """`x` as a feature map whose rows and columns are its last two dimensions, or UnsupportedError."""
    if not isinstance(x, Feature) or x.rows is None:
        raise UnsupportedError(f"{what} needs a feature map, but gets a vector")
    if x.dims != (x.ndim - 2, x.ndim - 1):
        raise UnsupportedError(f"{what} works on the last two dimensions, but the map's rows and columns are elsewhere")
    return x


def _apply(x: Feature, per_axis: list[tuple[geometry.IndexMap, int]], weights: bool) -> Feature:
    """Map x through one index map per axis; `weights` counts the layer as a convolution (depth)."""
    if any(n < 1 for _, n in per_axis):
        raise InputTooSmallError("")
    rows = geometry.compose(x.rows, per_axis[0][0])
    cols = geometry.compose(x.cols, per_axis[1][0])
    return replace(x, size=(per_axis[0][1], per_axis[1][1]), rows=rows, cols=cols, depth=x.depth + int(weights))


def conv(x: object, kernel, stride=1, padding=0, dilation=1, padding_mode: str = "zeros") -> Feature:
    """Conv2d (or F.conv2d): padding an int, a pair, "valid" or "same" (extra pixel after, as PyTorch)."""
    x = spatial(x, "a convolution")
    if padding_mode == "circular":
        raise UnsupportedError("circular padding wraps the image around, so edge units see the opposite side")
    kernel, stride, dilation = pair(kernel), pair(stride), pair(dilation)
    maps = []
    for i in range(2):
        k, s, d, n = kernel[i], stride[i], dilation[i], x.size[i]
        if padding == "valid":
            before, total = 0, 0
        elif padding == "same":
            total = d * (k - 1)
            before = total // 2
        else:
            before = pair(padding)[i]
            total = 2 * before
        maps.append((geometry.window(k, s, before, d), geometry.window_output(n, k, s, total, d)))
    return _apply(x, maps, weights=True)


def conv_transpose(x: object, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> Feature:
    x = spatial(x, "a transposed convolution")
    kernel, stride, padding = pair(kernel), pair(stride), pair(padding)
    output_padding, dilation = pair(output_padding), pair(dilation)
    maps = []
    for i in range(2):
        k, s, p, d = kernel[i], stride[i], padding[i], dilation[i]
        out = (x.size[i] - 1) * s - 2 * p + d * (k - 1) + output_padding[i] + 1
        maps.append((geometry.transposed(k, s, p, d), out))
    return _apply(x, maps, weights=True)


def pool(x: object, kernel, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> Feature:
    """MaxPool2d / AvgPool2d (stride defaults to the kernel, as in PyTorch)."""
    x = spatial(x, "a pooling layer")
    kernel = pair(kernel)
    stride = pair(stride) if stride not in (None, [], ()) else kernel
    padding, dilation = pair(padding), pair(dilation)
    maps = []
    for i in range(2):
        k, s, p, d = kernel[i], stride[i], padding[i], dilation[i]
        out = geometry.window_output(x.size[i], k, s, 2 * p, d, ceil_mode, p)
        maps.append((geometry.window(k, s, p, d), out))
    return _apply(x, maps, weights=False)


def adaptive_pool(x: object, output_size) -> Feature:
    x = spatial(x, "an adaptive pooling layer")
    out = [x.size[i] if o is None else o for i, o in enumerate(pair(output_size))]
    pooled = _apply(x, [(geometry.adaptive(x.size[i], out[i]), out[i]) for i in range(2)], weights=False)
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
    x = spatial(x, "padding")
    left, right, top, bottom = (tuple(pads) + (0, 0, 0, 0))[:4]
    return _apply(x, [(geometry.window(1, 1, top), x.size[0] + top + bottom),
                      (geometry.window(1, 1, left), x.size[1] + left + right)], weights=False)


def upsample(x: object, size=None, scale_factor=None, mode: str = "nearest") -> Feature:
    x = spatial(x, "upsampling")
    out = pair(size) if size is not None else tuple(int(n * s) for n, s in zip(x.size, pair(scale_factor)))
    scales = [o // n if o % n == 0 else 0 for o, n in zip(out, x.size)]
    if mode not in ("nearest", "nearest-exact") or 0 in scales:
        raise UnsupportedError(f"{mode} upsampling to {out[0]}×{out[1]} is not supported (only nearest, by whole factors)")
    return _apply(x, [(geometry.nearest(scales[i]), out[i]) for i in range(2)], weights=False)


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
    rows = reduce(geometry.union, [f.rows for f in paths]) if paths else None
    cols = reduce(geometry.union, [f.cols for f in paths]) if paths else None
    notes = list(dict.fromkeys(n for f in feats for n in f.misaligned))
    for f in paths[1:]:
        for axis, (a, b) in (("rows", (paths[0].rows, f.rows)), ("columns", (paths[0].cols, f.cols))):
            gap = geometry.centre_gap(a, b)
            if gap:
                note = (f"the paths that meet here see fields whose centres differ by {gap:g} px along "
                        f"the {axis}; the box shown is their union")
                if note not in notes:
                    notes.append(note)
    base = paths[0] if paths else full[0]
    return Feature(base.ndim, base.dims, size, rows, cols,
                   broadcast or any(f.global_context for f in feats + flats),
                   max(f.depth for f in feats + flats), tuple(notes))


def norm_dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def flatten(x: object, start: int = 0, end: int = -1) -> object:
    if not isinstance(x, Feature):
        return x
    start, end = norm_dim(start, x.ndim), norm_dim(end, x.ndim)
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
    dims = {norm_dim(d, x.ndim) for d in (dims if isinstance(dims, (tuple, list)) else [dims])}
    hit = [d in dims for d in x.dims]
    if all(hit):
        if not keepdim:
            return Flat(True, x.depth)
        return _global(_apply(x, [(geometry.adaptive(x.size[i], 1), 1) for i in range(2)], weights=False), x)
    if any(hit):
        raise UnsupportedError("reduces over one spatial dimension only")
    if keepdim:
        return x
    return replace(x, ndim=x.ndim - len(dims), dims=tuple(d - sum(r < d for r in dims) for d in x.dims))


def permute(x: object, order: list[int]) -> object:
    if not isinstance(x, Feature):
        return x
    order = [norm_dim(d, x.ndim) for d in order]
    dims = (order.index(x.dims[0]), order.index(x.dims[1]))
    if dims[0] > dims[1]:
        raise UnsupportedError("swaps the rows and columns of the map")
    return replace(x, dims=dims)


def transpose(x: object, d0: int, d1: int) -> object:
    if not isinstance(x, Feature):
        return x
    order = list(range(x.ndim))
    d0, d1 = norm_dim(d0, x.ndim), norm_dim(d1, x.ndim)
    order[d0], order[d1] = order[d1], order[d0]
    return permute(x, order)


def channels_only(x: object, dim: int, what: str) -> object:
    if isinstance(x, Feature) and norm_dim(dim, x.ndim) in x.dims:
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
                axes[a] = geometry.compose(axes[a], geometry.window(1, step, -start))
                size[a] = n
            dims[a] = out
            out += 1
        elif isinstance(it, slice):
            out += 1
        elif not isinstance(it, int):
            raise UnsupportedError("indexes the map with a tensor")
        pos += 1
    return replace(x, ndim=out, dims=tuple(dims), size=tuple(size), rows=axes[0], cols=axes[1])


def arith(op, args: list) -> object:
    if any(isinstance(a, (Feature, Flat)) for a in args):
        return merge(list(args))
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    return op(*args)
