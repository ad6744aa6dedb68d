"""The header of a safetensors file, checked against the tensors a model expects before a byte of weights is read.

A safetensors file is an 8-byte little-endian unsigned length N, N bytes of JSON, then the tensor data:
`{"name": {"dtype": "F32", "shape": [64, 3, 3, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}`,
offsets counted from the first byte after the header. Loading it runs no code, but it does allocate whatever
the header declares: a 50 MB zip can hold a file that declares 800 MB of zeros. So a model file's header is read
alone (at most `MAX_HEADER` bytes), and every tensor must be one the model has, with its dtype and shape,
the data must tile the rest of the file exactly, and the whole must fit `MAX_WEIGHT_BYTES`, before the weights
are loaded. This module never imports streamlit.
"""

from __future__ import annotations

import json
import struct
from typing import IO

import torch

#: Longest header read (the safetensors library allows 100 MB; a classifier's is a few kB per 100 tensors).
MAX_HEADER = 4 * 2**20
#: Most bytes of weights a model file may declare: 64 M float32 values, above the 50 M-parameter cap
#: (`explorer.models.budget.MAX_PARAMS`) and any backbone this page trains.
MAX_WEIGHT_BYTES = 256 * 2**20

#: torch dtype -> safetensors dtype name, and bytes per value.
DTYPES: dict[torch.dtype, tuple[str, int]] = {
    torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2),
    torch.int64: ("I64", 8), torch.int32: ("I32", 4), torch.int16: ("I16", 2), torch.int8: ("I8", 1),
    torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1),
}
DTYPES_BY_NAME = {name: size for name, size in DTYPES.values()}


class HeaderError(ValueError):
    """The header is damaged, or declares tensors the model does not have: the message says which."""


def expected(state: dict[str, torch.Tensor]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{name: (safetensors dtype, shape)} of a state_dict (built on the meta device: nothing is allocated)."""
    return {name: (DTYPES[t.dtype][0], tuple(t.shape)) for name, t in state.items()}


def read_header(handle: IO[bytes], file_size: int) -> tuple[dict, int]:
    """(header JSON, bytes of header including the 8-byte length) of the safetensors file open in `handle`.

    Raises:
        HeaderError: a length that is too large or beyond the file, or a header that is not a JSON object.
    """
    head = handle.read(8)
    if len(head) < 8:
        raise HeaderError("model.safetensors is too short to be a safetensors file.")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER or 8 + length > file_size:
        raise HeaderError(f"model.safetensors declares a header of {length:,} bytes, more than the file or the "
                         f"{MAX_HEADER // 2**20} MB read here.")
    try:
        header = json.loads(handle.read(length))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HeaderError("model.safetensors has a damaged header (not JSON).") from None
    if not isinstance(header, dict):
        raise HeaderError("model.safetensors has a damaged header (not a JSON object).")
    return header, 8 + length


def check_header(header: dict, header_bytes: int, file_size: int,
                 want: dict[str, tuple[str, tuple[int, ...]]], model_name: str) -> int:
    """Check a header (`read_header`) against the tensors `want` (`expected`); return the bytes of data.

    Args:
        header_bytes, file_size: where the data starts, and the file's length (the zip's declared size).
        model_name: how messages name the model ("efficientnet_lite0 with 3 classes").

    Raises:
        HeaderError: one sentence for the first problem: a tensor missing, unknown, of another dtype or
            shape, data offsets that do not tile the file, or more than `MAX_WEIGHT_BYTES`.
    """
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        name, what = (missing[0], "lacks") if missing else (extra[0], "has an unknown tensor")
        raise HeaderError(f"The weights in model.safetensors do not fit {model_name}: the file {what} "
                          f"{name[:60]!r}.")
    spans = []
    for name, (dtype, shape) in want.items():
        entry = tensors[name]
        if not isinstance(entry, dict) or entry.get("dtype") != dtype or entry.get("shape") != list(shape):
            found = (entry.get("dtype"), entry.get("shape")) if isinstance(entry, dict) else entry
            raise HeaderError(f"The weights in model.safetensors do not fit {model_name}: the file declares "
                              f"{name[:60]!r} as {str(found)[:60]} where it needs {dtype} of shape {list(shape)}.")
        offsets = entry.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise HeaderError(f"model.safetensors has damaged offsets for {name[:60]!r}.")
        size = DTYPES_BY_NAME[dtype] * _numel(shape)
        if offsets[1] - offsets[0] != size:
            raise HeaderError(f"model.safetensors gives {name[:60]!r} {offsets[1] - offsets[0]:,} bytes; "
                             f"its shape needs {size:,}.")
        spans.append((offsets[0], offsets[1]))
    total = sum(end - begin for begin, end in spans)
    if total > MAX_WEIGHT_BYTES:
        raise HeaderError(f"model.safetensors declares {total / 2**20:,.0f} MB of weights; models up to "
                         f"{MAX_WEIGHT_BYTES // 2**20} MB are loaded here.")
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise HeaderError("model.safetensors has overlapping or missing data between its tensors.")
        position = end
    if header_bytes + position != file_size:
        raise HeaderError(f"model.safetensors is {file_size:,} bytes long, but its header accounts for "
                         f"{header_bytes + position:,}.")
    return position


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
