"""What a network from a page address may ask of the server, checked on the meta device before any weight exists.

Anyone can edit a link, and one link opened by a class runs once per student: a network described in an
address (`rf_net`, `ar_net`, a model file's `custom_net`), or a zoo model at an input size from an address,
must fit a budget before the server allocates it. The limits are of the same order as the training caps
(`explorer.models.custom_net.MAX_PARAMS`, `MAX_SIDE`):

- `MAX_PARAMS` = 50 M parameters: 200 MB of float32 weights, the training cap.
- `MAX_INPUT_CHANNELS` = 64 and `MAX_INPUT_SIDE` = 1,024 px: what the Architectures page's builder offers.
- `MAX_LAYERS` = 100 layers in a network written as text (the lecture's CNN has 10, the builder's
  small ResNet 8), and `MAX_TEXT` characters of such text.
- `MAX_ACTIVATIONS` = 50 M activation values per image (200 MB of float32 outputs, every layer's output
  counted once, as the Architectures page counts them). Every zoo model fits at its own input size (ResNet-152
  has 45 M at 224 px, EfficientNet-Lite2 41 M at 260 px). Measured on this machine (one torch thread): the
  effective receptive field of VGG-16's conv5_3 (one back-propagation per image) added 0.13 GB at 224 px
  (15 M values), 0.44 GB at 512 px (79 M) and 1.6 GB at 1,024 px (318 M), whose layer maps alone took 11 s.
  The web process holds ~1.1 GB of its own and up to 800 MB of shared models, and the embedded Dask worker runs
  up to four page tasks at once: at 50 M a picture that stays under 4 GiB (bench/hostile_links.py).

`footprint` counts parameters and activations of a model built on the meta device (no memory, milliseconds);
`check` refuses with one sentence that names the limit and what to change (a `BudgetError`, a ValueError).
This module never imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

MAX_PARAMS = 50_000_000
MAX_INPUT_CHANNELS = 64
MAX_INPUT_SIDE = 1024  # pixels
MAX_LAYERS = 100
MAX_TEXT = 4000  # characters of a network written as text (`custom_net.to_text`): about 100 layers
MAX_ACTIVATIONS = 50_000_000  # values per image


class BudgetError(ValueError):
    """A network, or its input, is larger than the budget: the message says which limit and what to change."""


@dataclass(frozen=True)
class Footprint:
    """What running a network on one image costs.

    Attributes:
        params: number of parameters (weights and biases).
        activations: values of every leaf module's output for one image, each counted once (an in-place
            activation adds nothing); about the float32 bytes / 4 that a forward pass writes.
        input_shape: (C, H, W) or (features,) of one image.
    """

    params: int
    activations: int
    input_shape: tuple[int, ...]


def footprint(model: nn.Module, input_shape: tuple[int, ...]) -> Footprint:
    """Parameters and activation values of `model` (built on the meta device) for one input of `input_shape`.

    Raises:
        ValueError: the model is not on the meta device, or cannot take that input.
    """
    if any(p.device.type != "meta" for p in model.parameters()):
        raise ValueError("footprint() counts a model built on the meta device (torch.device('meta')).")
    counted: list[int] = []

    def count(module: nn.Module, inputs: tuple, output: object) -> None:
        if torch.is_tensor(output) and not any(output is x for x in inputs):
            counted.append(output[0].numel() if output.dim() > 0 else 1)

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device="meta"))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"The network cannot take a {'×'.join(map(str, input_shape))} input "
                         f"({type(exc).__name__}).") from None
    finally:
        for hook in hooks:
            hook.remove()
    return Footprint(sum(p.numel() for p in model.parameters()), sum(counted), tuple(input_shape))


def largest_side(fp: Footprint) -> int:
    """The input side (px) at which `fp`'s network would just fit `MAX_ACTIVATIONS`: activations grow with the
    input's area, so the side shrinks with the square root of the excess (at least 8 px)."""
    side = max(fp.input_shape[-2:]) if len(fp.input_shape) == 3 else 1
    return max(8, int(side * math.sqrt(MAX_ACTIVATIONS / max(fp.activations, 1))) // 8 * 8)


def check_input(shape: tuple[int, ...], name: str = "The network") -> None:
    """Refuse an input of more than `MAX_INPUT_CHANNELS` channels or `MAX_INPUT_SIDE` pixels a side."""
    if len(shape) == 3 and (shape[0] > MAX_INPUT_CHANNELS or max(shape[1:]) > MAX_INPUT_SIDE):
        raise BudgetError(f"{name} takes a {'×'.join(map(str, shape))} input; this server builds networks for "
                          f"at most {MAX_INPUT_CHANNELS} channels of {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE} px: "
                          "make the input smaller.")
    if len(shape) == 1 and shape[0] > MAX_INPUT_CHANNELS * MAX_INPUT_SIDE ** 2:
        raise BudgetError(f"{name} takes {shape[0]:,} input features; at most {MAX_INPUT_CHANNELS * MAX_INPUT_SIDE ** 2:,} "
                          "here: make the input smaller.")


def check(fp: Footprint, name: str = "The network") -> Footprint:
    """`fp` if its input, parameters and activations fit the budget, else BudgetError with one sentence naming
    the limit and what to change. `name` is how the sentence names the network ("The network in this link")."""
    check_input(fp.input_shape, name)
    if fp.params > MAX_PARAMS:
        raise BudgetError(f"{name} has {fp.params:,} parameters; this server builds at most {MAX_PARAMS:,}: "
                          "shrink its largest layers (a Linear layer after Flatten is often the culprit).")
    return check_activations(fp, name)


def check_activations(fp: Footprint, name: str = "The network") -> Footprint:
    """`fp` if one image's activations fit `MAX_ACTIVATIONS`, else BudgetError with one sentence. For a zoo
    model, whose weights the server holds anyway, only the input size from an address is checked this way."""
    if fp.activations > MAX_ACTIVATIONS:
        hint = (f"use an input of at most {largest_side(fp)} px" if len(fp.input_shape) == 3
                else "use fewer units per layer")
        raise BudgetError(f"{name} computes {fp.activations / 1e6:,.0f} M activation values per image; this server "
                          f"computes at most {MAX_ACTIVATIONS / 1e6:,.0f} M per picture: {hint}.")
    return fp
