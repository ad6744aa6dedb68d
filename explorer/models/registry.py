"""The model registry: every network the app shows, with its preprocessing, labels and metadata.

Modelled on torchvision's `models/_api.py`: metadata sits next to each builder, an unknown
name raises `ValueError` listing the valid ones, and the tests loop over `list_models()`.
Building an entry gives the untrained architecture; `explorer.models.zoo.load` adds the weights
(`explorer.models.weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

import torchvision
from torch import nn
from torchvision import transforms as T
from torchvision.models import get_model_weights

from explorer.models import efficientnet_lite
from explorer.randomness import GLOBAL_LOCK
from explorer.models.lenet import LeNet5

#: The model every page starts with.
DEFAULT_MODEL = "efficientnet_lite0"


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    """What the app knows about an architecture before building it.

    Attributes:
        name: registry key, e.g. "resnet18".
        title: display name, e.g. "ResNet-18".
        year: year of the paper.
        summary: one line on what the architecture introduced.
        build: `build(num_classes=...)` returns the untrained architecture.
        input_size: side of the square input crop in pixels.
        resize_size: the shorter image side is resized to this before the centre crop.
        mean, std: per-channel normalisation applied after scaling pixels to [0, 1].
        in_channels: 3 (RGB), or 1 for LeNet-5's grayscale digits.
        interpolation: resize interpolation the weights were evaluated with.
        tv_weights: torchvision's default weights enum entry, the source of `meta`, or None.
        pretrained_source: "efficientnet-lite", "torchvision", or None when no weights exist.
    """

    name: str
    title: str
    year: int
    summary: str
    build: Callable[..., nn.Module] = field(repr=False)
    input_size: int = 224
    resize_size: int = 256
    mean: tuple[float, ...] = _IMAGENET_MEAN
    std: tuple[float, ...] = _IMAGENET_STD
    in_channels: int = 3
    num_classes: int = 1000
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR
    tv_weights: torchvision.models.WeightsEnum | None = field(default=None, repr=False)
    pretrained_source: str | None = None

    @property
    def meta(self) -> dict:
        """torchvision's metadata of the default weights ({} when there is none)."""
        return dict(self.tv_weights.meta) if self.tv_weights is not None else {}

    @property
    def num_params(self) -> int | None:
        """Parameter count from torchvision's metadata, or None."""
        return self.meta.get("num_params")

    @property
    def gmacs(self) -> float | None:
        """Multiply-accumulates in billions at `input_size`, from torchvision's metadata.

        torchvision labels this "GFLOPS", but it counts multiply-adds (FLOPs = 2 x MACs).
        """
        return self.meta.get("_ops")

    @property
    def top1(self) -> float | None:
        """ImageNet-1K top-1 accuracy in percent, from torchvision's metadata, or None."""
        return self.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")

    @property
    def top5(self) -> float | None:
        """ImageNet-1K top-5 accuracy in percent, from torchvision's metadata, or None."""
        return self.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@5")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one preprocessed input."""
        return (self.in_channels, self.input_size, self.input_size)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    """Add an entry to the registry (names are unique)."""
    assert info.name not in _REGISTRY, f"{info.name} registered twice"
    _REGISTRY[info.name] = info
    return info


def list_models() -> list[str]:
    """Registry names in teaching order (LeNet first, then roughly by year)."""
    return list(_REGISTRY)


def info(name: str) -> ModelInfo:
    """The registry entry for `name`; raises ValueError listing the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}. Choose one of: {', '.join(_REGISTRY)}.") from None


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """The untrained architecture in eval mode. Build it under `torch.device("meta")` to skip allocation.

    Its random initialisation draws from torch's global generator, so the build holds
    `randomness.GLOBAL_LOCK` (a training run seeds that generator for its own build).
    """
    entry = info(name)
    with GLOBAL_LOCK:
        model = entry.build(num_classes=num_classes or entry.num_classes)
    return model.eval()


# --- registry ---------------------------------------------------------------------------

register_model(ModelInfo(
    "lenet5", "LeNet-5", 1998, "Convolution, pooling and fully-connected layers for 32x32 handwritten digits.",
    LeNet5, input_size=32, resize_size=32, mean=(0.5,), std=(0.5,), in_channels=1, num_classes=10,
))


def _tv(name: str, title: str, year: int, summary: str, **build_kwargs) -> None:
    """Register a torchvision architecture with the crop, resize and metadata of its default weights."""
    weights = get_model_weights(name).DEFAULT
    preset = weights.transforms()
    register_model(ModelInfo(
        name, title, year, summary,
        build=partial(torchvision.models.get_model, name, weights=None, **build_kwargs),
        input_size=preset.crop_size[0], resize_size=preset.resize_size[0],
        mean=tuple(preset.mean), std=tuple(preset.std), interpolation=preset.interpolation,
        tv_weights=weights, pretrained_source="torchvision",
    ))


_tv("alexnet", "AlexNet", 2012, "ReLU, dropout and GPUs: the ImageNet 2012 winner.")
_tv("vgg11", "VGG-11", 2014, "Only 3x3 convolutions, stacked deep.")
_tv("vgg16", "VGG-16", 2014, "Only 3x3 convolutions, 16 weight layers; most parameters in the FC layers.")
_tv("vgg19", "VGG-19", 2014, "VGG with 19 weight layers.")
# The metadata's 6,624,904 parameters are without the auxiliary classifiers (DESIGN.md section 5).
_tv("googlenet", "GoogLeNet (Inception v1)", 2014, "Inception modules with 1x1 bottlenecks; no big FC layers.",
    aux_logits=False, init_weights=True)
# ... and inception_v3's 27,161,264 are with them.
_tv("inception_v3", "Inception v3", 2015, "Factorised convolutions (1x7, 7x1) in Inception modules.",
    aux_logits=True, init_weights=True)
_tv("resnet18", "ResNet-18", 2015, "Residual connections: learn F(x) + x, basic 3x3 blocks.")
_tv("resnet34", "ResNet-34", 2015, "ResNet with 34 layers of basic blocks.")
_tv("resnet50", "ResNet-50", 2015, "ResNet with 1x1-3x3-1x1 bottleneck blocks.")
_tv("resnet101", "ResNet-101", 2015, "Bottleneck ResNet, 101 layers.")
_tv("resnet152", "ResNet-152", 2015, "Bottleneck ResNet, 152 layers: the ILSVRC 2015 winner.")
_tv("resnext50_32x4d", "ResNeXt-50 32x4d", 2016, "Grouped convolutions (32 groups) inside bottlenecks.")
_tv("densenet121", "DenseNet-121", 2016, "Every layer receives the feature maps of all previous ones.")
_tv("squeezenet1_1", "SqueezeNet 1.1", 2016, "Fire modules: AlexNet accuracy with 50x fewer parameters.")
_tv("mobilenet_v2", "MobileNet v2", 2018, "Depthwise separable convolutions in inverted residual blocks.")
_tv("shufflenet_v2_x1_0", "ShuffleNet v2", 2018, "Grouped 1x1 convolutions with channel shuffle.")
_tv("mobilenet_v3_small", "MobileNet v3 Small", 2019, "Architecture search, squeeze-excitation, hard-swish.")
_tv("mobilenet_v3_large", "MobileNet v3 Large", 2019, "The larger MobileNet v3.")
_tv("efficientnet_b0", "EfficientNet-B0", 2019, "Compound scaling of depth, width and resolution.")

for _name, (_w, _d, _size, _p) in efficientnet_lite.VARIANTS.items():
    register_model(ModelInfo(
        _name, f"EfficientNet-Lite{_name[-1]}", 2020,
        "EfficientNet without squeeze-excitation, with ReLU6: fast on phones and CPUs.",
        build=partial(efficientnet_lite.efficientnet_lite, _name),
        # TF's evaluation: resize the shorter side to size + 32, centre-crop, bicubic.
        input_size=_size, resize_size=_size + 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
        interpolation=T.InterpolationMode.BICUBIC, pretrained_source="efficientnet-lite",
    ))



@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names in output order (shipped with torchvision, offline)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


