"""Convolution arithmetic: output sizes, numeric conv / pooling / transposed conv, sliding-window steps.

Everything works on numpy arrays in PyTorch's layout without the batch dimension:
x is [C_in, H, W], a convolution weight is [C_out, C_in, K, K] (transposed: [C_in, C_out, K, K]),
bias is [C_out]. Results equal `torch.nn.functional` on the same numbers (tests/convolution/test_arithmetic.py).

Sizes follow the PyTorch documentation of Conv2d / ConvTranspose2d / MaxPool2d:
    O = floor((I + 2P - D(K-1) - 1) / S) + 1                      (convolution, pooling)
    O = (I - 1) S - 2P + D(K-1) + OP + 1                          (transposed convolution)
The lecture writes the first one as (I - K + 2P)/S + 1, which is the same formula for D = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

OPERATIONS = ("convolution", "max pooling", "average pooling", "transposed convolution")


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"The {name} must be at least 1 (it is {value}).")


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                transposed: bool = False, output_padding: int = 0) -> int:
    """Output length (cells) of a convolution along one axis of length `n`.

    Raises ValueError with a student-facing reason exactly when torch refuses the setting, or (for a
    transposed convolution) would return an empty output (checked over a grid of every combination).
    """
    for name, value in (("input size", n), ("kernel size", kernel_size), ("stride", stride),
                        ("dilation", dilation)):
        _check_positive(name, value)
    if padding < 0:
        raise ValueError(f"Padding cannot be negative (it is {padding}).")
    span = dilation * (kernel_size - 1) + 1  # cells the (dilated) kernel spans
    if transposed:
        if output_padding < 0:
            raise ValueError(f"Output padding cannot be negative (it is {output_padding}).")
        if output_padding >= max(stride, dilation):
            raise ValueError(
                f"Output padding {output_padding} must be smaller than the stride ({stride}) or the dilation "
                f"({dilation}): lower the output padding or raise the stride.")
        out = (n - 1) * stride - 2 * padding + span + output_padding
        if out < 1:
            raise ValueError(
                f"The output would have {out} cells: (I−1)·S − 2P + D·(K−1) + OP + 1 = {out}; "
                f"lower the padding (the most that fits is {((n - 1) * stride + span + output_padding - 1) // 2}).")
        return out
    if n + 2 * padding < span:
        raise ValueError(
            f"The kernel spans {span} cells but the padded input has only {n + 2 * padding} "
            f"(I + 2P = {n} + 2·{padding}): use a smaller kernel or dilation, or more padding.")
    return (n + 2 * padding - span) // stride + 1


def pool_output_size(n: int, kernel_size: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, mode: str = "max") -> int:
    """Output length of max/average pooling (ceil_mode=False); stride None means stride = kernel size.

    Adds torch's pooling rule to `output_size`: padding at most half the kernel size, and average
    pooling has no dilation.
    """
    stride = kernel_size if stride is None else stride
    if mode == "avg" and dilation != 1:
        raise ValueError("PyTorch's average pooling has no dilation: set the dilation to 1.")
    _check_positive("kernel size", kernel_size)
    if padding < 0:
        raise ValueError(f"Padding cannot be negative (it is {padding}).")
    if 2 * padding > kernel_size:
        raise ValueError(
            f"Pooling padding can be at most half the kernel size ({kernel_size // 2} for a {kernel_size}×{kernel_size} "
            f"window), because a window of only padding has no value: lower the padding to {kernel_size // 2}.")
    return output_size(n, kernel_size, stride, padding, dilation)


def same_padding(kernel_size: int, dilation: int = 1, stride: int = 1) -> int:
    """The padding P that keeps the size (torch's padding="same"), when one P on every side exists."""
    if stride != 1:
        raise ValueError("PyTorch's padding='same' works only with stride 1: set the stride to 1 or choose a number.")
    if dilation * (kernel_size - 1) % 2:
        raise ValueError(f"'Same' padding needs an odd kernel span: D·(K−1) = {dilation * (kernel_size - 1)} is odd, "
                         "so no single padding keeps the size; use an odd kernel size.")
    return dilation * (kernel_size - 1) // 2


# ----------------------------------------------------------------------------------------- numerics
def _windows(xp: np.ndarray, kernel_size: int, stride: int, dilation: int) -> np.ndarray:
    """All windows of a padded [C, Hp, Wp] array: [C, O_h, O_w, K, K] (a view, no copy)."""
    span = dilation * (kernel_size - 1) + 1
    win = sliding_window_view(xp, (span, span), axis=(1, 2))
    return win[:, ::stride, ::stride, ::dilation, ::dilation]


def pad(x: np.ndarray, padding: int, value: float = 0.0) -> np.ndarray:
    """[C, H, W] -> [C, H+2P, W+2P], the border filled with `value`."""
    return np.pad(np.asarray(x, dtype=float), ((0, 0), (padding, padding), (padding, padding)),
                  constant_values=value)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, padding: int = 0,
           dilation: int = 1) -> np.ndarray:
    """Cross-correlation like torch.nn.functional.conv2d: x [C_in,H,W], w [C_out,C_in,K,K] -> [C_out,O_h,O_w]."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.ndim != 3 or w.ndim != 4 or w.shape[1] != x.shape[0] or w.shape[2] != w.shape[3]:
        raise ValueError(f"Shapes do not fit: x {x.shape} must be [C_in,H,W] and w {w.shape} [C_out,C_in,K,K].")
    k = w.shape[2]
    output_size(x.shape[1], k, stride, padding, dilation)
    output_size(x.shape[2], k, stride, padding, dilation)
    out = np.einsum("chwij,ocij->ohw", _windows(pad(x, padding), k, stride, dilation), w, optimize=True)
    if b is not None:
        out = out + np.asarray(b, dtype=float)[:, None, None]
    return out


def stretch(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
            dilation: int = 1) -> tuple[np.ndarray, int]:
    """The input of the convolution equivalent to a transposed one (Dumoulin & Visin 2016, section 4).

    S−1 zeros go between input cells, q = D(K−1)−P zeros around them (plus OP more at the bottom
    and right). Returns (grid [C, G_h, G_w], q). When q < 0 the grid is cropped by −q on each side.
    """
    c, h, wd = x.shape
    q = dilation * (kernel_size - 1) - padding
    gh, gw = (h - 1) * stride + 1 + 2 * q + output_padding, (wd - 1) * stride + 1 + 2 * q + output_padding
    full = np.zeros((c, (h - 1) * stride + 1 + 2 * max(q, 0) + output_padding,
                     (wd - 1) * stride + 1 + 2 * max(q, 0) + output_padding))
    o = max(q, 0)
    full[:, o:o + (h - 1) * stride + 1:stride, o:o + (wd - 1) * stride + 1:stride] = x
    crop = max(-q, 0)
    return full[:, crop:crop + gh, crop:crop + gw], q


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
                     padding: int = 0, output_padding: int = 0, dilation: int = 1) -> np.ndarray:
    """Like torch.nn.functional.conv_transpose2d: x [C_in,H,W], w [C_in,C_out,K,K] -> [C_out,O_h,O_w].

    Computed as the equivalent direct convolution: stretched input, flipped and transposed kernel.
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.ndim != 3 or w.ndim != 4 or w.shape[0] != x.shape[0] or w.shape[2] != w.shape[3]:
        raise ValueError(f"Shapes do not fit: x {x.shape} must be [C_in,H,W] and w {w.shape} [C_in,C_out,K,K].")
    k = w.shape[2]
    for n in x.shape[1:]:
        output_size(n, k, stride, padding, dilation, transposed=True, output_padding=output_padding)
    grid, _ = stretch(x, k, stride, padding, output_padding, dilation)
    return conv2d(grid, equivalent_kernel(w), b, 1, 0, dilation)


def equivalent_kernel(w: np.ndarray) -> np.ndarray:
    """Transposed-conv weight [C_in,C_out,K,K] -> direct-conv weight [C_out,C_in,K,K], flipped 180°."""
    return np.ascontiguousarray(np.asarray(w, dtype=float).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])


def max_pool2d(x: np.ndarray, kernel_size: int, stride: int | None = None, padding: int = 0,
               dilation: int = 1) -> np.ndarray:
    """Like torch.nn.functional.max_pool2d (padding counts as −inf): [C,H,W] -> [C,O_h,O_w]."""
    x = np.asarray(x, dtype=float)
    stride = kernel_size if stride is None else stride
    for n in x.shape[1:]:
        pool_output_size(n, kernel_size, stride, padding, dilation, "max")
    return _windows(pad(x, padding, -np.inf), kernel_size, stride, dilation).max(axis=(3, 4))


def avg_pool2d(x: np.ndarray, kernel_size: int, stride: int | None = None, padding: int = 0) -> np.ndarray:
    """Like torch.nn.functional.avg_pool2d (count_include_pad=True: padding zeros are averaged in)."""
    x = np.asarray(x, dtype=float)
    stride = kernel_size if stride is None else stride
    for n in x.shape[1:]:
        pool_output_size(n, kernel_size, stride, padding, 1, "avg")
    return _windows(pad(x, padding), kernel_size, stride, 1).mean(axis=(3, 4))


# ------------------------------------------------------------------------------- animation steps
@dataclass(frozen=True)
class Step:
    """One animation step: output cell (row, col) and the grid cells its window covers.

    `rows`/`cols` are the K window rows/columns in the coordinates of the grid the window slides on
    (the padded input, or for a transposed convolution the stretched grid).
    """
    out_row: int
    out_col: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]


def window_positions(in_h: int, in_w: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> list[Step]:
    """Every window of a convolution/pooling in output raster order, on the padded grid [H+2P, W+2P]."""
    oh = output_size(in_h, kernel_size, stride, padding, dilation)
    ow = output_size(in_w, kernel_size, stride, padding, dilation)
    taps = np.arange(kernel_size) * dilation
    return [Step(r, c, tuple(int(v) for v in r * stride + taps), tuple(int(v) for v in c * stride + taps))
            for r in range(oh) for c in range(ow)]


def transposed_window_positions(in_h: int, in_w: int, kernel_size: int, stride: int = 1, padding: int = 0,
                                output_padding: int = 0, dilation: int = 1) -> list[Step]:
    """Every window of the equivalent stride-1 convolution on the stretched grid (see `stretch`)."""
    oh = output_size(in_h, kernel_size, stride, padding, dilation, True, output_padding)
    ow = output_size(in_w, kernel_size, stride, padding, dilation, True, output_padding)
    taps = np.arange(kernel_size) * dilation
    return [Step(r, c, tuple(int(v) for v in r + taps), tuple(int(v) for v in c + taps))
            for r in range(oh) for c in range(ow)]


def uncovered(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> list[int]:
    """Indices (on the padded axis of length n+2P) that no window ever covers."""
    o = output_size(n, kernel_size, stride, padding, dilation)
    covered = np.zeros(n + 2 * padding, dtype=bool)
    for start in range(0, o * stride, stride):
        covered[start:start + dilation * (kernel_size - 1) + 1:dilation] = True
    return [int(i) for i in np.flatnonzero(~covered)]


def leftover(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """(I + 2P − D(K−1) − 1) mod S: the cells after the last window when the stride does not divide."""
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) % stride


# ---------------------------------------------------------------------------------------- text
def fmt(v: float) -> str:
    """A number as a student reads it: 3, −1, 0.11, −∞ (max pooling's padding)."""
    if v == -np.inf:
        return "−∞"  # max pooling's padding
    v = float(v) + 0.0  # no "−0"
    s = f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}".rstrip("0")
    return s.replace("-", "−")


def _term(a: float, b: float) -> str:
    fb = fmt(b)
    return f"{fmt(a)}·{'(' + fb + ')' if fb.startswith('−') else fb}"


def dot_text(values: np.ndarray, weights: np.ndarray) -> str:
    """'3·0 + 3·1 + … = 12' for one channel's window (values and weights of the same shape)."""
    values, weights = np.ravel(values), np.ravel(weights)
    return " + ".join(_term(a, b) for a, b in zip(values, weights)) + f" = {fmt(float(values @ weights))}"


def cell_computation(grid: np.ndarray, w: np.ndarray, b: float, step: Step, operation: str = "convolution") -> str:
    """The written-out computation of one output cell.

    grid: [C, G_h, G_w] the grid the window slides on (padded input, or the stretched grid),
    w: [C, K, K] this filter's kernel (for transposed convolution: the equivalent, flipped kernel).
    Convolution, one channel: '3·0 + 3·1 + … + 0 = 12' (the last term is the bias). Several channels:
    one line per channel with its partial sum, then 'total: a + b + c + bias = y'.
    """
    win = grid[:, list(step.rows)][:, :, list(step.cols)]
    if operation == "max pooling":
        return "; ".join(f"max({', '.join(fmt(v) for v in ch.ravel())}) = {fmt(ch.max())}" for ch in win)
    if operation == "average pooling":
        return "; ".join(f"({' + '.join(fmt(v) for v in ch.ravel())}) / {ch.size} = {fmt(ch.mean())}" for ch in win)
    parts = [float(np.ravel(c) @ np.ravel(k)) for c, k in zip(win, w)]
    total = sum(parts) + b
    if len(win) == 1:
        return " + ".join(_term(a, c) for a, c in zip(win[0].ravel(), w[0].ravel())) + f" + {fmt(b)} = {fmt(total)}"
    lines = [f"channel {i + 1}: {dot_text(c, k)}" for i, (c, k) in enumerate(zip(win, w))]
    lines.append("total: " + " + ".join(fmt(p) for p in parts) + f" + {fmt(b)} (bias) = {fmt(total)}")
    return "\n".join(lines)
