"""Occlusion (Zeiler & Fergus 2014): slide a grey square over the image and record the score's drop.

No gradients, only forward passes: one per window position, `OCCLUSION_BATCH` windows per pass.
"""

from __future__ import annotations

import math

import torch

from explorer.runtime.batches import Batches

OCCLUSION_BATCH = 16  # windows per forward pass (perturbations_per_eval)


def occlusion_positions(size: int, window: int, stride: int) -> list[int]:
    """Top (or left) edges of the windows along one side, as captum's Occlusion places them.

    ceil((size − window) / stride) + 1 positions, k·stride; the last window may hang over the edge.
    """
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


def occlusion_windows(size: int, window: int, stride: int) -> int:
    """Number of windows (forward passes besides the unoccluded one) on a size×size input."""
    return len(occlusion_positions(size, window, stride)) ** 2


def check_occlusion(size: int, window: int, stride: int) -> None:
    """Raise ValueError with a student-facing message for impossible Occlusion settings."""
    if window > size:
        raise ValueError(f"The Occlusion window ({window} px) is larger than the image the model sees "
                         f"({size}×{size} px): choose a window of at most {size} px.")
    if window < 1 or stride < 1:
        raise ValueError("The Occlusion window and stride must be at least 1 px.")
    if stride > window:
        raise ValueError(f"A stride ({stride} px) larger than the window ({window} px) would leave pixels that no "
                         "window covers: choose a stride of at most the window.")


def occlusion(module, x, target, window, stride, score: float, batches: Batches) -> torch.Tensor:
    """Occlusion with a window×window square of zeros (the normalisation mean: grey), [H, W].

    Every pixel gets the mean drop of the target's logit, score − score(occluded), over the windows
    that cover it: captum's `Occlusion` with baselines 0, computed here in batches of windows
    (`OCCLUSION_BATCH` per forward pass) so that batches can run apart (tests compare with captum).
    """
    h, w = x.shape[-2:]
    windows = [(top, left) for top in occlusion_positions(h, window, stride)
               for left in occlusion_positions(w, window, stride)]
    groups = [windows[i:i + OCCLUSION_BATCH] for i in range(0, len(windows), OCCLUSION_BATCH)]

    def run(group: list[tuple[int, int]]) -> torch.Tensor:
        batch = x.repeat(len(group), 1, 1, 1)
        for i, (top, left) in enumerate(group):
            batch[i, :, top:top + window, left:left + window] = 0.0
        with torch.inference_mode():
            drops = score - module(batch)[:, target]
        total = torch.zeros(2, h, w)  # [sum of drops, count of windows] per pixel
        for (top, left), drop in zip(group, drops.tolist()):
            total[0, top:top + window, left:left + window] += drop
            total[1, top:top + window, left:left + window] += 1
        return total

    total = torch.stack(batches.run(run, groups, "batch of windows")).sum(0)
    return total[0] / total[1]
