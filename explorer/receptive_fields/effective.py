"""The effective receptive field (Luo et al., NeurIPS 2016): how far a unit really looks.

The theoretical field (`explorer.receptive_fields.fields`) is the box a unit can see; the effective
field is how much each pixel of that box moves the unit: the mean absolute input gradient of the
layer's centre unit. It covers a fraction of the theoretical box and grows with training.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image
from torch import nn

from explorer.receptive_fields.graph import release, truncated
from explorer.receptive_fields.inputs import InputSpec, preprocess
from explorer.runtime.batches import CancelFlag, Cancelled


def effective_rf(model: nn.Module, layer: str, inputs: torch.Tensor, *,
                 progress: Callable[[float, str], None] | None = None, cancel: CancelFlag | None = None,
                 batch_size: int = 1) -> np.ndarray:
    """The effective receptive field of the centre unit of `layer` (Luo et al., NeurIPS 2016).

    For every input image: the gradient of the layer's output at the centre unit, row H'//2 and
    column W'//2 (all its channels, each with weight 1), with respect to the input pixels; its
    absolute value summed over the input channels, normalised to sum 1. The maps are averaged over
    the images and the mean is normalised to sum 1 again.

    Gradients flow to the input only (`torch.autograd.grad`): the model's parameters, mode and hooks
    are left as they are, so a model shared between sessions may be passed.

    Args:
        model: the network, in eval mode.
        layer: module path of a layer (see `receptive_fields`).
        inputs: preprocessed batch [N, C, H, W] (not modified).
        progress: called after every batch with (fraction done in [0, 1], message).
        cancel: anything with `is_set()` (a `threading.Event`); checked before every batch.
        batch_size: images per forward/backward pass (1 by default: as fast per image as 4 or 8 with one torch
            thread on this CPU, bench/receptive_field.py, and progress and cancel come after every image).

    Returns:
        float64 [H, W], non-negative, summing to 1 (all zeros when no image reaches the unit).

    Raises:
        Cancelled: `cancel` was set; the message says after how many images.
        ValueError: an unknown layer, a layer without a map, or `inputs` not [N, C, H, W] with N ≥ 1.
    """
    if inputs.dim() != 4 or len(inputs) == 0:
        raise ValueError(f"inputs must be a batch [N, C, H, W] with N ≥ 1, not shape {tuple(inputs.shape)}.")
    n = len(inputs)
    batches = (inputs[start:start + batch_size] for start in range(0, n, batch_size))
    return _effective_rf(model, layer, batches, n, tuple(inputs.shape[2:]), progress, cancel)


def effective_rf_of_photos(model: nn.Module, layer: str, spec: InputSpec, photos: list[Image.Image], *,
                           progress: Callable[[float, str], None] | None = None,
                           cancel: CancelFlag | None = None) -> np.ndarray:
    """`effective_rf` over photos that are preprocessed (`spec`) one at a time, as the field is computed.

    What a page hands to a Dask task: the photos themselves (the gallery's and the student's, shared objects),
    not a float batch [N, C, H, W] of its own. A page that starts one field after another, each of 12 photos at
    1,024 px (151 MB as a batch), then queues references, not copies.

    Returns:
        float64 [H, W] at `spec.size`, as `effective_rf`.

    Raises:
        Cancelled, ValueError: as `effective_rf`; ValueError also when there is no photo, or the network reads
            neither 1 nor 3 channels.
    """
    if not photos:
        raise ValueError("The effective field needs at least one photo.")
    batches = (preprocess(spec, [photo]) for photo in photos)
    return _effective_rf(model, layer, batches, len(photos), tuple(spec.size), progress, cancel)


def _effective_rf(model: nn.Module, layer: str, batches: Iterable[torch.Tensor], n: int, size: tuple[int, int],
                  progress: Callable[[float, str], None] | None, cancel: CancelFlag | None) -> np.ndarray:
    """The loop of `effective_rf` over `n` images in `batches` ([B, C, H, W] each, H × W = `size`)."""
    cut = truncated(model, layer)
    total = np.zeros(size, dtype=np.float64)
    done = 0
    try:
        for batch in batches:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"Effective receptive field of {layer} cancelled after {done} of {n} images.")
            x = batch.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                out = cut(x)
                if not torch.is_tensor(out) or out.dim() != 4:
                    raise ValueError(f"{layer} does not produce feature maps; pick a conv layer, block or stage.")
                seed = torch.zeros_like(out)
                seed[:, :, out.shape[2] // 2, out.shape[3] // 2] = 1
                (grad,) = torch.autograd.grad(out, x, seed)
            maps = grad.detach().abs().sum(dim=1).double()
            maps = maps / maps.sum(dim=(1, 2), keepdim=True).clamp_min(1e-300)
            total += maps.sum(dim=0).numpy()
            done += len(batch)
            if progress is not None:
                progress(done / n, f"{done} of {n} images")
    finally:
        release(cut)  # the cut holds the model's layers in a reference cycle
    mass = total.sum()
    return total / mass if mass > 0 else total


def centred_square(erf: np.ndarray, centre: tuple[float, float], mass: float = 0.9) -> int:
    """Side in pixels of the smallest square centred on `centre` (row, col) that holds `mass` of `erf`'s total.

    Squares grow one pixel per side at a time (a half-pixel centre gives even sides). Mass that the
    image edges cut off is not counted: the map covers the image only.
    """
    if not 0 < mass <= 1:
        raise ValueError(f"The mass fraction must be in (0, 1], not {mass}.")
    rows, cols = np.indices(erf.shape)
    distance = np.maximum(np.abs(rows - centre[0]), np.abs(cols - centre[1])).ravel()
    order = np.argsort(distance, kind="stable")
    cumulative = np.cumsum(erf.ravel()[order])
    if cumulative[-1] <= 0:
        return 0
    reach = distance[order][np.searchsorted(cumulative, mass * cumulative[-1] * (1 - 1e-12))]
    return int(round(2 * reach + 1))
