"""Data augmentation: the lecture's Keras `ImageDataGenerator` options as `torchvision.transforms.v2`.

| ImageDataGenerator            | here (`Augment` field) | torchvision.transforms.v2                    |
|-------------------------------|------------------------|----------------------------------------------|
| rotation_range=r (degrees)    | rotation               | RandomAffine(degrees=r)                      |
| width_shift_range=w (share)   | width_shift            | RandomAffine(translate=(w, h))               |
| height_shift_range=h (share)  | height_shift           |                                              |
| shear_range=s (degrees)       | shear                  | RandomAffine(shear=s)                        |
| zoom_range=z                  | zoom                   | RandomAffine(scale=(1 - z, 1 + z))           |
| horizontal_flip / vertical_flip | hflip / vflip        | RandomHorizontalFlip / RandomVerticalFlip    |
| brightness_range (colour)     | colour                 | ColorJitter(brightness, contrast, saturation)|
| channel_shift_range=c (0-255) | channel_shift          | `ChannelShift(c)`: adds U(-c, c) per channel |
| (none)                        | randaugment            | RandAugment(num_ops=2, magnitude=9)          |

Augmentations run on uint8 tensors [C, H, W] already resized to the model's input, one random
draw per image and per epoch, so the network never sees the same picture twice. Pixels moved in
from outside the image are black (`fill=0`), where Keras repeats the nearest edge by default.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2

_RNG_LOCK = threading.Lock()


@dataclass(frozen=True)
class Augment:
    """Augmentation settings; the defaults (all zero / False) mean no augmentation."""

    rotation: float = 0.0  # degrees, +-
    width_shift: float = 0.0  # share of the width, +-
    height_shift: float = 0.0  # share of the height, +-
    shear: float = 0.0  # degrees, +-
    zoom: float = 0.0  # scale in [1 - zoom, 1 + zoom]
    hflip: bool = False
    vflip: bool = False
    colour: float = 0.0  # brightness / contrast / saturation jitter strength
    channel_shift: float = 0.0  # added per channel, in 0-255 pixel units
    randaugment: bool = False

    @property
    def enabled(self) -> bool:
        """True if any option changes the images."""
        return any(bool(v) for v in asdict(self).values())

    def describe(self) -> str:
        """The active options, e.g. "rotation 15°, hflip", or "none"."""
        parts = [f"{k} {v:g}" if not isinstance(v, bool) else k for k, v in asdict(self).items() if v]
        return ", ".join(parts) or "none"


class ChannelShift(nn.Module):
    """Keras' `channel_shift_range`: add one uniform random offset in [-c, c] to each channel."""

    def __init__(self, intensity: float) -> None:
        super().__init__()
        self.intensity = float(intensity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: uint8 [C, H, W] -> uint8 [C, H, W]."""
        shift = (torch.rand(x.shape[0], 1, 1) * 2 - 1) * self.intensity
        return (x.float() + shift).clamp(0, 255).round().to(torch.uint8)


def build(aug: Augment, channels: int = 3) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The v2 pipeline for `aug` on uint8 [C, H, W] tensors, or None when nothing is enabled."""
    if not aug.enabled:
        return None
    steps: list[nn.Module] = []
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if aug.vflip:
        steps.append(v2.RandomVerticalFlip())
    if aug.rotation or aug.width_shift or aug.height_shift or aug.shear or aug.zoom:
        steps.append(v2.RandomAffine(
            degrees=aug.rotation,
            translate=(aug.width_shift, aug.height_shift) if (aug.width_shift or aug.height_shift) else None,
            scale=(1 - aug.zoom, 1 + aug.zoom) if aug.zoom else None,
            shear=aug.shear or None,
            fill=0,
        ))
    if aug.colour:
        sat = aug.colour if channels == 3 else 0  # saturation needs colour channels
        steps.append(v2.ColorJitter(brightness=aug.colour, contrast=aug.colour, saturation=sat))
    if aug.channel_shift:
        steps.append(ChannelShift(aug.channel_shift))
    if aug.randaugment:
        steps.append(v2.RandAugment(num_ops=2, magnitude=9))
    return v2.Compose(steps)


def apply(pipeline: Callable[[torch.Tensor], torch.Tensor] | None, batch: torch.Tensor) -> torch.Tensor:
    """Augment each image of a uint8 batch [N, C, H, W] with its own random draw."""
    if pipeline is None:
        return batch
    return torch.stack([pipeline(x) for x in batch])


def preview(images: list[Image.Image], aug: Augment, size: int = 128, per_image: int = 4,
            seed: int = 0) -> list[list[Image.Image]]:
    """Augmented copies of each image, for the page's preview grid.

    Args:
        images: RGB PIL images (the student's own).
        aug: settings to preview.
        size: each image is resized and centre-cropped to size x size px first, as training does.
        per_image: augmented copies per image (the first column of each row is the original).
        seed: the same seed gives the same grid.

    Returns:
        One row per image: [original, copy 1, ..., copy per_image], all size x size RGB.
    """
    base = v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    pipeline = build(aug)
    rows = []
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for img in images:
            x = base(img.convert("RGB"))
            copies = [pipeline(x) if pipeline is not None else x for _ in range(per_image)]
            rows.append([v2.functional.to_pil_image(t) for t in [x, *copies]])
    return rows
