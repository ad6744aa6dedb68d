"""Reference images that stand for "nothing": Integrated Gradients' baselines and the insertion canvas.

Both attribution methods (`explorer.attribution.methods`) and the sanity checks
(`explorer.attribution.sanity_checks`) use the blurred photo, so it lives here, below both.
"""

from __future__ import annotations

import torch
import torchvision.transforms.functional as TF

from explorer.attribution.explained_model import Explained

#: Baselines ("nothing") for Integrated Gradients, in pixel terms.
BASELINES = {"black": "a black image", "blur": "your photo blurred (Gaussian, σ = 10 px at 224 px)",
             "mean": "a flat image of the normalisation mean (a grey for Lite0)"}

#: σ of the blur that removes the class from a photo (baseline and insertion canvas), as a share of
#: the input's side: 10 px at 224 px.
BLUR_SIGMA = 10 / 224


def blurred(x: torch.Tensor) -> torch.Tensor:
    """x [N, C, H, W] blurred with a Gaussian of σ = `BLUR_SIGMA` × the side (10 px at 224 px, kernel ±3σ).

    RISE's canvas (an 11-pixel kernel, σ = 5) is too weak at 224 px: Lite0 still gives the
    gallery cat 0.29 of its 0.39 "tiger cat" on it. With σ = 10 px the class is gone (p ≈ 0.00)
    from every gallery photo tried, so insertion starts from nothing.
    """
    side = min(x.shape[-2:])
    sigma = BLUR_SIGMA * side
    k = min(2 * round(3 * sigma) + 1, 2 * side - 1)  # reflection padding needs the kernel under twice the side
    return TF.gaussian_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])


def baseline(net: Explained, x: torch.Tensor, kind: str) -> torch.Tensor:
    """The baseline [1, C, H, W] of `kind` (a key of `BASELINES`) in the model's normalised space."""
    if kind == "black":
        return ((0.0 - net.mean) / net.std).view(1, -1, 1, 1).expand_as(x).clone()
    if kind == "blur":
        return blurred(x)
    if kind == "mean":
        return torch.zeros_like(x)
    raise ValueError(f"Unknown baseline {kind!r}: choose one of {', '.join(BASELINES)}.")
