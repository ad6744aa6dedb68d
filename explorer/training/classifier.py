"""A trained classifier and what it needs around it: its input pipeline, predictions and evaluation.

`explorer.training.trainer` produces `TrainedModel`s; `explorer.training.model_io` saves and loads them; the pages
predict with them. The names are re-exported by `explorer.training.trainer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dask.sizeof import sizeof
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from explorer.models import custom_net
from explorer.models import registry
from explorer.models.store import module_bytes
from explorer.training.config import CUSTOM, TrainConfig

CUSTOM_MEAN_STD = 0.5  # custom networks: pixels scaled to [0, 1], then (x - 0.5) / 0.5 -> [-1, 1]


# --- images to tensors -----------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """The input fields of `registry.ModelInfo` that `Preprocess` reads (sizes may be (H, W) pairs)."""

    input_size: int | tuple[int, int]
    resize_size: int | tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR


def input_spec(config: TrainConfig) -> registry.ModelInfo | InputSpec:
    """What the network of `config` takes: a zoo model's preprocessing, or for a custom network
    (C, H, W) = its input: images resized to H×W (grayscale if C == 1), mean = std = 0.5."""
    if config.backbone != CUSTOM:
        return registry.info(config.backbone)
    c, h, w = custom_net.check_trainable(config.custom_net)[1]
    return InputSpec((h, w), (h, w), (CUSTOM_MEAN_STD,) * c, (CUSTOM_MEAN_STD,) * c, c)


class Preprocess:
    """PIL image -> model input, split in two halves so augmentation can sit in between.

    `pixels`: grayscale (LeNet), resize, centre crop -> uint8 [C, H, W] (as `zoo.make_transform`).
    `normalize`: uint8 [N, C, H, W] -> float, scaled to [0, 1], minus mean, over std.
    """

    def __init__(self, entry: registry.ModelInfo | InputSpec) -> None:
        steps = [] if entry.in_channels == 3 else [T.Grayscale(entry.in_channels)]
        self._pixels = T.Compose(steps + [
            T.Resize(entry.resize_size, interpolation=entry.interpolation, antialias=True),
            T.CenterCrop(entry.input_size), T.PILToTensor()])
        self.mean = torch.tensor(entry.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(entry.std).view(1, -1, 1, 1)
        self.channels = entry.in_channels

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """[N, C, H, W] uint8."""
        return torch.stack([self._pixels(img.convert("RGB")) for img in images])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> normalised float32 [N, C, H, W]."""
        return (x.float() / 255.0 - self.mean) / self.std

    def __call__(self, images: list[Image.Image]) -> torch.Tensor:
        return self.normalize(self.pixels(images))


# --- the trained model -----------------------------------------------------------------------

@dataclass
class TrainedModel:
    """A trained classifier: the network (eval mode), its class names and the run's configuration."""

    model: nn.Module
    classes: list[str]
    config: TrainConfig
    weights_note: str = ""

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess(input_spec(self.config))

    def logits(self, images: list[Image.Image], batch: int = 64) -> torch.Tensor:
        """[N, num_classes] logits of PIL images."""
        prep = self.preprocess
        self.model.eval()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                outs.append(self.model(prep(images[i:i + batch])))
        return torch.cat(outs) if outs else torch.empty(0, len(self.classes))


# A trained model counts as its network when Dask sizes a task's arguments: it goes beside the task, not inside.
sizeof.register(TrainedModel)(lambda trained: module_bytes(trained.model))


def predict(trained: TrainedModel, image: Image.Image, k: int = 3) -> list[tuple[str, float]]:
    """Top-k [(class name, probability in [0, 1])] for one image, highest first."""
    probs = torch.softmax(trained.logits([image]), dim=1)[0]
    top = torch.topk(probs, min(k, probs.numel()))
    return [(trained.classes[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]


@dataclass
class Evaluation:
    """Predictions on a labelled set.

    confusion[i, j]: images of true class i predicted as class j. probs: [N, C] softmax.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    confusion: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")

    @property
    def majority_class(self) -> int:
        """The most frequent true class: the answer of a model that learned nothing but the class shares."""
        return int(np.bincount(self.y_true, minlength=len(self.confusion)).argmax()) if len(self.y_true) else 0

    @property
    def chance(self) -> float:
        """Accuracy of always answering `majority_class` (1/C on a balanced set)."""
        return float((self.y_true == self.majority_class).mean()) if len(self.y_true) else float("nan")

    @property
    def near_chance(self) -> bool:
        """True when the accuracy is within two binomial standard deviations of `chance`: on this many
        validation images, not distinguishable from a model that learned nothing."""
        n, p = len(self.y_true), self.chance
        return bool(n) and self.accuracy <= p + 2 * (p * (1 - p) / n) ** 0.5

    @property
    def misclassified(self) -> list[int]:
        """Indices of wrongly predicted samples, most confident mistakes first."""
        wrong = np.flatnonzero(self.y_true != self.y_pred)
        return sorted(wrong.tolist(), key=lambda i: -self.probs[i, self.y_pred[i]])


def evaluate(trained: TrainedModel, samples: list[tuple[Image.Image, int]]) -> Evaluation:
    """Confusion matrix, predictions and probabilities of `trained` on labelled samples."""
    return evaluation_from_logits(trained.logits([img for img, _ in samples]), [label for _, label in samples],
                                  len(trained.classes))


def evaluation_from_logits(logits: torch.Tensor, labels: list[int], num_classes: int) -> Evaluation:
    """An Evaluation from logits [N, num_classes] already computed for samples with `labels`."""
    probs = torch.softmax(logits.float(), dim=1).numpy()
    y_true = np.array(labels, dtype=int)
    y_pred = probs.argmax(1) if len(labels) else np.zeros(0, dtype=int)
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    return Evaluation(y_true, y_pred, probs, confusion)
