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

Every random draw comes from the `torch.Generator` given to `build` (a training run's own, see
`explorer.randomness`), never from torch's global generator: the same seed gives the same
augmented images, whatever other sessions do at the same time. torchvision's v2 transforms draw
from the global generator, so each one used here is subclassed to draw its parameters (with the
same distributions) from the generator; the image operations are torchvision's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import get_size


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


def _uniform(low: float, high: float, gen: torch.Generator) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=gen))


class ChannelShift(nn.Module):
    """Keras' `channel_shift_range`: add one uniform random offset in [-c, c] to each channel."""

    def __init__(self, intensity: float, generator: torch.Generator) -> None:
        super().__init__()
        self.intensity, self.generator = float(intensity), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: uint8 [C, H, W] -> uint8 [C, H, W]."""
        shift = (torch.rand(x.shape[0], 1, 1, generator=self.generator) * 2 - 1) * self.intensity
        return (x.float() + shift).clamp(0, 255).round().to(torch.uint8)


class HorizontalFlip(v2.RandomHorizontalFlip):
    """v2.RandomHorizontalFlip (p = 0.5) drawing from `generator`."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x, {}) if float(torch.rand((), generator=self.generator)) < self.p else x


class VerticalFlip(v2.RandomVerticalFlip):
    """v2.RandomVerticalFlip (p = 0.5) drawing from `generator`."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x, {}) if float(torch.rand((), generator=self.generator)) < self.p else x


class Affine(v2.RandomAffine):
    """v2.RandomAffine whose angle, shift, scale and shear are drawn from `generator` (same distributions)."""

    def __init__(self, generator: torch.Generator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        g = self.generator
        height, width = get_size(flat_inputs[0])
        angle = _uniform(self.degrees[0], self.degrees[1], g)
        translate = (0, 0)
        if self.translate is not None:
            max_dx, max_dy = float(self.translate[0] * width), float(self.translate[1] * height)
            translate = (int(round(_uniform(-max_dx, max_dx, g))), int(round(_uniform(-max_dy, max_dy, g))))
        scale = _uniform(self.scale[0], self.scale[1], g) if self.scale is not None else 1.0
        shear = (0.0, 0.0)
        if self.shear is not None:
            shear = (_uniform(self.shear[0], self.shear[1], g),
                     _uniform(self.shear[2], self.shear[3], g) if len(self.shear) == 4 else 0.0)
        return dict(angle=angle, translate=translate, scale=scale, shear=shear)


class Jitter(v2.ColorJitter):
    """v2.ColorJitter whose order and factors are drawn from `generator`."""

    def __init__(self, generator: torch.Generator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        g = self.generator

        def factor(r: tuple[float, float] | None) -> float | None:
            return None if r is None else _uniform(r[0], r[1], g)

        return dict(fn_idx=torch.randperm(4, generator=g), brightness_factor=factor(self.brightness),
                    contrast_factor=factor(self.contrast), saturation_factor=factor(self.saturation),
                    hue_factor=factor(self.hue))


class RandAugment(v2.RandAugment):
    """v2.RandAugment whose operations and signs are drawn from `generator`.

    The loop is torchvision's `RandAugment.forward` for one image tensor, with the two global draws
    (which operation, which sign) taken from the generator; the operations are torchvision's own.
    """

    def __init__(self, generator: torch.Generator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = get_size(x)
        names = list(self._AUGMENTATION_SPACE)
        for _ in range(self.num_ops):
            name = names[int(torch.randint(len(names), (), generator=self.generator))]
            magnitudes_fn, signed = self._AUGMENTATION_SPACE[name]
            magnitudes = magnitudes_fn(self.num_magnitude_bins, height, width)
            magnitude = 0.0
            if magnitudes is not None:
                magnitude = float(magnitudes[self.magnitude])
                if signed and float(torch.rand((), generator=self.generator)) <= 0.5:
                    magnitude *= -1
            x = self._apply_image_or_video_transform(x, name, magnitude, interpolation=self.interpolation,
                                                     fill=self._fill)
        return x


def build(aug: Augment, channels: int = 3, generator: torch.Generator | None = None
          ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The v2 pipeline for `aug` on uint8 [C, H, W] tensors, or None when nothing is enabled.

    Args:
        generator: the source of every random draw (a run's own); None means a new one seeded with 0.
    """
    if not aug.enabled:
        return None
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    steps: list[nn.Module] = []
    if aug.hflip:
        steps.append(HorizontalFlip(g))
    if aug.vflip:
        steps.append(VerticalFlip(g))
    if aug.rotation or aug.width_shift or aug.height_shift or aug.shear or aug.zoom:
        steps.append(Affine(
            g, degrees=aug.rotation,
            translate=(aug.width_shift, aug.height_shift) if (aug.width_shift or aug.height_shift) else None,
            scale=(1 - aug.zoom, 1 + aug.zoom) if aug.zoom else None,
            shear=aug.shear or None,
            fill=0,
        ))
    if aug.colour:
        sat = aug.colour if channels == 3 else 0  # saturation needs colour channels
        steps.append(Jitter(g, brightness=aug.colour, contrast=aug.colour, saturation=sat))
    if aug.channel_shift:
        steps.append(ChannelShift(aug.channel_shift, g))
    if aug.randaugment:
        steps.append(RandAugment(g, num_ops=2, magnitude=9))
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
    pipeline = build(aug, 3, torch.Generator().manual_seed(seed))
    rows = []
    for img in images:
        x = base(img.convert("RGB"))
        copies = [pipeline(x) if pipeline is not None else x for _ in range(per_image)]
        rows.append([v2.functional.to_pil_image(t) for t in [x, *copies]])
    return rows
