"""What is worth knowing about particular networks' receptive fields, computed live.

Each note compares the zoo's network with the paper or a published table, and the number that
explains the difference is computed here, on a copy of the architecture built on the meta device
and changed the way the paper has it (no weights, nothing run):
- EfficientNet-Lite: TensorFlow's "same" padding puts the odd pixel at the bottom and right, so
  the fields sit off-centre, by an amount that depends on the input size.
- GoogLeNet: torchvision's Inception modules use a 3×3 convolution where the paper has a 5×5.
- Bottleneck ResNets: torchvision's are "v1.5" (stride in the 3×3 convolution); TF-Slim's table
  (google-research/receptive_field) is for v1 (stride in the first 1×1).
- Squeeze-and-excitation (MobileNet v3, EfficientNet-B0): every later unit sees the whole image.
- AlexNet, VGG and Inception v3 match the published end points.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from explorer.receptive_fields import fields as rf
from explorer.models.efficientnet_lite import SamePad2d
from explorer.models import registry

#: Published end-point fields where torchvision's network matches the paper's (TF-Slim models, in
#: google-research/receptive_field's RECEPTIVE_FIELD_TABLE.md; Araujo et al., Distill 2019):
#: zoo name -> (layer, px, name in the table).
PUBLISHED: dict[str, tuple[str, int, str]] = {
    "alexnet": ("features.12", 195, "alexnet_v2/pool5"),
    "vgg11": ("features.20", 150, "vgg_a/pool5"),
    "vgg16": ("features.30", 212, "vgg_16/pool5"),
    "inception_v3": ("Mixed_7c", 1311, "inception_v3/Mixed_7c"),
}

#: TF-Slim's ResNet v1 end points (block4), for torchvision's v1.5 bottleneck ResNets: name -> px.
RESNET_V1: dict[str, int] = {"resnet50": 483, "resnet101": 1027, "resnet152": 1507}


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return registry.build(name)


def _last(fields: list[rf.LayerRF]) -> rf.LayerRF:
    """The last layer before any global pooling (the end point papers tabulate)."""
    return [f for f in fields if f.output_size != (1, 1)][-1]


def variant_field(name: str, change: Callable[[nn.Module], None], size: int) -> rf.LayerRF:
    """The last layer's field (before any global pooling) of zoo model `name` at `size` px, after `change`
    (e.g. `resnet_v1`) has altered a fresh meta-device copy of it."""
    model = _meta(name)
    change(model)
    return _last(rf.receptive_fields(model, size))


def symmetric_padding(model: nn.Module) -> None:
    """EfficientNet-Lite with PyTorch's padding = k // 2 instead of TF's "same" (in place, on a private copy)."""
    for block in model.modules():
        if isinstance(getattr(block, "pad", None), SamePad2d):
            block.conv.padding = (block.conv.kernel_size[0] // 2, block.conv.kernel_size[1] // 2)
            block.pad = nn.Identity()


def paper_googlenet(model: nn.Module) -> None:
    """torchvision's GoogLeNet with the paper's 5×5 convolution in each Inception module's third branch."""
    for module in model.modules():
        if hasattr(module, "branch3"):
            conv = module.branch3[1].conv
            conv.kernel_size, conv.padding = (5, 5), (2, 2)


def resnet_v1(model: nn.Module) -> None:
    """A v1.5 bottleneck ResNet turned into v1: each downsampling block strides in its first 1×1 convolution."""
    for module in model.modules():
        if hasattr(module, "conv3") and module.conv2.stride != (1, 1):
            module.conv1.stride, module.conv2.stride = module.conv2.stride, (1, 1)


def lite_offset(name: str, size: int) -> tuple[str, float, float]:
    """(layer, shift at `size`, shift at `size` + 1): how far (px, down and right) TF's "same" padding moves the
    fields of the last block compared with symmetric padding."""
    shifts = []
    for n in (size, size + 1):
        same = _last(rf.receptive_fields(_meta(name), n))
        shifts.append(same.start[0] - variant_field(name, symmetric_padding, n).start[0])
    return _last(rf.receptive_fields(_meta(name), size)).name, shifts[0], shifts[1]


def notes(name: str, fields: list[rf.LayerRF]) -> list[str]:
    """Sentences for the page about `name`'s fields (`fields` = receptive_fields at the size shown)."""
    size = fields[0].input_size[0]
    last = _last(fields)
    out = []
    by_name = {f.name: f for f in fields}
    if name in PUBLISHED:
        layer, px, where = PUBLISHED[name]
        got = by_name[layer].size[0]
        verdict = "as published" if got == px else f"where the published table says {px} px"
        out.append(f"{layer} sees {got} px, {verdict} ({where} in TF-Slim's table, Araujo et al. 2019).")
    if name == "vgg16":
        out.append(f"The published 212 px is at pool5 (features.30); the last convolution, conv5_3 (features.28), "
                   f"sees {by_name['features.28'].size[0]} px.")
    if name.startswith("efficientnet_lite"):
        layer, shift, shift_next = lite_offset(name, size)
        out.append(f"TensorFlow's \"same\" padding, which these weights were trained with, puts the odd padding pixel "
                   f"at the bottom and right only. At {size} px every field of {layer} therefore sits {shift:g} px "
                   f"lower and further right than with PyTorch's symmetric padding; at {size + 1} px the shift is "
                   f"{shift_next:g} px: it depends on the input size.")
    if name == "googlenet":
        paper = variant_field(name, paper_googlenet, size)
        out.append(f"torchvision's GoogLeNet uses a 3×3 convolution where the paper's Inception module has a 5×5 "
                   f"(the third branch), so its last block, {last.name}, sees {last.size[0]} px; with the paper's "
                   f"5×5 it would see {paper.size[0]} px.")
    if name in RESNET_V1 or name == "resnext50_32x4d":
        v1 = variant_field(name, resnet_v1, size)
        published = f" TF-Slim's table gives {RESNET_V1[name]} px for v1." if name in RESNET_V1 else ""
        out.append(f"torchvision's {registry.info(name).title} is ResNet \"v1.5\": a downsampling block strides in its 3×3 "
                   f"convolution, so {last.name} sees {last.size[0]} px. In ResNet v1 the stride sits in the first 1×1 "
                   f"convolution; moved there, {last.name} would see {v1.size[0]} px.{published}")
    first_global = next((f for f in fields if f.global_context and f.output_size != (1, 1)), None)
    if first_global is not None:
        out.append(f"Squeeze-and-excitation: from {first_global.name} on, each block scales its channels by weights "
                   "computed from the average of the whole map, so every unit sees the whole image (global context). "
                   "The sizes shown are those of the convolutional path, which is what the literature tabulates.")
    return out
