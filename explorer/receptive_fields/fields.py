"""Receptive fields: how far each unit of a CNN sees, exactly.

Lecture 3: "each successive convolution adds K − 1 to the receptive field size; with L layers it
is 1 + L·(K − 1)", and striding lets later layers see the whole image sooner.

- `receptive_fields(model, input_size)` reads the model's graph (torch.fx, `explorer.receptive_fields.graph`)
  and gives every conv layer, pooling layer, block and stage its field: size, jump (product of
  strides), the position of unit (0, 0) and whether a global pooling reaches it. Branches take the
  union over paths (Araujo et al., Distill 2019). Nothing is run, so it takes milliseconds.
- `unit_box(rf, row, col)` is the input box one unit sees, before clipping to the image.
- How far a unit effectively looks is `explorer.receptive_fields.effective`.

Coordinates: pixel centres at integers, row 0 at the top. A box that starts below 0 or ends at
or after the image side reaches into the zero padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from explorer.models import custom_net, layers, registry
from explorer.receptive_fields import graph as rf_graph
from explorer.receptive_fields.geometry import Axis
from explorer.receptive_fields.ops import Feature, InputTooSmallError

#: Largest input side the "too small" search tries, in pixels.
MAX_SEARCH_SIDE = 4096


@dataclass(frozen=True)
class LayerRF:
    """The receptive field of one layer's units.

    Attributes:
        name: module path, as in `model.named_modules()` ("features.3.1").
        kind: "conv", "pool", "block" or "stage" (blocks and stages as `explorer.filters.feature_maps` names them).
        module_type: class name ("Conv2d", "MBConv", ...).
        depth: convolutions on the longest path from the input to this layer (ResNet-50 ends at 49).
        output_size: (rows, cols) of the layer's map.
        input_size: (rows, cols) of the input the fields were computed for.
        rows, cols: the exact field along each axis (`explorer.receptive_fields.geometry.Axis`).
        global_context: True when a global pooling path (squeeze-and-excitation, a global mean)
            lets every input pixel reach the units; `size` is then that of the convolutional path.
        misaligned: reports of branches whose field centres disagree (their union is used).
    """

    name: str
    kind: str
    module_type: str
    depth: int
    output_size: tuple[int, int]
    input_size: tuple[int, int]
    rows: Axis
    cols: Axis
    global_context: bool = False
    misaligned: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """Field size (rows, cols) in input pixels."""
        return self.rows.size, self.cols.size

    @property
    def jump(self) -> tuple[float, float]:
        """Input pixels between neighbouring units (rows, cols): the product of the strides so far."""
        return self.rows.jump, self.cols.jump

    @property
    def start(self) -> tuple[float, float]:
        """Input coordinate (row, col) of the centre of unit (0, 0)'s field."""
        return self.rows.start, self.cols.start

    @property
    def offset(self) -> tuple[float, float]:
        """How far (rows, cols) the centre of the grid of unit centres lies from the image centre, in
        pixels (positive: towards the bottom right). 0 for symmetric padding."""
        return tuple(axis.start + (n - 1) * axis.jump / 2 - (side - 1) / 2
                     for axis, n, side in zip((self.rows, self.cols), self.output_size, self.input_size))

    @property
    def label(self) -> str:
        """"features.3 · stage · 28×28 · field 35×35 px": how lists show the layer."""
        (h, w), (r, c) = self.output_size, self.size
        field = f"{r} px" if r == c else f"{r}×{c} px"
        return f"{self.name} · {self.kind} · {h}×{w} · field {field}"


def _pair_size(input_size: int | tuple[int, int]) -> tuple[int, int]:
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"The input size must be a positive side or (rows, cols), not {input_size!r}.")
    return int(size[0]), int(size[1])


def _smallest_side(traced: rf_graph.Traced) -> int | None:
    """The smallest square input side at which every layer has a non-empty map (binary search)."""
    def fits(n: int) -> bool:
        try:
            rf_graph.propagate(traced, (n, n))
        except InputTooSmallError:
            return False
        return True

    if not fits(MAX_SEARCH_SIDE):
        return None
    lo, hi = 1, MAX_SEARCH_SIDE
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo


def smallest_input(model: nn.Module) -> int | None:
    """The smallest square input side (px) for which every layer of `model` has a non-empty map, or None.

    Raises ValueError (naming the module) when the model cannot be analysed at all.
    """
    return _smallest_side(rf_graph.trace(model))


def _layers(model: nn.Module) -> dict[str, str]:
    """name -> kind: `layers.layer_kinds`, the pooling layers among the stages (or the model's children), and
    transposed convolutions."""
    kinds = layers.layer_kinds(model)
    trunk = layers.trunk_name(model)
    for name, module in model.named_modules():
        parent = name.rpartition(".")[0]
        if isinstance(module, rf_graph.POOL_TYPES) and parent in {"", trunk}:
            kinds.setdefault(name, "pool")
        elif isinstance(module, nn.ConvTranspose2d):
            kinds.setdefault(name, "conv")
    return kinds


def receptive_fields(model: nn.Module, input_size: int | tuple[int, int]) -> list[LayerRF]:
    """The receptive field of every conv layer, pooling layer, block and stage, in network order.

    Args:
        model: any PyTorch CNN, in the mode to analyse (eval for the zoo). It is traced, never run
            or modified, so a model on the meta device works as well as a trained one.
        input_size: input side in pixels, or (rows, cols).

    Returns:
        One `LayerRF` per layer that `explorer.filters.feature_maps.layer_kinds` offers (conv layers, blocks,
        stages) plus the pooling layers among the stages, in the order their outputs are computed.

    Raises:
        ValueError: the model cannot be traced or uses an operation this analysis cannot follow (the
            message names the module), or the input is too small (the message gives the smallest side).
    """
    rows, cols = _pair_size(input_size)
    traced = rf_graph.trace(model)
    try:
        env = rf_graph.propagate(traced, (rows, cols))
    except InputTooSmallError as exc:
        smallest = _smallest_side(traced)
        fix = f"use at least {smallest}×{smallest} px" if smallest else "this network never produces a map"
        raise ValueError(f"A {rows}×{cols} px input is too small for this network: {exc.where} would "
                         f"produce an empty map; {fix}.") from None
    order = {node: i for i, node in enumerate(traced.graph.nodes)}
    found = []
    for name, kind in _layers(model).items():
        node = traced.outputs.get(name)
        value = env.get(node)
        if isinstance(value, Feature) and value.rows is not None and value.ndim == 4 and value.dims == (2, 3):
            found.append((order[node], -name.count("."), name, kind, value))
    found.sort(key=lambda item: item[:2])  # same output node: the inner module finishes first
    return [LayerRF(name, kind, type(model.get_submodule(name)).__name__, v.depth, v.size, (rows, cols), v.rows,
                    v.cols, v.global_context, v.misaligned) for _, _, name, kind, v in found]



def meta_architecture(name: str | None, custom: str | None = None) -> nn.Module:
    """A registry architecture `name`, or the custom network `custom` (its `custom_net.to_config` text), built on
    the meta device: shapes only, no weights."""
    with torch.device("meta"):
        if custom is not None:
            spec, shape = custom_net.from_config(custom)
            return custom_net.build(spec, shape).eval()
        return registry.build(name)


def architecture_fields(name: str | None, input_size: tuple[int, int], custom: str | None = None) -> list[LayerRF]:
    """`receptive_fields` of `meta_architecture(name, custom)`: a plain call for a helper process (tracing is
    Python from end to end, explorer.runtime.side_process)."""
    return receptive_fields(meta_architecture(name, custom), input_size)


def find(fields: list[LayerRF], name: str) -> LayerRF:
    """The entry of `fields` for layer `name`; ValueError listing a few valid names otherwise."""
    for rf in fields:
        if rf.name == name:
            return rf
    names = ", ".join(rf.name for rf in fields[:5])
    raise ValueError(f"No layer {name!r} in this network; choose one of {names}, … (see receptive_fields()).")


def unit_box(rf: LayerRF, row: int, col: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right): the inclusive input pixels unit (row, col) of the layer sees, before clipping.

    Rows or columns below 0 or past the image side are zero padding. Inside the image the box is exact
    (the support of the unit's input gradient, tests/rf_oracle.py); for a box that reaches past an image
    edge, the part inside the image is an upper bound there: the last rows or columns that a strided layer
    skips (an input side that its stride does not divide) are not seen either.

    Raises:
        ValueError: the unit lies outside the layer's map.
    """
    h, w = rf.output_size
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"Unit (row {row}, col {col}) is outside {rf.name}'s {h}×{w} map: pick a row from 0 to "
                         f"{h - 1} and a column from 0 to {w - 1}.")
    (top, bottom), (left, right) = rf.rows.bounds(row), rf.cols.bounds(col)
    return top, left, bottom, right


def padding_share(box: tuple[int, int, int, int], input_size: tuple[int, int]) -> float:
    """Fraction of the box's area that lies outside the image (in the padding), 0 … 1."""
    top, left, bottom, right = box
    inside = (max(0, min(bottom, input_size[0] - 1) - max(top, 0) + 1)
              * max(0, min(right, input_size[1] - 1) - max(left, 0) + 1))
    return 1 - inside / ((bottom - top + 1) * (right - left + 1))


def nearest_unit(rf: LayerRF, point: tuple[float, float]) -> tuple[int, int]:
    """The unit (row, col) of the layer whose field centre is nearest to input pixel `point` = (row, col)."""
    unit = []
    for axis, n, p in zip((rf.rows, rf.cols), rf.output_size, point):
        unit.append(min(range(n), key=lambda u: abs(axis.centre(u) - p)))
    return unit[0], unit[1]


def default_layer(fields: list[LayerRF]) -> str:
    """The layer shown first: a stage a third of the way in (as on the feature-maps page), else the layer a
    third of the way down the list."""
    stages = [f.name for f in fields if f.kind == "stage"]
    return stages[len(stages) // 3] if stages else fields[len(fields) // 3].name


def first_full_view(fields: list[LayerRF]) -> LayerRF | None:
    """The first layer whose field is at least as large as the input along both axes, or None.

    Global poolings (a 1×1 map from a larger one) are not counted: they see everything by construction.
    """
    return next((rf for rf in fields if rf.size[0] >= rf.input_size[0] and rf.size[1] >= rf.input_size[1]
                 and (rf.output_size != (1, 1) or rf.input_size == (1, 1))), None)
