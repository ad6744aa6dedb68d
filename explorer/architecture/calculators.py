"""The lecture's parameter and multiply-add calculators, each checked by building the layers in PyTorch.

Every calculator returns a `Calculation`: rows of (part, formula, value by the formula, live value
counted by `explorer.architecture.profiling.profile` on the meta device), and totals. Parameter formulas follow
the lecture (weights only where the lecture leaves the bias out, and then the modules are built
with `bias=False`); MACs follow the app's convention (multiply-adds of conv and linear layers only).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from explorer.convolution.arithmetic import output_size
from explorer.architecture.profiling import Profile, profile


@dataclass
class Calculation:
    """Rows: part, formula, formula value, live value; `quantity` says what is counted."""

    quantity: str
    rows: list[dict]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _meta_profile(module: nn.Module, shape: tuple[int, ...]) -> Profile:
    return profile(module.eval(), shape)


def _meta(build):
    with torch.device("meta"):
        return build()


def _need(name: str, value: int, low: int, high: int) -> int:
    """`value` as an int, or ValueError naming the input and its range (the calculators' inputs are unbounded
    widgets, so that an out-of-range entry reaches this message instead of being silently ignored)."""
    if value != int(value) or not low <= value <= high:
        raise ValueError(f"The {name} must be a whole number from {low:,} to {high:,} (it is {value:,}).")
    return int(value)


def dense_vs_conv(height: int = 640, width: int = 480, channels: int = 3, units: int = 1000,
                  kernel: int = 3, filters: int = 1000) -> Calculation:
    """Parameters of a Dense layer on a flattened H×W×C image against a K×K convolution with `filters`
    outputs (lecture 1: 640×480×3 → 1000 units = 921,601,000 parameters)."""
    height, width = _need("height", height, 1, 4096), _need("width", width, 1, 4096)
    channels, units = _need("number of channels", channels, 1, 64), _need("number of units", units, 1, 4096)
    kernel, filters = _need("kernel size", kernel, 1, 11), _need("number of filters", filters, 1, 4096)
    dense = _meta(lambda: nn.Sequential(nn.Flatten(), nn.Linear(height * width * channels, units)))
    conv = _meta(lambda: nn.Conv2d(channels, filters, kernel, padding=kernel // 2))
    pd_, pc = _meta_profile(dense, (channels, height, width)), _meta_profile(conv, (channels, height, width))
    return Calculation("parameters", [
        {"part": f"Dense {height}×{width}×{channels} → {units}",
         "formula": f"{height} × {width} × {channels} × {units} + {units}",
         "by formula": height * width * channels * units + units, "live": pd_.params, "live MACs": pd_.macs},
        {"part": f"Conv2d {kernel}×{kernel}, {channels} → {filters} channels",
         "formula": f"({kernel} × {kernel} × {channels} + 1) × {filters}",
         "by formula": (kernel * kernel * channels + 1) * filters, "live": pc.params, "live MACs": pc.macs},
    ])


ALEXNET_CONV1_LECTURE = {"params": 34_944, "output": (55, 55, 96), "dense params": 43.7e9}


def alexnet_conv1(size: int = 227, channels: int = 3, filters: int = 96, kernel: int = 11, stride: int = 4,
                  padding: int = 0) -> Calculation:
    """AlexNet's first layer (lectures 1-2: 96 filters of 11×11×3 at stride 4, 55×55×96, 34,944 parameters)
    against the dense layer that maps the same size×size×channels input to the same output.

    Rows: the convolution and the dense layer, each with output shape, parameters (biases included)
    and MACs by formula and counted live on meta-device modules.
    """
    size, channels = _need("input size", size, 1, 1024), _need("number of channels", channels, 1, 64)
    filters, kernel = _need("number of filters", filters, 1, 4096), _need("kernel size", kernel, 1, 31)
    stride, padding = _need("stride", stride, 1, 16), _need("padding", padding, 0, 16)
    o = output_size(size, kernel, stride, padding)
    n_in, n_out = size * size * channels, o * o * filters
    conv = _meta(lambda: nn.Conv2d(channels, filters, kernel, stride, padding))
    dense = _meta(lambda: nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out)))
    pc, pd_ = _meta_profile(conv, (channels, size, size)), _meta_profile(dense, (channels, size, size))
    out = f"{o} × {o} × {filters}"
    return Calculation("parameters", [
        {"part": f"Conv2d, {filters} × {kernel}×{kernel}×{channels}, S {stride}, P {padding}",
         "output": out, "formula": f"({kernel}·{kernel}·{channels} + 1) · {filters}",
         "by formula": (kernel * kernel * channels + 1) * filters, "live": pc.params,
         "MACs formula": f"{o}·{o}·{filters} · {kernel}·{kernel}·{channels}",
         "MACs by formula": n_out * kernel * kernel * channels, "live MACs": pc.macs},
        {"part": f"Dense, {n_in:,} → {n_out:,}", "output": out,
         "formula": f"{n_in:,} · {n_out:,} + {n_out:,}", "by formula": n_in * n_out + n_out, "live": pd_.params,
         "MACs formula": f"{n_in:,} · {n_out:,}", "MACs by formula": n_in * n_out, "live MACs": pd_.macs},
    ])


def alexnet_lecture_dense() -> Calculation:
    """The numbers behind the lecture's "Equivalent MLP parameters: 43.7 × 1e9" for AlexNet's conv1, at 224
    and 227 px: the conv's output side, and the dense layer to that output (biases included), then the
    lecture's own product (224·224·3 inputs × 55·55·96 outputs, weights only)."""
    rows = []
    for size in (227, 224):
        conv, dense = alexnet_conv1(size).rows
        rows.append({"input": f"{size} × {size} × 3", "conv output": conv["output"],
                     "dense layer": "to the conv's output, with biases", "dense parameters": dense["live"]})
    rows.append({"input": "224 × 224 × 3 (lecture)", "conv output": "55 × 55 × 96 (lecture)",
                 "dense layer": "weights only (the lecture's 43.7 × 1e9)",
                 "dense parameters": 224 * 224 * 3 * 55 * 55 * 96})
    return Calculation("parameters", rows)


def alexnet_dense_note() -> str:
    """One paragraph: where the lecture's 43.7e9 comes from and what 224 and 227 px give."""
    at227, at224, lecture = (r["dense parameters"] for r in alexnet_lecture_dense().rows)
    return (f"**The lecture's figures.** A 55 × 55 × 96 output needs a **227 px** input: (227 − 11)/4 + 1 = "
            f"{output_size(227, 11, 4)}, while 224 px gives ⌊(224 − 11)/4⌋ + 1 = {output_size(224, 11, 4)}. The "
            f"34,944 parameters, (11·11·3 + 1)·96, do not depend on the input size. The lecture's \"43.7 × 1e9\" is "
            f"224·224·3 × 55·55·96 = {lecture:,} weights: the 224 px input with the 227 px input's output, and no "
            f"biases. The dense layer from 227 × 227 × 3 to 55 × 55 × 96 has {at227:,} parameters "
            f"({at227 / 1e9:.1f} × 1e9); from 224 px to its own 54 × 54 × 96 output, {at224:,} ({at224 / 1e9:.1f} × 1e9).")


DENSE_IMAGE_LECTURE = {"height": 200, "width": 200, "channels": 1, "units": 40_000, "params": 2e9}


def dense_on_image(height: int = 200, width: int = 200, channels: int = 1, units: int = 40_000) -> Calculation:
    """Parameters of one dense layer from a height×width×channels image to `units` hidden units
    (lecture 3: "200x200 image, 40K hidden units, ~2B parameters"): weights, biases, total, counted
    live on a meta-device nn.Linear."""
    height, width = _need("height", height, 1, 4096), _need("width", width, 1, 4096)
    channels, units = _need("number of channels", channels, 1, 64), _need("number of hidden units", units, 1, 100_000)
    n_in = height * width * channels
    layer = _meta(lambda: nn.Linear(n_in, units))
    live = _meta_profile(nn.Sequential(nn.Flatten(), layer), (channels, height, width))
    return Calculation("parameters", [
        {"part": "weights", "formula": f"{height}·{width}·{channels} · {units:,}", "by formula": n_in * units,
         "live": layer.weight.numel()},
        {"part": "biases", "formula": f"{units:,}", "by formula": units, "live": layer.bias.numel()},
        {"part": "total", "formula": f"{n_in:,} · {units:,} + {units:,}", "by formula": n_in * units + units,
         "live": live.params},
    ])


def lecture_mlp() -> nn.Sequential:
    """Lecture 1's Keras MLP on 28×28×1 in PyTorch: Flatten, Dense(256, relu), Dense(10, softmax)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU(), nn.Linear(256, 10), nn.Softmax(dim=1))


def lecture_cnn() -> nn.Sequential:
    """Lecture 1's Keras convnet on 28×28×1 in PyTorch: Conv2D(32, 5) relu, MaxPool2D(2, 2), Conv2D(64, 3)
    relu, MaxPool2D(2, 2), Flatten, Dense(256, relu), Dense(10, softmax). Keras's default is 'valid'
    padding, so 28 → 24 → 12 → 10 → 5."""
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(64 * 5 * 5, 256), nn.ReLU(),
                         nn.Linear(256, 10), nn.Softmax(dim=1))


def mlp_vs_cnn() -> tuple[Profile, Profile]:
    """Profiles of the lecture's MLP and CNN on one 28×28 grayscale image."""
    return (_meta_profile(_meta(lecture_mlp), (1, 28, 28)), _meta_profile(_meta(lecture_cnn), (1, 28, 28)))


def one_5x5_vs_two_3x3(channels: int = 64, size: int = 56) -> Calculation:
    """One 5×5 convolution against two stacked 3×3 ones (same 5×5 receptive field), C → C channels,
    without bias, at size×size."""
    c, size = _need("number of channels C", channels, 1, 1024), _need("feature map size", size, 1, 512)
    one = _meta(lambda: nn.Conv2d(c, c, 5, padding=2, bias=False))
    two = _meta(lambda: nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, padding=1, bias=False)))
    p1, p2 = _meta_profile(one, (c, size, size)), _meta_profile(two, (c, size, size))
    return Calculation("parameters", [
        {"part": "one 5×5 conv", "formula": f"5 × 5 × {c} × {c}", "by formula": 25 * c * c, "live": p1.params,
         "MACs formula": f"{size}² × 25 × {c}²", "MACs by formula": size * size * 25 * c * c, "live MACs": p1.macs},
        {"part": "two 3×3 convs", "formula": f"2 × 3 × 3 × {c} × {c}", "by formula": 18 * c * c, "live": p2.params,
         "MACs formula": f"2 × {size}² × 9 × {c}²", "MACs by formula": 2 * size * size * 9 * c * c,
         "live MACs": p2.macs},
    ])


class InceptionModule(nn.Module):
    """An Inception module with branches 1×1, 3×3, 5×5 and 3×3 max-pool, concatenated on channels.

    With `reduce=None` it is the lecture's naive module; with `reduce=(r3, r5, pool_proj)` 1×1
    bottlenecks of r3 and r5 channels precede the 3×3 and 5×5 convs and a 1×1 conv of pool_proj
    channels follows the pooling. Convolutions have no bias (the lecture counts multiply-adds only).
    """

    def __init__(self, in_ch: int = 256, c1: int = 128, c3: int = 192, c5: int = 96,
                 reduce: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        r3, r5, pp = reduce or (None, None, None)
        conv = lambda i, o, k: nn.Conv2d(i, o, k, padding=k // 2, bias=False)  # noqa: E731
        self.branch1 = conv(in_ch, c1, 1)
        self.branch3 = nn.Sequential(conv(in_ch, r3, 1), conv(r3, c3, 3)) if r3 else conv(in_ch, c3, 3)
        self.branch5 = nn.Sequential(conv(in_ch, r5, 1), conv(r5, c5, 5)) if r5 else conv(in_ch, c5, 5)
        pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.branch_pool = nn.Sequential(pool, conv(in_ch, pp, 1)) if pp else pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


# The lecture's per-branch terms (28×28×256 input) and its totals.
INCEPTION_NAIVE_LECTURE = {"branch1": "28×28×128×1×1×256", "branch3": "28×28×192×3×3×256",
                           "branch5": "28×28×96×5×5×256", "branch_pool": "(pooling: no multiply-adds)"}
INCEPTION_REDUCED_LECTURE = {"branch3.0": "28×28×64×1×1×256", "branch5.0": "28×28×64×1×1×256",
                             "branch1": "28×28×128×1×1×256", "branch3.1": "28×28×192×3×3×64",
                             "branch5.1": "28×28×96×5×5×64", "branch_pool.1": "28×28×64×1×1×256"}
INCEPTION_LECTURE_TOTALS = {"naive": 854_000_000, "bottleneck": 358_000_000}


def _term(expr: str) -> int:
    value = 1
    for factor in expr.split("×"):
        value *= int(factor)
    return value


def inception(size: int = 28, in_ch: int = 256) -> dict[str, object]:
    """Naive against bottleneck Inception at size×size×in_ch: every branch's MACs live and by the lecture.

    Returns:
        {"naive": Calculation, "bottleneck": Calculation, "naive total", "bottleneck total" (live MACs),
         "lecture naive", "lecture bottleneck", "naive out channels", "bottleneck out channels"}.
    """
    result: dict[str, object] = {}
    for kind, reduce, terms in [("naive", None, INCEPTION_NAIVE_LECTURE),
                                ("bottleneck", (64, 64, 64), INCEPTION_REDUCED_LECTURE)]:
        module = _meta(lambda: InceptionModule(in_ch, reduce=reduce))
        prof = _meta_profile(module, (in_ch, size, size))
        rows = []
        for r in prof.layers:
            if r.type != "Conv2d" and r.name not in terms:
                continue
            expr = terms.get(r.name, "")
            lecture = _term(expr) if expr and size == 28 and in_ch == 256 and expr[0].isdigit() else None
            rows.append({"part": r.name, "type": r.type, "output": " × ".join(map(str, r.output_shape[1:])),
                         "lecture term": expr, "by formula": lecture if lecture is not None else (0 if r.macs == 0
                         else None), "live": r.macs})
        result[kind] = Calculation("MACs", rows)
        result[f"{kind} total"] = prof.macs
        result[f"{kind} out channels"] = prof.output_shape[1]
        result[f"{kind} params"] = prof.params
    result["lecture naive"] = INCEPTION_LECTURE_TOTALS["naive"]
    result["lecture bottleneck"] = INCEPTION_LECTURE_TOTALS["bottleneck"]
    return result


INCEPTION_NOTE = ("The naive module's terms add up to the lecture's 854 M. The bottleneck module's six listed terms "
                  "add up to 271 M, not 358 M: the slide's total equals that sum plus the 3×3 term (86.7 M) a second "
                  "time, so it is an arithmetic slip, and the saving is 3.1×, not 2.4×.")


def conv5_vs_inception_branch(channels: int = 256, reduce: int = 64, out: int = 64) -> Calculation:
    """Parameters (no bias) of a 5×5 conv C → C against an Inception branch: 1×1 C → r, then 5×5 r → out
    (lecture 4: 256×5×5×256 = 1.6 M against 256×64 + 64×5×5×64 = 120 k)."""
    full = _meta(lambda: nn.Conv2d(channels, channels, 5, padding=2, bias=False))
    branch = _meta(lambda: nn.Sequential(nn.Conv2d(channels, reduce, 1, bias=False),
                                         nn.Conv2d(reduce, out, 5, padding=2, bias=False)))
    return Calculation("parameters", [
        {"part": "standard 5×5 conv", "formula": f"{channels} × 5 × 5 × {channels}",
         "by formula": channels * 25 * channels, "live": _meta_profile(full, (channels, 28, 28)).params},
        {"part": "Inception branch", "formula": f"{channels} × {reduce} + {reduce} × 5 × 5 × {out}",
         "by formula": channels * reduce + reduce * 25 * out,
         "live": _meta_profile(branch, (channels, 28, 28)).params},
    ])


def regular_vs_depthwise(m: int = 4, n: int = 2, k: int = 3, size: int = 14) -> Calculation:
    """Regular K×K conv M → N against depthwise (K×K, groups=M) + pointwise (1×1, M → N), no bias
    (lecture 4: M=4, N=2, K=3 gives 72 against 44; M=N=512 gives 2.4 M against 267 k). MACs at size×size
    with 'same' padding."""
    m, n = _need("number of input channels M", m, 1, 2048), _need("number of output channels N", n, 1, 2048)
    k, size = _need("kernel size K", k, 1, 11), _need("feature map size", size, 1, 512)
    regular = _meta(lambda: nn.Conv2d(m, n, k, padding=k // 2, bias=False))
    separable = _meta(lambda: nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),
                                            nn.Conv2d(m, n, 1, bias=False)))
    pr, ps = _meta_profile(regular, (m, size, size)), _meta_profile(separable, (m, size, size))
    return Calculation("parameters", [
        {"part": "regular conv", "formula": f"{m} · {k} · {k} · {n}", "by formula": m * k * k * n, "live": pr.params,
         "MACs formula": f"{size}² · {m} · {k}² · {n}", "MACs by formula": size * size * m * k * k * n,
         "live MACs": pr.macs},
        {"part": "depthwise separable", "formula": f"{m} · {k} · {k} + {m} · {n}", "by formula": m * k * k + m * n,
         "live": ps.params, "MACs formula": f"{size}² · ({m} · {k}² + {m} · {n})",
         "MACs by formula": size * size * (m * k * k + m * n), "live MACs": ps.macs},
    ])


def basic_vs_bottleneck(width: int = 64, size: int = 56) -> Calculation:
    """torchvision's ResNet BasicBlock on `width` channels against its Bottleneck block that takes and
    returns 4×width channels with a width-channel 3×3 core (ResNet-50's layer1 at width 64, 56×56).
    Parameters include batch norm; MACs count the convolutions."""
    w, size = _need("width C", width, 1, 1024), _need("feature map size", size, 1, 512)
    basic = _meta(lambda: BasicBlock(w, w))
    bottle = _meta(lambda: Bottleneck(4 * w, w))
    pb, pn = _meta_profile(basic, (w, size, size)), _meta_profile(bottle, (4 * w, size, size))
    return Calculation("parameters", [
        {"part": f"basic block ({w} ch): 3×3, 3×3", "formula": f"2 × 3 × 3 × {w}² + BN 4 × {w}",
         "by formula": 2 * 9 * w * w + 4 * w, "live": pb.params,
         "MACs formula": f"{size}² × 2 × 9 × {w}²", "MACs by formula": size * size * 18 * w * w, "live MACs": pb.macs},
        {"part": f"bottleneck ({4 * w} ch): 1×1, 3×3, 1×1",
         "formula": f"{4 * w}·{w} + 9·{w}² + {w}·{4 * w} + BN 2·(2·{w} + {4 * w})",
         "by formula": 4 * w * w + 9 * w * w + 4 * w * w + 2 * (2 * w + 4 * w), "live": pn.params,
         "MACs formula": f"{size}² × 17 × {w}²", "MACs by formula": size * size * 17 * w * w, "live MACs": pn.macs},
    ])
