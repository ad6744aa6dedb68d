"""A training configuration read from JSON someone else wrote (a model zip's config.json), field by field.

`TrainConfig.from_dict` trusts its input: `"epochs": "x"` would reach the trainer as a string and
`"custom_net": 5` as a number, and fail later with a TypeError or an AttributeError. Here every field is
checked for its type and range first, and a wrong one gets one sentence that names it (a ValueError, the
only error the Transfer-learning page catches). Unknown fields are ignored, as `from_dict` does, so that a
file from a newer version still loads. This module never imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from explorer.models import budget
from explorer.training.augment import Augment
from explorer.training.config import OPTIMIZERS, STRATEGIES, TrainConfig

#: (lowest, highest) of each number field; the trainer's own limits (`TrainConfig.check`) and the widgets'.
RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, 1000), "batch_size": (1, 1024), "lr": (1e-8, 10.0), "backbone_lr": (1e-8, 10.0),
    "weight_decay": (0.0, 1.0), "seed": (0, 2**32 - 1), "finetune_blocks": (1, 1000),
}
AUGMENT_RANGES: dict[str, tuple[float, float]] = {
    "rotation": (0.0, 180.0), "width_shift": (0.0, 1.0), "height_shift": (0.0, 1.0), "shear": (0.0, 90.0),
    "zoom": (0.0, 0.99), "colour": (0.0, 1.0), "channel_shift": (0.0, 255.0),
}
WHOLE = {"epochs", "batch_size", "seed", "finetune_blocks"}


def _shown(value: Any) -> str:
    """A short form of a JSON value for a message (a file may carry kilobytes in one field)."""
    text = repr(value)
    return text if len(text) <= 30 else text[:29] + "…"


def _number(where: str, name: str, value: Any, low: float, high: float, whole: bool) -> float | int:
    """`value` if it is a JSON number (a whole one if `whole`) within [low, high], else ValueError."""
    kind = "a whole number" if whole else "a number"
    ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if (isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value))
            or not low <= value <= high):
        raise ValueError(f"{where} “{name}” must be {kind} from {low:g} to {high:g}, not {_shown(value)}.")
    return value


def _augment(value: Any) -> Augment:
    where = "config.json's augmentation setting"
    if not isinstance(value, dict):
        raise ValueError(f"config.json's “augment” must be an object of augmentation settings, not {_shown(value)}.")
    kept = {}
    for f in fields(Augment):
        if f.name not in value:
            continue
        v = value[f.name]
        if f.type in (bool, "bool"):
            if not isinstance(v, bool):
                raise ValueError(f"{where} “{f.name}” must be true or false, not {_shown(v)}.")
            kept[f.name] = v
        else:
            kept[f.name] = float(_number(where, f.name, v, *AUGMENT_RANGES[f.name], whole=False))
    return Augment(**kept)


def config_from_json(data: Any) -> TrainConfig:
    """The TrainConfig that a model file's `config` object describes, every field checked for type and range.

    Missing fields take TrainConfig's defaults; `TrainConfig.check()` then checks how they fit together (a
    known backbone, a custom network within `explorer.models.budget`, ...).

    Raises:
        ValueError: one sentence naming the first wrong field.
    """
    if not isinstance(data, dict):
        raise ValueError(f"config.json's “config” must be an object of training settings, not {_shown(data)}.")
    kept: dict[str, Any] = {}
    where = "config.json's setting"
    for name in ("backbone", "strategy", "optimizer"):
        if name in data:
            if not isinstance(data[name], str) or len(data[name]) > 100:
                raise ValueError(f"{where} “{name}” must be a name, not {_shown(data[name])}.")
            kept[name] = data[name]
    if kept.get("strategy", "scratch") not in STRATEGIES:
        raise ValueError(f"{where} “strategy” must be one of {', '.join(STRATEGIES)}.")
    if kept.get("optimizer", "adam") not in OPTIMIZERS:
        raise ValueError(f"{where} “optimizer” must be one of {', '.join(OPTIMIZERS)}.")
    for name, (low, high) in RANGES.items():
        if name in data:
            kept[name] = _number(where, name, data[name], low, high, whole=name in WHOLE)
    if "augment" in data:
        kept["augment"] = _augment(data["augment"])
    if data.get("custom_net") is not None:
        net = data["custom_net"]
        if not isinstance(net, str) or len(net) > budget.MAX_TEXT + 40:
            raise ValueError(f"{where} “custom_net” must be a network written as text (1x28x28:Conv2d-…), "
                             f"not {_shown(net)}.")
        kept["custom_net"] = net
    return TrainConfig(**kept)
