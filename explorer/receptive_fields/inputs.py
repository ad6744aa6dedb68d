"""A network's input at any size, and back to pixels: what the receptive-fields page draws boxes on.

Zoo models keep their own preprocessing (resize ratio, centre crop, normalisation) scaled to the
chosen side, so that 225 px shows what Lite0's padding does at an odd size. Networks built on the
Architectures page take (C, H, W) inputs scaled to [-1, 1], as the trainer feeds them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from explorer.models import registry

#: Normalisation of custom networks (explorer.training.trainer.CUSTOM_MEAN_STD): (x − 0.5) / 0.5.
CUSTOM_MEAN_STD = 0.5


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """How an image becomes a network's input.

    Attributes:
        channels: 1 (grayscale) or 3 (RGB).
        size: (rows, cols) of the input in pixels.
        resize: the shorter image side is resized to this before the centre crop.
        mean, std: per-channel normalisation after scaling to [0, 1].
        interpolation: how the resize samples.
    """

    channels: int
    size: tuple[int, int]
    resize: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR


def zoo_input(name: str, side: int) -> InputSpec:
    """A zoo model's preprocessing at `side` px (its resize-to-crop ratio kept, e.g. 256/224)."""
    entry = registry.info(name)
    return InputSpec(entry.in_channels, (side, side), round(side * entry.resize_size / entry.input_size),
                     entry.mean, entry.std, entry.interpolation)


def custom_input(shape: tuple[int, int, int]) -> InputSpec:
    """A custom network's input (C, H, W): resize the shorter side to max(H, W), centre-crop, scale to [-1, 1]."""
    c, h, w = shape
    return InputSpec(c, (h, w), max(h, w), (CUSTOM_MEAN_STD,) * c, (CUSTOM_MEAN_STD,) * c)


def preprocess(spec: InputSpec, images: list[Image.Image]) -> torch.Tensor:
    """Images -> the network's input batch [N, C, H, W] (float32, normalised).

    Raises ValueError when the network takes neither 1 nor 3 channels (it does not read photos).
    """
    if spec.channels not in (1, 3):
        raise ValueError(f"This network takes {spec.channels} input channels, so it cannot read a photo (1 or 3); "
                         "set its input channels to 1 or 3 on the Architectures page.")
    steps = [T.Grayscale(1)] if spec.channels == 1 else []
    steps += [T.Resize(spec.resize, interpolation=spec.interpolation, antialias=True),
              T.CenterCrop(spec.size), T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    transform = T.Compose(steps)
    return torch.stack([transform(image.convert("RGB")) for image in images])


def to_pixels(spec: InputSpec, x: torch.Tensor) -> np.ndarray:
    """One preprocessed input [C, H, W] back to uint8 [H, W, 3] (grayscale repeated)."""
    mean = torch.tensor(spec.mean).view(-1, 1, 1)
    std = torch.tensor(spec.std).view(-1, 1, 1)
    pixels = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.permute(1, 2, 0).contiguous().numpy()
