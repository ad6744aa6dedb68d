"""Zoo models ready for inference: a registry entry built with the best weights this machine has.

`load(name)` builds the architecture from `explorer.models.registry` and loads its weights
(`explorer.models.weights`): real ImageNet weights when they can be had offline, else the untrained
architecture with a note saying why. `predict` and `class_probabilities` run it on one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from explorer.models import efficientnet_lite, registry, weights
from explorer.models.registry import ModelInfo


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
    entry = registry.info(name)
    state, path, note = (None, None, "Untrained (random weights), as requested.")
    if pretrained:
        state, path, note = weights.pretrained_state(entry)
    model = None
    if path is not None or state is not None:
        with torch.device("meta"):  # skip the random init that the weights overwrite
            model = entry.build(num_classes=entry.num_classes)
        try:
            if path is not None:
                efficientnet_lite.load_pretrained(model, path)
            else:
                model.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True, assign=True)
        except (RuntimeError, ValueError):  # a file for another architecture under the expected name
            model, note = None, f"Untrained: the weights file found does not fit {entry.title}, so it was not used."
    loaded = model is not None
    if model is None:
        model = registry.build(name)
    labels = registry.imagenet_labels() if entry.num_classes == 1000 else [str(i) for i in range(entry.num_classes)]
    return LoadedModel(
        name=name, model=model.eval(), transform=make_transform(entry), input_size=entry.input_size,
        labels=labels, pretrained=loaded, weights_note=note, info=entry,
    )



def class_probabilities(loaded: LoadedModel, image: Image.Image) -> torch.Tensor:
    """Softmax over every class for one image: float tensor [num_classes]."""
    x = loaded.transform(image.convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        return torch.softmax(loaded.model(x), dim=1)[0]



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
