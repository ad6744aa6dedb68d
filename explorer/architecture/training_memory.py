"""Memory needed to train a network: weights, gradients, optimizer state and saved activations.

A first-order estimate, in float32 (4 bytes a value), of what one training step holds at its peak:
- weights: every parameter;
- gradients: one value per trainable parameter;
- optimizer state: SGD keeps nothing, SGD with momentum one buffer per trainable parameter,
  Adam two (first and second moments);
- activations: the input batch plus every layer output the forward pass creates (in-place and
  view outputs share memory and are not counted), all of which autograd may keep for the backward
  pass. It scales linearly with the batch size.
Framework overhead, workspace buffers, the backward pass's temporary tensors, max-pool indices and
dropout masks are not included; the tests check the activation term against the bytes autograd
actually saves (within 35%).
"""

from __future__ import annotations

from explorer.architecture.profiling import BYTES_PER_VALUE, Profile

#: Optimizer name -> state values kept per trainable parameter.
OPTIMIZER_STATES: dict[str, int] = {"SGD": 0, "SGD with momentum": 1, "Adam": 2}


def training_memory(prof: Profile, optimizer: str = "Adam", batch_size: int = 1) -> dict[str, int]:
    """Bytes per component for one training step.

    Args:
        prof: a profile (any batch size; activations are rescaled to `batch_size`).
        optimizer: a key of `OPTIMIZER_STATES`.
        batch_size: images per step.

    Returns:
        {"weights", "gradients", "optimizer state", "activations"} in bytes.
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}.")
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    per_image = (prof.activation_bytes + prof.input_bytes) / prof.batch_size
    return {
        "weights": prof.params * BYTES_PER_VALUE,
        "gradients": prof.trainable_params * BYTES_PER_VALUE,
        "optimizer state": OPTIMIZER_STATES[optimizer] * prof.trainable_params * BYTES_PER_VALUE,
        "activations": int(round(per_image * batch_size)),
    }
