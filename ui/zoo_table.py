"""The model zoo's table of every architecture: torchvision's metadata, and live counts where it has none.

LeNet-5 and EfficientNet-Lite are not torchvision models, so torchvision has no parameter or multiply-add figures
for them. They are counted here as the Architectures page counts them (`ui.architectures.sections.crop_profile`:
batch 1 at the model's crop size, on the meta device), so both pages show the same numbers.
"""

from __future__ import annotations

import pandas as pd

from explorer.models import registry
from ui.architectures.sections import crop_profile


def architecture_rows(names: list[str]) -> pd.DataFrame:
    """One row per registry model: title, year, input size, parameters (millions), GMACs, top-1, summary.

    Parameters and GMACs come from torchvision's metadata, or are counted live when the metadata has none.
    """
    rows = []
    for entry in map(registry.info, names):
        params, gmacs = entry.num_params, entry.gmacs
        if params is None or gmacs is None:
            prof = crop_profile(entry.name)
            params = prof.params if params is None else params
            gmacs = prof.macs / 1e9 if gmacs is None else gmacs
        rows.append({"model": entry.title, "year": entry.year, "input (px)": entry.input_size,
                     "parameters (M)": params / 1e6, "GMACs": gmacs, "ImageNet top-1 (%)": entry.top1,
                     "what it introduced": entry.summary})
    return pd.DataFrame(rows)
