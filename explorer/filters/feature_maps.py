"""Feature maps and learned filters of a zoo model, read with forward hooks.

Lecture 3 ("visualizing what a convnet learns") and Zeiler & Fergus (2013): the first layer
learns edge and colour detectors, later layers respond to textures, then to object parts and
objects, while the resolution shrinks and the number of channels grows.

The layers offered are those of `explorer.models.layers.layer_table`.

Hooks on a shared model (DESIGN.md section 6): `feature_maps` attaches one forward hook and
removes it in a `finally`; the hook only records calls made from the calling thread, so a
forward pass another session runs on the same model at that moment is not captured. Callers
serving several sessions should still hold the model's lock (`explorer.models.store`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from explorer.models import zoo
from explorer.models.layers import LayerInfo

#: Rough reading of each third of the network's stages (lecture 3, Zeiler & Fergus 2013).
HIERARCHY = ("edges, colours and simple textures", "textures and object parts", "parts and whole objects")

#: Where a lecture's figure differs from the model shown here (DESIGN.md: show both, say why).
LECTURE_NOTES: dict[str, str] = {
    "alexnet": ("Lecture 2 gives AlexNet's first layer as 96 filters of 11×11×3 (the 2012 paper, whose filters "
                "were split over two GPUs). torchvision's AlexNet, shown here and used in lecture 3's table, "
                "is the one-GPU variant with 64 filters of 11×11×3; both give 55×55 maps (227 px without "
                "padding in the lecture, 224 px with 2 px of padding here)."),
}


@dataclass(frozen=True)
class Stage:
    """Consecutive stages of the trunk that share one output resolution.

    Attributes:
        names: the stage names, in order.
        resolution: (H, W) of their outputs in pixels.
        channels: output channels of each stage, in order.
        downsampling: input side / output side (2 means half the input resolution).
        reading: what this part of the hierarchy roughly detects (one of `HIERARCHY`).
    """

    names: tuple[str, ...]
    resolution: tuple[int, int]
    channels: tuple[int, ...]
    downsampling: float
    reading: str

    @property
    def line(self) -> str:
        """One line: "28×28 (1/8 of the input) · features.3 · 40 channels · textures and object parts"."""
        h, w = self.resolution
        names = self.names[0] if len(self.names) == 1 else f"{self.names[0]} … {self.names[-1]}"
        chans = " → ".join(str(c) for c in self.channels)
        return (f"{h}×{w} (1/{self.downsampling:g} of the input side) · {names} · "
                f"{chans} channels · {self.reading}")


def stage_summary(table: list[LayerInfo], input_size: int) -> list[Stage]:
    """Group the trunk's stages by output resolution, in order: the resolution shrinks, the channels grow.

    Args:
        table: `layer_table(loaded)`.
        input_size: side of the model's input in pixels (`loaded.input_size`).
    """
    groups: list[list[LayerInfo]] = []
    for layer in (layer for layer in table if layer.kind == "stage"):
        if groups and groups[-1][-1].shape[1:] == layer.shape[1:]:
            groups[-1].append(layer)
        else:
            groups.append([layer])
    stages = []
    for i, group in enumerate(groups):
        h, w = group[0].shape[1:]
        reading = HIERARCHY[min(len(HIERARCHY) - 1, i * len(HIERARCHY) // len(groups))]
        stages.append(Stage(tuple(g.name for g in group), (h, w), tuple(g.shape[0] for g in group),
                            round(input_size / h, 1), reading))
    return stages


def preprocess(loaded: zoo.LoadedModel, image: Image.Image) -> torch.Tensor:
    """The model's input for `image`: float tensor [1, C, input_size, input_size], normalised."""
    return loaded.transform(image.convert("RGB")).unsqueeze(0)


def input_view(loaded: zoo.LoadedModel, x: torch.Tensor) -> np.ndarray:
    """What the model sees, back in pixels: uint8 [input_size, input_size, 3] (the crop, un-normalised)."""
    mean = torch.tensor(loaded.info.mean).view(-1, 1, 1)
    std = torch.tensor(loaded.info.std).view(-1, 1, 1)
    pixels = (x[0] * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.permute(1, 2, 0).contiguous().numpy()


@dataclass
class FeatureResult:
    """One forward pass: the maps of one layer, the top-k classes and what the model saw.

    Attributes:
        layer: the layer name.
        maps: float32 tensor [C, H, W], the layer's output for the image.
        top: [(label, probability in [0, 1])], highest first.
        seen: uint8 [S, S, 3], the centre crop the model classified (S = input size).
        spread: (smallest, largest) probability over all classes, and the number of classes.
    """

    layer: str
    maps: torch.Tensor
    top: list[tuple[str, float]]
    seen: np.ndarray
    spread: tuple[float, float, int] = (0.0, 0.0, 0)


def _forward_with_hook(loaded: zoo.LoadedModel, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(layer output [C, H, W], logits [num_classes]) from one forward pass; the hook is always removed."""
    try:
        module = loaded.model.get_submodule(layer)
    except AttributeError:
        raise ValueError(f"{loaded.info.title} has no layer {layer!r}; pick one from layer_names().") from None
    owner = threading.get_ident()
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: object, output: object) -> None:
        # Only this thread's pass, and only the first call (a module may be reused in one pass).
        if threading.get_ident() == owner and not captured and torch.is_tensor(output):
            captured.append(output.detach().clone())  # clone: a later in-place ReLU would change it

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            logits = loaded.model(x)
    finally:
        handle.remove()
    if not captured or captured[0].dim() != 4:
        raise ValueError(f"Layer {layer!r} does not produce feature maps; pick one from layer_names().")
    return captured[0][0], logits[0]


def feature_maps(loaded: zoo.LoadedModel, image: Image.Image, layer: str) -> torch.Tensor:
    """The output of `layer` for `image`: float32 tensor [C, H, W].

    Raises:
        ValueError: `layer` is not a module of the model, or its output is not [1, C, H, W].
    """
    return _forward_with_hook(loaded, preprocess(loaded, image), layer)[0]


def analyse(loaded: zoo.LoadedModel, image: Image.Image, layer: str, k: int = 5) -> FeatureResult:
    """Feature maps of `layer` and the top-k predictions, from a single forward pass."""
    x = preprocess(loaded, image)
    maps, logits = _forward_with_hook(loaded, x, layer)
    probs = torch.softmax(logits, dim=0)
    top = torch.topk(probs, min(k, probs.numel()))
    labels = loaded.labels or [f"class {i}" for i in range(probs.numel())]
    return FeatureResult(layer, maps, [(labels[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())],
                         input_view(loaded, x), (float(probs.min()), float(probs.max()), probs.numel()))


def top_channels(maps: torch.Tensor, n: int) -> list[int]:
    """Indices of the `n` channels of `maps` [C, H, W] with the highest mean activation, highest first."""
    means = maps.float().mean(dim=(1, 2))
    return torch.argsort(means, descending=True)[: max(0, min(n, len(means)))].tolist()


def conv_layers(loaded: zoo.LoadedModel) -> list[str]:
    """Names of every `nn.Conv2d` of the model, in definition order."""
    return [name for name, m in loaded.model.named_modules() if isinstance(m, nn.Conv2d)]


def conv_weight(loaded: zoo.LoadedModel, layer: str) -> torch.Tensor:
    """A copy of the weights of conv `layer`: [C_out, C_in / groups, K_h, K_w].

    Raises:
        ValueError: `layer` is not a Conv2d of the model.
    """
    module = dict(loaded.model.named_modules()).get(layer)
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"{layer!r} is not a convolution of {loaded.info.title}; pick one from conv_layers().")
    return module.weight.detach().clone()


def default_slice_layer(loaded: zoo.LoadedModel) -> str:
    """The conv layer whose filters' slices the page shows first.

    The first conv after the stem that has a spatial kernel (K > 1) and reads several channels
    per filter (ResNet's layer1.0.conv1); for depthwise-separable networks, which have none,
    the first K > 1 conv after the stem (a depthwise one); else the first conv.
    """
    convs = [(n, m) for n, m in loaded.model.named_modules() if isinstance(m, nn.Conv2d)]
    later = convs[1:] or convs
    for wanted in (lambda m: m.in_channels // m.groups > 1 and max(m.kernel_size) > 1,
                   lambda m: max(m.kernel_size) > 1):
        found = next((n for n, m in later if wanted(m)), None)
        if found:
            return found
    return later[0][0]


def is_depthwise(loaded: zoo.LoadedModel, layer: str) -> bool:
    """True when every filter of conv `layer` reads a single input channel (groups = in_channels > 1)."""
    module = loaded.model.get_submodule(layer)
    return isinstance(module, nn.Conv2d) and module.groups == module.in_channels > 1


def first_conv(loaded: zoo.LoadedModel) -> str:
    """Name of the first conv layer, the one that reads the image (in_channels = the image's channels)."""
    for name, module in loaded.model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == loaded.info.in_channels:
            return name
    raise ValueError(f"{loaded.info.title} has no convolution that reads the image.")


def first_layer_filters(loaded: zoo.LoadedModel) -> torch.Tensor:
    """The filters of the first conv layer (the one that reads the image): [C_out, C_in, K, K].

    C_in is 3 (RGB) for every ImageNet model and 1 for LeNet-5's grayscale digits.
    """
    return conv_weight(loaded, first_conv(loaded))
