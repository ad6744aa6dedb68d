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
import zlib

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from explorer.training import safetensors_header as header
from explorer.training import trainer
from explorer.training.classifier import TrainedModel
from explorer.training.config import TrainConfig
from explorer.training.config_json import config_from_json

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


#: Most classes a model file may name, and the longest class name (a zip of folders rarely has more than 20).
MAX_CLASSES, MAX_CLASS_NAME = 1000, 200
#: Everything a broken or hostile zip can raise while it is opened and read (RecursionError: JSON nested
#: thousands deep; NotImplementedError: an unknown compression method; RuntimeError: an encrypted member).
_UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
               UnicodeDecodeError, RecursionError, NotImplementedError, RuntimeError)
_NOT_OURS = "This is not a model zip downloaded from the Transfer-learning page."


class ModelFileError(ValueError):
    """What is wrong with a model zip, in one sentence."""


def _info(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name)
    except KeyError:
        raise ModelFileError(f"The model zip has no {name}; download a model from this page and upload that zip.") from None


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = _info(zf, name)
    if info.file_size > limit:
        raise ModelFileError(f"{name} in the model zip is too large ({info.file_size / 1e6:.0f} MB).")
    with zf.open(info) as handle:
        return handle.read(limit + 1)[:limit]


def _classes(meta: dict) -> list[str]:
    classes = meta.get("classes")
    if (not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_CLASS_NAME for c in classes)
            or len(set(classes)) != len(classes)):
        raise ValueError(f"config.json must list 2 to {MAX_CLASSES:,} different class names of 1 to "
                         f"{MAX_CLASS_NAME} characters.")
    return classes


def _expected_weights(config: TrainConfig, classes: list[str]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The tensors (dtype, shape) the model of `config` has, from a copy built on the meta device."""
    with torch.device("meta"):
        model, _, _ = trainer.architecture(config.backbone, len(classes), pretrained=False, custom=config.custom_net)
    return header.expected(model.state_dict())


def import_model(data: bytes) -> TrainedModel:
    """Rebuild a TrainedModel from `export_model`'s zip, treating the file as hostile.

    config.json is checked field by field (`config_json.config_from_json`), then the safetensors header
    against the tensors that configuration's model has, on the meta device, and against a byte budget
    (`safetensors_header`): only then is the model built and are its weights read.

    Raises:
        ValueError: one sentence, whatever is wrong with the file (the page catches ValueError only).
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ValueError(f"The model file is {len(data) / 1e6:.0f} MB; the limit is {MAX_IMPORT_BYTES / 1e6:.0f} MB.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        meta = json.loads(_read(zf, "config.json", 1_000_000))
    except ModelFileError:
        raise
    except _UNREADABLE:
        raise ModelFileError(_NOT_OURS) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"config.json does not describe a model of this app (its “format” is not {FORMAT!r}).")
    classes = _classes(meta)
    config = config_from_json(meta.get("config"))
    config.check()
    note = meta.get("weights_note")
    note = note[:300] if isinstance(note, str) else ""
    want = _expected_weights(config, classes)
    label = f"{config.backbone_label} with {len(classes)} classes"
    try:
        info = _info(zf, "model.safetensors")
        with zf.open(info) as handle:
            found, start = header.read_header(handle, info.file_size)
        header.check_header(found, start, info.file_size, want, label)
        state = st_load(_read(zf, "model.safetensors", info.file_size))
    except (ModelFileError, header.HeaderError):
        raise
    except Exception:  # noqa: BLE001 - a damaged member (zlib, CRC) or anything the safetensors parser raises
        raise ModelFileError("model.safetensors is damaged and cannot be read.") from None
    model, _, _ = trainer.architecture(config.backbone, len(classes), pretrained=False, custom=config.custom_net)
    model.load_state_dict(state, strict=True)  # the header named exactly these tensors, dtypes and shapes
    return TrainedModel(model.eval(), classes, config, note)
