"""Profiles of registry models, a side-by-side table of them, and ratios between two of them.

Every figure is computed live with `explorer.architecture.profiling.profile` on the meta device (no weights are
allocated); accuracy comes from torchvision's metadata (`registry.info(name).top1`).
"""

from __future__ import annotations

from typing import Callable

import pandas as pd
import torch

from explorer.architecture.profiling import Profile, profile
from explorer.models import registry


MAX_SIZE, MAX_BATCH = 2048, 512  # pixels, images: larger inputs only slow the meta-device profile down


def profile_model(name: str, input_size: int | None = None, batch_size: int = 1) -> Profile:
    """Profile a registry model on the meta device.

    Args:
        name: a name from `registry.list_models()`.
        input_size: side of the square input in pixels; None means the weights' crop size.
        batch_size: inputs per batch.

    Raises:
        ValueError: unknown name, a size or batch out of range (MAX_SIZE, MAX_BATCH), or an input too
            small for the architecture (the message names the layer).
    """
    entry = registry.info(name)
    size = entry.input_size if input_size is None else input_size
    if size != int(size) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"The input size must be a whole number of pixels from 1 to {MAX_SIZE:,} (it is {size:,}).")
    if batch_size != int(batch_size) or not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"The batch size must be a whole number from 1 to {MAX_BATCH} (it is {batch_size:,}).")
    size = int(size)
    with torch.device("meta"):
        model = registry.build(name)
    try:
        return profile(model, (entry.in_channels, size, size), batch_size=int(batch_size))
    except ValueError as exc:
        raise ValueError(f"{entry.title} cannot take a {size}×{size} input: {exc}") from None


def compare(names: list[str], progress: Callable[[int, int, str], None] | None = None,
            profiler: Callable[[str], Profile] = profile_model) -> pd.DataFrame:
    """One row per model, profiled at its crop size with batch 1.

    Args:
        names: registry names, in the order wanted.
        progress: called as `progress(done, total, name)` before each model is profiled.
        profiler: `name -> Profile` at the crop size and batch 1 (a server passes its shared cache).

    Returns:
        DataFrame with columns name, model, year, input (px), params, MACs, activation bytes,
        ImageNet top-1 (%) (None when torchvision has no metadata).
    """
    rows = []
    for i, name in enumerate(names):
        if progress is not None:
            progress(i, len(names), name)
        entry = registry.info(name)
        prof = profiler(name)
        rows.append({"name": name, "model": entry.title, "year": entry.year, "input (px)": entry.input_size,
                     "params": prof.params, "MACs": prof.macs, "activation bytes": prof.activation_bytes,
                     "ImageNet top-1 (%)": entry.top1})
    if progress is not None:
        progress(len(names), len(names), "")
    return pd.DataFrame(rows)


def ratios(table: pd.DataFrame, numerator: str, denominator: str) -> dict[str, float]:
    """How many times `numerator`'s activation memory, params and MACs are `denominator`'s.

    Args:
        table: the frame `compare()` returns, holding both names.
        numerator, denominator: registry names, e.g. "vgg16" and "alexnet".

    Returns:
        {"activation memory": x, "params": y, "MACs": z}.
    """
    by = table.set_index("name")
    for name in (numerator, denominator):
        if name not in by.index:
            raise ValueError(f"{name!r} is not in the comparison; add it to the selection first.")
    a, b = by.loc[numerator], by.loc[denominator]
    return {"activation memory": a["activation bytes"] / b["activation bytes"],
            "params": a["params"] / b["params"], "MACs": a["MACs"] / b["MACs"]}
