"""Build-your-own network: a plain list of layer specs -> shapes, an `nn.Module`, and PyTorch code.

A spec is a list of dicts such as `{"layer": "Conv2d", "size": 32, "kernel": 5, "stride": 1, "padding": 0}`
(JSON-friendly, so it can live in `st.session_state["custom_network"]` and, through `to_text`, in the URL).
Input channels and features are inferred from the previous layer, as Keras does, so only the output
size of each layer is given. Fields per layer type are in `FIELDS`; missing fields take `DEFAULTS`.

`build(spec, input_shape)` returns an `nn.Sequential` (the Transfer-learning page can train it);
`shapes(spec, input_shape)` gives every layer's output shape (C, H, W) or (F,), without the batch;
a layer that cannot take its input raises `LayerShapeError` naming the layer and both shapes.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from explorer.models import budget
from explorer.randomness import GLOBAL_LOCK

#: Layer type -> the spec fields it uses, in the order `to_text` writes them.
FIELDS: dict[str, tuple[str, ...]] = {
    "Conv2d": ("size", "kernel", "stride", "padding"), "MaxPool2d": ("kernel", "stride", "padding"),
    "AvgPool2d": ("kernel", "stride", "padding"), "BatchNorm": (), "ReLU": (), "LeakyReLU": (), "GELU": (),
    "Sigmoid": (), "Tanh": (), "Dropout": ("p",), "Flatten": (), "Linear": ("size",), "GlobalAvgPool": (),
    "Residual": ("size", "stride"),
}
LAYER_TYPES = list(FIELDS)
DEFAULTS = {"size": 16, "kernel": 3, "stride": 1, "padding": 0, "p": 0.5}
#: Largest value of each whole-number field: torch overflows long before, and a network from an address may
#: carry any number (`explorer.models.budget` then bounds what the whole network costs).
MAXIMA = {"size": 65_536, "kernel": budget.MAX_INPUT_SIDE, "stride": budget.MAX_INPUT_SIDE,
          "padding": budget.MAX_INPUT_SIDE}
_SPATIAL = {"Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool", "Residual"}

#: The lecture's convnet for 28×28 digits (lecture 1), the builder's starting point.
LECTURE_CNN: list[dict] = [
    {"layer": "Conv2d", "size": 32, "kernel": 5, "stride": 1, "padding": 0}, {"layer": "ReLU"},
    {"layer": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0},
    {"layer": "Conv2d", "size": 64, "kernel": 3, "stride": 1, "padding": 0}, {"layer": "ReLU"},
    {"layer": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0}, {"layer": "Flatten"},
    {"layer": "Linear", "size": 256}, {"layer": "ReLU"}, {"layer": "Linear", "size": 10},
]


class LayerShapeError(ValueError):
    """A layer of the spec cannot take the shape it receives (or has an invalid setting)."""


class ResidualBlock(nn.Module):
    """ResNet's basic block: 3×3 conv-BN-ReLU, 3×3 conv-BN, plus the input (through a 1×1 conv-BN when the
    channels or the stride change), then ReLU. Output: (out_ch, ceil(H / stride), ceil(W / stride))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
                         if stride != 1 or in_ch != out_ch else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def format_shape(shape: tuple[int, ...]) -> str:
    """(64, 5, 5) -> "(64, 5, 5)"; (1600,) -> "(1600,)", as Python prints shapes."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def describe(index: int, layer: dict) -> str:
    """"layer 3 (Conv2d 64, 3×3, stride 1)": how messages and tables name a layer (1-based)."""
    kind = layer.get("layer")
    v = {f: layer.get(f, DEFAULTS[f]) for f in FIELDS.get(kind, ())}
    detail = {"Conv2d": f" {v.get('size')}, {v.get('kernel')}×{v.get('kernel')}, stride {v.get('stride')}",
              "MaxPool2d": f" {v.get('kernel')}×{v.get('kernel')}, stride {v.get('stride')}",
              "AvgPool2d": f" {v.get('kernel')}×{v.get('kernel')}, stride {v.get('stride')}",
              "Linear": f" → {v.get('size')}", "Dropout": f" p={v.get('p')}",
              "Residual": f" {v.get('size')}, stride {v.get('stride')}"}.get(kind, "")
    return f"layer {index + 1} ({kind}{detail})"


def _values(index: int, layer: dict) -> dict:
    kind = layer.get("layer")
    if kind not in FIELDS:
        raise LayerShapeError(f"Layer {index + 1}: unknown type {kind!r}; choose one of {', '.join(FIELDS)}.")
    v = {}
    for f in FIELDS[kind]:
        raw = layer.get(f)
        v[f] = DEFAULTS[f] if raw is None or (isinstance(raw, float) and math.isnan(raw)) else raw
        if f == "p":
            if not 0 <= float(v[f]) < 1:
                raise LayerShapeError(f"L{describe(index, layer)[1:]}: the dropout probability must be in [0, 1).")
            v[f] = float(v[f])
        else:
            try:
                v[f] = int(v[f])
            except (OverflowError, ValueError):  # inf, or text
                raise LayerShapeError(f"L{describe(index, layer)[1:]}: {f} must be a whole number.") from None
            low = 0 if f == "padding" else 1
            if v[f] < low:
                raise LayerShapeError(f"L{describe(index, layer)[1:]}: {f} must be at least {low}.")
            if v[f] > MAXIMA[f]:
                raise LayerShapeError(f"L{describe(index, layer)[1:]}: {f} must be at most {MAXIMA[f]:,}.")
    if kind == "MaxPool2d" or kind == "AvgPool2d":
        if v["padding"] > v["kernel"] // 2:
            raise LayerShapeError(f"L{describe(index, layer)[1:]}: padding {v['padding']} is more than half the "
                                  f"kernel {v['kernel']}.")
    return v


def _layer(index: int, layer: dict, shape: tuple[int, ...]) -> nn.Module:
    """The module for one spec entry given its input shape (without batch); checks that it fits."""
    kind, v = layer["layer"], _values(index, layer)
    name = "L" + describe(index, layer)[1:]
    if kind in _SPATIAL and len(shape) != 3:
        raise LayerShapeError(f"{name} needs an image-shaped input (C, H, W) but gets {format_shape(shape)}; "
                              "put it before Flatten.")
    if kind == "Linear" and len(shape) != 1:
        raise LayerShapeError(f"{name} needs a flat input (features,) but gets {format_shape(shape)}; add Flatten or "
                              "GlobalAvgPool before it.")
    if kind in {"Conv2d", "MaxPool2d", "AvgPool2d"}:
        k, p = v["kernel"], v["padding"]
        if min(shape[1:]) + 2 * p < k:
            raise LayerShapeError(f"{name} needs at least {k}×{k} pixels (with padding {p}) but gets "
                                  f"{format_shape(shape)}: its output would be empty.")
    if kind == "Conv2d":
        return nn.Conv2d(shape[0], v["size"], v["kernel"], v["stride"], v["padding"])
    if kind == "MaxPool2d":
        return nn.MaxPool2d(v["kernel"], v["stride"], v["padding"])
    if kind == "AvgPool2d":
        return nn.AvgPool2d(v["kernel"], v["stride"], v["padding"])
    if kind == "BatchNorm":
        return nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
    if kind == "Linear":
        return nn.Linear(shape[0], v["size"])
    if kind == "Dropout":
        return nn.Dropout(v["p"])
    if kind == "GlobalAvgPool":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "Residual":
        return ResidualBlock(shape[0], v["size"], v["stride"])
    return {"ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "GELU": nn.GELU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
            "Flatten": nn.Flatten}[kind]()


def _check_input(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise LayerShapeError(f"The input shape must be (C, H, W) or (features,) with positive sizes, "
                              f"not {format_shape(shape)}.")
    return shape


def build_with_shapes(spec: list[dict], input_shape: tuple[int, ...]) -> tuple[nn.Sequential, list[tuple[int, ...]]]:
    """The network on the current default device, and each layer's output shape (without batch).

    Raises:
        LayerShapeError: an empty spec, an invalid setting, or a layer that cannot take its input
            (the message names the layer, e.g. "layer 8 (Linear → 256)", and both shapes).
    """
    if not spec:
        raise LayerShapeError("The network has no layers: add at least one.")
    shape = _check_input(input_shape)
    modules, shapes = [], []
    for i, layer in enumerate(spec):
        with GLOBAL_LOCK:  # initialisation draws from torch's global generator (explorer.randomness)
            module = _layer(i, layer, shape)
        with torch.device("meta"):
            probe = _layer(i, layer, shape).eval()
            out = probe(torch.zeros(2, *shape))  # batch 2 so BatchNorm1d accepts it
        shape = tuple(out.shape[1:])
        modules.append(module)
        shapes.append(shape)
    return nn.Sequential(*modules), shapes


def build(spec: list[dict], input_shape: tuple[int, ...]) -> nn.Sequential:
    """`nn.Sequential` for the spec, freshly initialised on the current device, in train mode."""
    return build_with_shapes(spec, input_shape)[0]


def shapes(spec: list[dict], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Each layer's output shape (without batch), computed on the meta device."""
    with torch.device("meta"):
        return build_with_shapes(spec, input_shape)[1]


def to_text(spec: list[dict]) -> str:
    """A compact, URL-safe form: "Conv2d-32-5-1-0_ReLU_MaxPool2d-2-2-0_..." (fields in `FIELDS` order)."""
    parts = []
    for i, layer in enumerate(spec):
        v = _values(i, layer)
        parts.append("-".join([layer["layer"], *(str(v[f]) for f in FIELDS[layer["layer"]])]))
    return "_".join(parts)


def from_text(text: str) -> list[dict]:
    """Inverse of `to_text`. Raises LayerShapeError for text it cannot read, or for more than
    `budget.MAX_LAYERS` layers (`budget.MAX_TEXT` characters): such text comes from addresses."""
    if len(text) > budget.MAX_TEXT:
        raise LayerShapeError(f"The network is written in {len(text):,} characters; at most "
                              f"{budget.MAX_TEXT:,} are read (about {budget.MAX_LAYERS} layers).")
    parts = [t for t in text.strip().split("_") if t]
    if len(parts) > budget.MAX_LAYERS:
        raise LayerShapeError(f"The network has {len(parts):,} layers; at most {budget.MAX_LAYERS} "
                              "are built here.")
    spec = []
    for i, part in enumerate(parts):
        kind, *values = part.split("-")
        if kind not in FIELDS or len(values) != len(FIELDS[kind]):
            raise LayerShapeError(f"Layer {i + 1} of the network ({part[:40]!r}) is not readable.")
        try:
            layer = {"layer": kind, **{f: float(x) if f == "p" else int(x) for f, x in zip(FIELDS[kind], values)}}
        except ValueError:
            raise LayerShapeError(f"Layer {i + 1} of the network ({part[:40]!r}) is not readable.") from None
        _values(i, layer)
        spec.append(layer)
    return spec


def _code(module: nn.Module) -> str:
    if isinstance(module, ResidualBlock):
        stride = module.conv1.stride[0]
        return f"ResidualBlock({module.conv1.in_channels}, {module.conv1.out_channels}, stride={stride})"
    if isinstance(module, nn.Sequential):  # GlobalAvgPool
        return "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())"
    if isinstance(module, nn.Conv2d):
        return (f"nn.Conv2d({module.in_channels}, {module.out_channels}, kernel_size={module.kernel_size[0]}, "
                f"stride={module.stride[0]}, padding={module.padding[0]})")
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"nn.{type(module).__name__}(kernel_size={module.kernel_size}, stride={module.stride}, padding={module.padding})"
    if isinstance(module, nn.Linear):
        return f"nn.Linear({module.in_features}, {module.out_features})"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return f"nn.{type(module).__name__}({module.num_features})"
    if isinstance(module, nn.Dropout):
        return f"nn.Dropout(p={module.p})"
    return f"nn.{type(module).__name__}()"


def to_code(spec: list[dict], input_shape: tuple[int, ...]) -> str:
    """Python source that rebuilds the network with torch.nn (runnable as is)."""
    with torch.device("meta"):
        model, out_shapes = build_with_shapes(spec, input_shape)
    uses_residual = any(isinstance(m, ResidualBlock) for m in model)
    lines = ["import torch", "from torch import nn"]
    if uses_residual:
        lines += ["", "", inspect.getsource(ResidualBlock).rstrip("\n")]  # the exact class the app runs
    lines += ["", "", f"# input: {format_shape(_check_input(input_shape))} per image; a batch is (N, *input)",
              "model = nn.Sequential("]
    for module, shape in zip(model, out_shapes):
        lines.append(f"    {_code(module)},  # -> {format_shape(shape)}")
    lines.append(")")
    return "\n".join(lines) + "\n"


# --- a custom network as a training backbone (explorer.training.trainer, the Transfer-learning page) ---------------

MAX_SIDE = 512  # pixels; larger inputs make CPU training far too slow (parameters: `budget.MAX_PARAMS`)
_FIX = "Change it on the Architectures page."


def to_config(spec: list[dict], input_shape: tuple[int, ...]) -> str:
    """A custom network and its input as one line: "1x28x28:Conv2d-32-5-1-0_ReLU_..." (what `TrainConfig.custom_net` holds).

    Raises:
        ValueError: a layer with an invalid setting (the message names it).
    """
    try:
        return "x".join(str(int(s)) for s in input_shape) + ":" + to_text(spec)
    except LayerShapeError as exc:
        raise ValueError(f"{exc} {_FIX}") from None


def _parse_config(text: str | None) -> tuple[list[dict], tuple[int, ...]]:
    """`to_config`'s text read back, without building anything. Raises ValueError for unreadable text."""
    shape_text, sep, spec_text = (text or "").partition(":")
    if not sep or not spec_text:
        raise ValueError("No custom network, or one with an invalid layer: build or fix it on the Architectures page.")
    try:
        shape = tuple(int(v) for v in shape_text.split("x"))
    except ValueError:
        raise ValueError(f"The custom network's input shape {shape_text[:40]!r} is not readable.") from None
    try:
        return from_text(spec_text), shape
    except LayerShapeError as exc:
        raise ValueError(f"{exc} {_FIX}") from None


def _within_budget(spec: list[dict], shape: tuple[int, ...]) -> None:
    """Build the network on the meta device (nothing is allocated) and check it against `explorer.models.budget`.

    Raises:
        ValueError: a layer that cannot take its input, or a network over the budget (a `budget.BudgetError`).
    """
    try:
        budget.check_input(shape, "The custom network")
        with torch.device("meta"):
            model, _ = build_with_shapes(spec, shape)
        budget.check(budget.footprint(model, _check_input(shape)), "The custom network")
    except LayerShapeError as exc:
        raise ValueError(f"{exc} {_FIX}") from None
    except budget.BudgetError as exc:
        raise budget.BudgetError(f"{exc} {_FIX}") from None


def from_config(text: str | None) -> tuple[list[dict], tuple[int, ...]]:
    """Inverse of `to_config`: (spec, input shape) of a network that builds and fits `explorer.models.budget`
    (checked on the meta device: nothing is allocated). Any network read from text goes through here or
    `check_trainable` before its weights are built.

    Raises:
        ValueError: unreadable text, a layer that cannot take its input, or a network over the budget
            (a `budget.BudgetError`); the message says what to change.
    """
    spec, shape = _parse_config(text)
    _within_budget(spec, shape)
    return spec, shape


def check_trainable(text: str | None) -> tuple[list[dict], tuple[int, int, int]]:
    """The custom network's (spec, (C, H, W)) if it can classify images, else ValueError saying what to change."""
    spec, shape = _parse_config(text)
    if len(shape) != 3:
        raise ValueError(f"The custom network's input is {format_shape(shape)}, not an image (C, H, W): "
                         f"set input channels, height and width. {_FIX}")
    c, h, w = shape
    if c not in (1, 3):
        raise ValueError(f"The custom network takes {c} input channels, but images have 1 (grayscale) or 3 (RGB): "
                         f"set the input channels to 1 or 3. {_FIX}")
    if max(h, w) > MAX_SIDE:
        raise ValueError(f"The custom network's input of {h}×{w} pixels is too large to train here; use at most "
                         f"{MAX_SIDE}×{MAX_SIDE}. {_FIX}")
    if spec[-1]["layer"] != "Linear":
        raise ValueError(f"The custom network ends in {describe(len(spec) - 1, spec[-1])}, not a Linear "
                         f"layer: add a Linear layer at the end (its size becomes the number of classes). {_FIX}")
    _within_budget(spec, shape)  # builds, and within the server's budget (50 M parameters, ...)
    return spec, (c, h, w)
