"""Hostile model zips (explorer.training.model_io): each one gets one ValueError sentence, and nothing is allocated
for weights before the file's header has been checked against the model it claims to be."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import pytest
import torch

from explorer.training import model_io, trainer
from explorer.training.classifier import TrainedModel
from explorer.training.config import TrainConfig

CLASSES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def good() -> tuple[dict, bytes]:
    """(config.json as a dict, model.safetensors bytes) of an untrained LeNet-5 with 3 classes."""
    config = TrainConfig("lenet5", "scratch", epochs=1)
    model, _, _ = trainer.architecture("lenet5", len(CLASSES), pretrained=False)
    blob = model_io.export_model(TrainedModel(model.eval(), CLASSES, config, "random weights"))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read("config.json")), zf.read("model.safetensors")


def _zip(members: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _with(good, weights: bytes | None = None, **changes) -> bytes:
    """The good zip with config.json's top-level fields (or, as config__epochs=..., its "config" fields) changed."""
    meta = json.loads(json.dumps(good[0]))
    for key, value in changes.items():
        if key.startswith("config__"):
            meta["config"][key.removeprefix("config__")] = value
        else:
            meta[key] = value
    return _zip({"config.json": json.dumps(meta), "model.safetensors": good[1] if weights is None else weights})


def _header(weights: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", weights[:8])
    return json.loads(weights[8:8 + n]), weights[8 + n:]


def _weights(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _retyped(good, name: str, **entry) -> bytes:
    header, data = _header(good[1])
    header[name] = {**header[name], **entry}
    return _weights(header, data)


def _stored_with_method(members: dict[str, bytes], method: int) -> bytes:
    """A stored zip whose members claim compression method `method` (99: AES, which zipfile cannot read)."""
    blob = bytearray(_zip(members, zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (start := blob.find(signature, start)) >= 0:
            blob[start + offset:start + offset + 2] = struct.pack("<H", method)
            start += 4
    return bytes(blob)


def _vgg16_header() -> bytes:
    """A safetensors header that declares exactly VGG-16's tensors (528 MB), and no data."""
    with torch.device("meta"):
        model, _, _ = trainer.architecture("vgg16", len(CLASSES), pretrained=False)
    header, offset = {}, 0
    for name, t in model.state_dict().items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    return _weights(header, b"")


HOSTILE = {
    "not a zip": lambda g: b"not a zip at all",
    "empty zip": lambda g: _zip({}),
    "no config": lambda g: _zip({"model.safetensors": g[1]}),
    "no weights": lambda g: _zip({"config.json": json.dumps(g[0])}),
    "config not JSON": lambda g: _zip({"config.json": "{not json", "model.safetensors": g[1]}),
    "config nested deep": lambda g: _zip({"config.json": "[" * 100_000 + "]" * 100_000, "model.safetensors": g[1]}),
    "config a list": lambda g: _zip({"config.json": "[1, 2]", "model.safetensors": g[1]}),
    "config too large": lambda g: _zip({"config.json": " " * 2_000_000, "model.safetensors": g[1]}),
    "config not UTF-8": lambda g: _zip({"config.json": b"\xff\xfe{}", "model.safetensors": g[1]}),
    "wrong format": lambda g: _with(g, format="something else"),
    "format a dict": lambda g: _with(g, format={"a": 1}),
    "one class": lambda g: _with(g, classes=["only"]),
    "classes a string": lambda g: _with(g, classes="cat,dog"),
    "classes not strings": lambda g: _with(g, classes=[1, 2, 3]),
    "duplicate classes": lambda g: _with(g, classes=["cat", "cat", "dog"]),
    "a million classes": lambda g: _with(g, classes=[str(i) for i in range(100_000)]),
    "no config object": lambda g: _with(g, config=None),
    "epochs text": lambda g: _with(g, config__epochs="x"),
    "epochs true": lambda g: _with(g, config__epochs=True),
    "epochs 1e400": lambda g: _zip({"config.json": json.dumps(g[0]).replace('"epochs": 1', '"epochs": 1e400'),
                                     "model.safetensors": g[1]}),
    "epochs 400 digits": lambda g: _zip({"config.json": json.dumps(g[0]).replace('"epochs": 1', '"epochs": ' + "9" * 400),
                                          "model.safetensors": g[1]}),
    "lr NaN": lambda g: _with(g, config__lr=float("nan")),
    "lr negative": lambda g: _with(g, config__lr=-1),
    "batch a list": lambda g: _with(g, config__batch_size=[16]),
    "custom_net a number": lambda g: _with(g, config__custom_net=5),
    "custom_net huge": lambda g: _with(g, config__backbone="custom", config__custom_net="3x512x512:Flatten_Linear-1000"),
    "custom_net unreadable": lambda g: _with(g, config__backbone="custom", config__custom_net="1x28x28:Bogus-1"),
    "backbone a number": lambda g: _with(g, config__backbone=5),
    "backbone unknown": lambda g: _with(g, config__backbone="[x](http://example.com)"),
    "strategy unknown": lambda g: _with(g, config__strategy="magic"),
    "augment text": lambda g: _with(g, config__augment="lots"),
    "augment flag text": lambda g: _with(g, config__augment={"hflip": "yes"}),
    "augment rotation huge": lambda g: _with(g, config__augment={"rotation": 1e9}),
    "header length huge": lambda g: _with(g, weights=struct.pack("<Q", 2**63) + g[1][8:]),
    "header too short": lambda g: _with(g, weights=b"\x01\x02"),
    "header not JSON": lambda g: _with(g, weights=_weights({}, b"")[:8] + b"{{{{"),
    "header a list": lambda g: _with(g, weights=struct.pack("<Q", 2) + b"[]"),
    "tensor missing": lambda g: _with(g, weights=_weights({k: v for k, v in _header(g[1])[0].items()
                                                          if k != "classifier.5.bias"}, _header(g[1])[1])),
    "tensor unknown": lambda g: _with(g, weights=_weights({**_header(g[1])[0], "evil": {
        "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, _header(g[1])[1])),
    "dtype changed": lambda g: _with(g, weights=_retyped(g, "classifier.5.weight", dtype="F16")),
    "shape changed": lambda g: _with(g, weights=_retyped(g, "classifier.5.weight", shape=[30000, 30000])),
    "offsets text": lambda g: _with(g, weights=_retyped(g, "classifier.5.bias", data_offsets="0-12")),
    "offsets too long": lambda g: _with(g, weights=_retyped(g, "classifier.5.bias", data_offsets=[0, 2**40])),
    "file padded (a bomb)": lambda g: _with(g, weights=g[1] + bytes(50 * 2**20)),
    "file truncated": lambda g: _with(g, weights=g[1][:-100]),
    "weights of another model": lambda g: _with(g, classes=CLASSES + ["fish"]),
    "weights over the byte budget": lambda g: _with(g, weights=_vgg16_header(), config__backbone="vgg16",
                                                    config__strategy="scratch"),
    "compression unsupported": lambda g: _stored_with_method({"config.json": json.dumps(g[0]).encode(),
                                                              "model.safetensors": g[1]}, 99),
    "weights compression unsupported": lambda g: _join_methods(g),
    "crc damaged": lambda g: _damaged_crc(g),
}


def _join_methods(good) -> bytes:
    """config.json readable, model.safetensors claiming an unknown compression method."""
    blob = bytearray(_zip({"config.json": json.dumps(good[0]), "model.safetensors": good[1]}, zipfile.ZIP_STORED))
    start = blob.find(b"PK\x03\x04", 1)  # the second member's local header
    blob[start + 8:start + 10] = struct.pack("<H", 99)
    central = blob.find(b"PK\x01\x02")
    central = blob.find(b"PK\x01\x02", central + 4)
    blob[central + 10:central + 12] = struct.pack("<H", 99)
    return bytes(blob)


def _damaged_crc(good) -> bytes:
    """A stored zip whose model.safetensors bytes were changed after the CRC was written."""
    blob = bytearray(_zip({"config.json": json.dumps(good[0]), "model.safetensors": good[1]}, zipfile.ZIP_STORED))
    at = blob.rfind(good[1][-64:])
    blob[at + 10] ^= 0xFF
    return bytes(blob)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_each_hostile_model_zip_gets_one_sentence(good, case):
    blob = HOSTILE[case](good)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as caught:
            model_io.import_model(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".") and len(message) < 400, message
    assert peak < len(blob) + 80 * 2**20, f"{peak / 2**20:.0f} MB allocated for a {len(blob) / 2**20:.1f} MB zip"


@pytest.mark.parametrize("field, value, words", [
    ("epochs", "x", "“epochs” must be a whole number from 1 to 1000, not 'x'"),
    ("custom_net", 5, "“custom_net” must be a network written as text"),
    ("lr", -1, "“lr” must be a number"),
])
def test_config_fields_are_named_in_the_sentence(good, field, value, words):
    with pytest.raises(ValueError, match=words):
        model_io.import_model(_with(good, **{f"config__{field}": value}))


def test_the_byte_budget_is_checked_before_any_weight_is_read(good):
    with pytest.raises(ValueError, match="MB of weights; models up to 256 MB"):
        model_io.import_model(HOSTILE["weights over the byte budget"](good))
    with pytest.raises(ValueError, match="do not fit lenet5 with 3 classes: the file declares 'classifier.5.weight'"):
        model_io.import_model(HOSTILE["shape changed"](good))


def test_a_good_zip_still_loads(good):
    loaded = model_io.import_model(_with(good))
    assert loaded.classes == CLASSES and loaded.weights_note == "random weights"
