"""A classifier as the attribution code sees it: a zoo model, a trained model or a bare module.

`explained(model)` wraps a `zoo.LoadedModel` (ImageNet labels, the weights' preprocessing), a
`classifier.TrainedModel` from the Transfer-learning page (its own preprocessing and class names)
or any classifier `nn.Module` (inputs are then preprocessed tensors) in one `Explained`.

Shared models stay shared (DESIGN.md section 6). Methods that hook layers (Grad-CAM) hook a
*structural copy*: new module objects that share the parameter tensors, so no weight is copied,
the model every session uses is never hooked, and two threads explaining it at once cannot see
each other's activations. The copies are pooled per model (`borrowed_copy`).
"""

from __future__ import annotations

import copy
import itertools
import threading
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from explorer.models import zoo
from explorer.training import trainer
from explorer.models import layers
from explorer.models import registry
from explorer.training.config import TrainConfig
from explorer.training import classifier


@dataclass
class Explained:
    """A classifier as the attribution code sees it (built by `explained`).

    Attributes:
        module: the network (shared: never changed).
        labels: class names in output order.
        preprocess: PIL image -> float tensor [1, C, S, S], normalised; None when inputs are tensors.
        mean, std: normalisation, float tensors [C] (pixels in [0, 1] = x * std + mean).
        pretrained: False for random weights (their maps mean nothing).
        title: a name for messages.
        source: the wrapped `zoo.LoadedModel` or `classifier.TrainedModel` (None for a bare module).
    """

    module: nn.Module
    labels: list[str]
    preprocess: Callable[[Image.Image], torch.Tensor] | None
    mean: torch.Tensor
    std: torch.Tensor
    pretrained: bool
    title: str
    source: Any = field(default=None, repr=False)

    def input(self, image: Image.Image | torch.Tensor) -> torch.Tensor:
        """A new tensor [1, C, S, S] for `image` (a PIL image, or a preprocessed [C, S, S] / [1, C, S, S])."""
        if isinstance(image, torch.Tensor):
            x = image.detach().clone().float()
            return x.unsqueeze(0) if x.dim() == 3 else x
        if self.preprocess is None:
            raise ValueError(f"{self.title} takes a preprocessed tensor [C, H, W], not a picture.")
        return self.preprocess(image.convert("RGB")).detach().clone()


def explained(model: zoo.LoadedModel | classifier.TrainedModel | nn.Module | Explained) -> Explained:
    """Wrap a zoo model, a trained model or a bare classifier module (see `Explained`)."""
    if isinstance(model, Explained):
        return model
    if isinstance(model, zoo.LoadedModel):
        n = model.info.num_classes
        labels = model.labels or [f"class {i}" for i in range(n)]
        return Explained(model.model, labels, lambda im: model.transform(im).unsqueeze(0),
                         torch.tensor(model.info.mean), torch.tensor(model.info.std), model.pretrained,
                         model.info.title, model)
    if isinstance(model, classifier.TrainedModel):
        prep = model.preprocess
        return Explained(model.model, list(model.classes), lambda im: prep([im]), prep.mean.flatten(),
                         prep.std.flatten(), True, f"your {model.config.backbone_label} model", model)
    if isinstance(model, nn.Module):
        return Explained(model, [], None, torch.zeros(1), torch.ones(1), True, type(model).__name__, None)
    raise ValueError(f"Cannot explain a {type(model).__name__}: pass a zoo model, a trained model or an nn.Module.")


def model_view(model, image: Image.Image | torch.Tensor) -> np.ndarray:
    """What the model sees, in pixels: uint8 [S, S, 3], the crop every map is aligned with."""
    net = explained(model)
    x = net.input(image)[0]
    c = x.shape[0]
    mean, std = net.mean.view(-1, 1, 1), net.std.view(-1, 1, 1)
    pixels = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    if c == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.permute(1, 2, 0).contiguous().numpy()


def layer_table(model) -> list[layers.LayerInfo]:
    """The layers `layer=` accepts (conv layers, blocks, stages), in network order, with output shapes.

    Computed once per architecture on the `meta` device (no weights, no compute; see
    `layers.layer_table`): the model itself is not touched.
    """
    net = explained(model)
    if isinstance(net.source, zoo.LoadedModel):
        return list(_zoo_layers(net.source.name, len(net.labels)))
    if isinstance(net.source, classifier.TrainedModel):
        cfg = net.source.config
        return list(_trained_layers(cfg.backbone, len(net.labels), cfg.custom_net))
    raise ValueError("Pass a zoo model or a trained model to list its layers.")


@lru_cache(maxsize=64)
def _zoo_layers(name: str, num_classes: int) -> tuple[layers.LayerInfo, ...]:
    with torch.device("meta"):
        module = registry.build(name, num_classes=num_classes)
    return tuple(layers.module_layer_table(module, registry.info(name).input_shape))


@lru_cache(maxsize=64)
def _trained_layers(backbone: str, num_classes: int, custom: str | None) -> tuple[layers.LayerInfo, ...]:
    spec = classifier.input_spec(TrainConfig(backbone=backbone, strategy="scratch", custom_net=custom))
    size = spec.input_size if isinstance(spec.input_size, tuple) else (spec.input_size,) * 2
    with torch.device("meta"):
        module, _, _ = trainer.architecture(backbone, num_classes, False, custom)
    return tuple(layers.module_layer_table(module, (spec.in_channels, *size)))


def default_layer(model) -> str:
    """The Grad-CAM layer: the last block with a spatial output (H, W > 1), per architecture.

    Lite0: "features.8" (its 1×1 head convolution, 1280×7×7); ResNet: "layer4"; VGG: "features.28".
    """
    spatial = [layer.name for layer in layer_table(model) if layer.shape[1] * layer.shape[2] > 1]
    if not spatial:
        raise ValueError("This network has no layer with a spatial output, so Grad-CAM does not apply.")
    return spatial[-1]


# --- shared models: structural copies for hooks ------------------------------------------------

_COPIES: weakref.WeakKeyDictionary[nn.Module, list[nn.Module]] = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def structural_copy(module: nn.Module) -> nn.Module:
    """New module objects that share `module`'s parameters and buffers (no weights copied), without hooks."""
    memo = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    return _without_hooks(copy.deepcopy(module, memo))


def _without_hooks(module: nn.Module) -> nn.Module:
    for m in module.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks):
            hooks.clear()
    return module


#: Models up to this many bytes of weights get a channels-last copy for the cheap maps (`channels_last`).
CHANNELS_LAST_MAX_BYTES = 64 * 2**20
_CHANNELS_LAST: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()


def channels_last(module: nn.Module) -> nn.Module:
    """A copy of `module` with its weights in channels-last order, one per model, kept while the model lives; the
    model itself when its weights are over `CHANNELS_LAST_MAX_BYTES` (a copy of VGG's would be 0.5 GB).

    On this CPU a forward and backward pass of EfficientNet-Lite0 in channels-last order takes about 20% less time
    (the cheap maps: 102 instead of 128 ms), with the same numbers to float rounding. The copy's weights are its own:
    converting a structural copy in place would convert the weights every session shares.
    """
    weights = sum(t.numel() * t.element_size() for t in itertools.chain(module.parameters(), module.buffers()))
    if weights > CHANNELS_LAST_MAX_BYTES:
        return module
    with _COPIES_LOCK:
        copied = _CHANNELS_LAST.get(module)
    if copied is None:
        copied = _without_hooks(copy.deepcopy(module)).to(memory_format=torch.channels_last)
        with _COPIES_LOCK:
            copied = _CHANNELS_LAST.setdefault(module, copied)
    return copied


class borrowed_copy:  # noqa: N801 - used like a function: `with borrowed_copy(model) as twin:`
    """`with borrowed_copy(model) as twin:` a hook-free structural copy, reused across calls (0.02 s saved)."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.twin = module, None

    def __enter__(self) -> nn.Module:
        with _COPIES_LOCK:
            pool = _COPIES.setdefault(self.module, [])
            self.twin = pool.pop() if pool else None
        if self.twin is None:
            self.twin = structural_copy(self.module)
        return self.twin

    def __exit__(self, *exc: object) -> None:
        clean = not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in self.twin.modules())
        if clean:  # a copy with a hook left behind (an error inside captum) is dropped, not reused
            with _COPIES_LOCK:
                _COPIES.setdefault(self.module, []).append(self.twin)


def predict(model, image: Image.Image | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [K], probabilities [K]) of one image, K = the number of classes."""
    net = explained(model)
    with torch.inference_mode():
        logits = net.module(net.input(image))[0].float()
    return logits.clone(), torch.softmax(logits, 0).clone()


def check_target(model, target: int) -> None:
    """Raise ValueError unless `target` is a class index of the model."""
    net = explained(model)
    n = len(net.labels) if net.labels else None
    if not isinstance(target, (int, np.integer)) or target < 0 or (n is not None and target >= n):
        if n is None:
            raise ValueError(f"Target class {target} is not a class index of {net.title}: choose 0 or more.")
        raise ValueError(f"Target class {target} is outside the {n} classes of {net.title}: choose 0–{n - 1}.")
