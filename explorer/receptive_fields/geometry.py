"""Receptive-field geometry along one image axis: which input pixels each unit of a layer sees.

Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill,
2019) describe a layer by three numbers per axis: the field size r, the jump (effective stride)
j, and the centre of unit 0. Unit u then sees input pixels `lo + u·j … hi + u·j`, with pixel
centres at integers and `lo < 0` or `hi ≥ N` meaning zero padding.

That description is exact for convolutions and pooling, but not after a transposed convolution
(the units of a stride-2 ConvTranspose see fields that alternate in position, so the jump is
1/2 pixel on average but not uniform) or an adaptive pooling whose input is not a multiple of
its output (7 → 3 windows start at 0, 2 and 4, then 7, 9, ...). So `Axis` keeps a short table
of `period` units, after which the pattern repeats shifted by `shift` pixels:

    lo(u) = lo[u mod period] + (u div period) · shift,   hi(u) likewise.

For every convolution and pooling `period` is 1, and `shift` is the jump. An `IndexMap` says
which input units an output unit reads, in the same periodic form; `compose` chains the two,
and `union` merges the fields of two paths (a residual add, an Inception concatenation).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd


class GeometryError(ValueError):
    """A layer whose geometry cannot be described (e.g. units that read no input at all)."""


@dataclass(frozen=True)
class Axis:
    """The input pixels seen by each unit of a layer along one axis (see the module docstring).

    Attributes:
        period: how many consecutive units the table describes (1 for plain conv nets).
        shift: pixels by which the pattern moves every `period` units.
        lo, hi: first and last input pixel (inclusive) seen by units 0 … period − 1.
    """

    period: int
    shift: int
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    def bounds(self, unit: int) -> tuple[int, int]:
        """(first, last) input pixel seen by `unit` (any integer: units in padding extrapolate)."""
        q, r = divmod(unit, self.period)
        return self.lo[r] + q * self.shift, self.hi[r] + q * self.shift

    @property
    def size(self) -> int:
        """Field size in pixels (the largest over the period when units differ)."""
        return max(h - lo + 1 for lo, h in zip(self.lo, self.hi))

    @property
    def jump(self) -> float:
        """Average input pixels between neighbouring units (the effective stride)."""
        return self.shift / self.period

    @property
    def start(self) -> float:
        """Input coordinate of the centre of unit 0's field."""
        return (self.lo[0] + self.hi[0]) / 2

    def centre(self, unit: int) -> float:
        lo, hi = self.bounds(unit)
        return (lo + hi) / 2


#: The input itself: pixel u sees pixel u.
IDENTITY = Axis(1, 1, (0,), (0,))


@dataclass(frozen=True)
class IndexMap:
    """Output unit u reads input units a(u) … b(u) (inclusive, before clipping to the input),
    with a(u) = a[u mod period] + (u div period) · shift, b(u) likewise."""

    period: int
    shift: int
    a: tuple[int, ...]
    b: tuple[int, ...]

    def at(self, unit: int) -> tuple[int, int]:
        q, r = divmod(unit, self.period)
        return self.a[r] + q * self.shift, self.b[r] + q * self.shift


def window(kernel: int, stride: int, pad_before: int, dilation: int = 1) -> IndexMap:
    """Convolution or pooling: unit u reads input units u·s − p … u·s − p + d·(k − 1)."""
    return IndexMap(1, stride, (-pad_before,), (-pad_before + dilation * (kernel - 1),))


def transposed(kernel: int, stride: int, padding: int, dilation: int = 1) -> IndexMap:
    """Transposed convolution: input unit i adds into outputs i·s − p + t·d, t = 0 … k − 1."""
    a, b = [], []
    for r in range(stride):
        inputs = [(r + padding - t * dilation) // stride for t in range(kernel)
                  if (r + padding - t * dilation) % stride == 0]
        if not inputs:
            raise GeometryError(f"its kernel ({kernel}) is smaller than its stride ({stride}), so some outputs "
                                "receive no input at all")
        a.append(min(inputs))
        b.append(max(inputs))
    return IndexMap(stride, 1, tuple(a), tuple(b))


def adaptive(n_in: int, n_out: int) -> IndexMap:
    """Adaptive pooling (PyTorch's windows): unit u reads floor(u·n/m) … ceil((u+1)·n/m) − 1."""
    g = gcd(n_in, n_out)
    period, shift = n_out // g, n_in // g
    a = tuple(u * n_in // n_out for u in range(period))
    b = tuple(-(-(u + 1) * n_in // n_out) - 1 for u in range(period))
    return IndexMap(period, shift, a, b)


def nearest(scale: int) -> IndexMap:
    """Nearest-neighbour upsampling by an integer factor: unit u reads input unit u div scale."""
    return IndexMap(scale, 1, (0,) * scale, (0,) * scale)


def _reduce(axis: Axis) -> Axis:
    """The same field with the shortest period that describes it."""
    p = axis.period
    for d in range(1, p):
        if p % d or (axis.shift * d) % p:
            continue
        s = axis.shift * d // p
        if all(axis.lo[r + d] == axis.lo[r] + s and axis.hi[r + d] == axis.hi[r] + s for r in range(p - d)):
            return Axis(d, s, axis.lo[:d], axis.hi[:d])
    return axis


def compose(axis: Axis, index: IndexMap) -> Axis:
    """The field of a layer that reads units `index` of a layer whose field is `axis`.

    Fields grow monotonically with the unit index, so the union over the units read is the
    span from the field of the first one to that of the last one (dilation gaps included).
    """
    m = axis.period // gcd(axis.period, index.shift) if index.shift else 1
    period = index.period * m
    lo, hi = [], []
    for u in range(period):
        a, b = index.at(u)
        (la, ha), (lb, hb) = axis.bounds(a), axis.bounds(b)
        lo.append(min(la, lb))
        hi.append(max(ha, hb))
    shift = axis.shift * (m * index.shift) // axis.period
    return _reduce(Axis(period, shift, tuple(lo), tuple(hi)))


def same_jump(x: Axis, y: Axis) -> bool:
    """True when the two fields move by the same number of pixels per unit."""
    return x.shift * y.period == y.shift * x.period


def _expand(axis: Axis, period: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    spans = [axis.bounds(u) for u in range(period)]
    return tuple(s[0] for s in spans), tuple(s[1] for s in spans)


def union(x: Axis, y: Axis) -> Axis:
    """The field of a unit that sees both `x` and `y` (a residual add or a concatenation).

    Raises:
        GeometryError: the two paths have different jumps, so no single field describes the units.
    """
    if not same_jump(x, y):
        raise GeometryError(f"paths with different jumps meet ({x.jump:g} and {y.jump:g} px per unit)")
    period = x.period * y.period // gcd(x.period, y.period)
    (lx, hx), (ly, hy) = _expand(x, period), _expand(y, period)
    shift = x.shift * period // x.period
    return _reduce(Axis(period, shift, tuple(map(min, lx, ly)), tuple(map(max, hx, hy))))


def centre_gap(x: Axis, y: Axis) -> float:
    """Largest distance in pixels between the field centres of the same unit on two paths (0 = aligned)."""
    period = x.period * y.period // gcd(x.period, y.period)
    return max(abs(x.centre(u) - y.centre(u)) for u in range(period))


def window_output(n: int, kernel: int, stride: int, pad_total: int, dilation: int = 1,
                  ceil_mode: bool = False, pad_before: int = 0) -> int:
    """Output length of a convolution or pooling (PyTorch's formula, ceil_mode as in its pooling)."""
    span = n + pad_total - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= n + pad_before:  # the last window must start inside the input or left padding
        out -= 1
    return out
