"""Export and import a trained classifier: weights as safetensors plus a JSON configuration.

The download is a zip with two files:
- `model.safetensors`: the state_dict (safetensors stores tensors only: loading it runs no code,
  unlike a pickled checkpoint; DESIGN.md section 6);
- `config.json`: `{"format", "backbone", "classes", "config"}`, enough to rebuild the architecture
  (`trainer.architecture`; for a custom network, `config.custom_net` holds its layers) before the
  weights are loaded into it with `strict=True`; and `"run"`, what the page knows of the run that
  trained it (its number, data, epochs, final validation accuracy), which import ignores.
"""

from __future__ import annotations

import io
import json
import zipfile

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from explorer.training import trainer
from explorer.training.config import TrainConfig
from explorer.training.classifier import TrainedModel

FORMAT = "cnn-explorer-classifier/1"
#: Largest model zip accepted on import (EfficientNet-Lite2 is about 20 MB; VGG-16 528 MB is refused).
MAX_IMPORT_BYTES = 200 * 1024 * 1024


def export_model(trained: TrainedModel, run: dict | None = None) -> bytes:
    """The zip (bytes) holding model.safetensors and config.json.

    Args:
        run: JSON-serialisable facts about the run that trained it (e.g. {"number": 3, "id": "5a1e373860", ...}).
    """
    state = {k: v.detach().clone().contiguous() for k, v in trained.model.state_dict().items()}
    meta = {"format": FORMAT, "backbone": trained.config.backbone, "classes": list(trained.classes),
            "config": trained.config.to_dict(), "weights_note": trained.weights_note, "run": run or {}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(meta, indent=2))
        zf.writestr("model.safetensors", st_save(state))
    return buf.getvalue()


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(f"The model zip has no {name}; download a model from this page and upload that zip.") from None
    if info.file_size > limit:
        raise ValueError(f"{name} in the model zip is too large ({info.file_size / 1e6:.0f} MB).")
    with zf.open(info) as handle:
        return handle.read(limit + 1)[:limit]


def import_model(data: bytes) -> TrainedModel:
    """Rebuild a TrainedModel from `export_model`'s zip.

    Raises:
        ValueError: not such a zip, a wrong format, an unknown backbone, or weights that do not fit.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ValueError(f"The model file is {len(data) / 1e6:.0f} MB; the limit is {MAX_IMPORT_BYTES / 1e6:.0f} MB.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        meta = json.loads(_read(zf, "config.json", 1_000_000))
        weights = _read(zf, "model.safetensors", 4 * MAX_IMPORT_BYTES)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise ValueError("This is not a model zip downloaded from the Transfer-learning page.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"Unknown model format {meta.get('format') if isinstance(meta, dict) else None!r}; "
                         f"expected {FORMAT!r}.")
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ValueError("config.json must list at least 2 class names.")
    try:
        config = TrainConfig.from_dict(meta["config"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"config.json has an invalid configuration ({exc}).") from None
    config.check()
    try:
        state = st_load(weights)
    except Exception:  # noqa: BLE001 - any parse error of the safetensors header
        raise ValueError("model.safetensors is damaged and cannot be read.") from None
    model, _, _ = trainer.architecture(config.backbone, len(classes), pretrained=False, custom=config.custom_net)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"The weights do not fit {config.backbone_label} with {len(classes)} classes: "
                         f"{first}") from None
    return TrainedModel(model.eval(), classes, config, str(meta.get("weights_note", "")))
