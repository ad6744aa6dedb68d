"""The view a teacher publishes (a page and its address settings) and what a following student's address becomes.

Every setting a page keeps lives in its address, so a view is just (page, query parameters). The
teacher's session publishes its own; each follower's address is the teacher's, with:

- `NEVER_SHARED` keys left out: the class and teacher keys themselves (a teacher secret must never
  reach a student), Streamlit's embed keys, `present` (the projector's layout; guess-first mode is
  shared) and `run` (a training run is its owner's: a follower keeps their own run and never attaches
  to the teacher's);
- the teacher's own photo (`img_src` Upload/Webcam) turned into the gallery: a student without a
  photo of their own follows the teacher's gallery picture;
- `keep`: what the student keeps of their own (their photo's source, their own trained model on
  Attributions, their run), decided by the page layer;
- the class code, so that a reload or a reconnect follows again.

Query parameters are plain `{key: [values]}` dicts (repeated keys carry several values, e.g. a
multiselect). A published view is bounded (`bounded`), because the teacher's address is input too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

Params = dict[str, list[str]]

CLASS_KEY = "class"
TEACHER_KEY = "teacher"
RUN_KEY = "run"
SOURCE_KEY = "img_src"  # the image picker's source (ui/image_picker.py)
MODEL_KEY = "at_model"  # the Attributions page's model (ui/attributions/choice.py)
OWN_SOURCES = ("Upload", "Webcam")
PRESENT_KEY = "present"  # the projector's layout (ui.presenter): the teacher's, not a laptop's
NEVER_SHARED = frozenset({CLASS_KEY, TEACHER_KEY, RUN_KEY, PRESENT_KEY, "embed", "embed_options"})

# Bounds of a published view (a long custom network in the address is 1,500 characters).
MAX_KEYS = 80
MAX_KEY_CHARS = 64
MAX_VALUES = 32
MAX_VALUE_CHARS = 4096
MAX_QUERY_CHARS = 32_768
MAX_PAGE_CHARS = 64


@dataclass(frozen=True)
class View:
    """A teacher's view: the page (its url path, "" for home) and its query parameters.

    Attributes:
        page: the page's url path ("conv", "filters", "" for home).
        params: {key: [values]} without `NEVER_SHARED` keys.
        version: increases with every change the teacher publishes (0: nothing published yet).
        published: when it was published (s since the epoch).
    """

    page: str = ""
    params: Params = field(default_factory=dict)
    version: int = 0
    published: float = 0.0


def parse(query_string: str) -> Params:
    """`a=1&b=2&b=3` as {"a": ["1"], "b": ["2", "3"]} (empty values kept; over-long strings read as empty)."""
    if not isinstance(query_string, str) or len(query_string) > MAX_QUERY_CHARS:
        return {}
    return parse_qs(query_string, keep_blank_values=True)


def encode(params: Mapping[str, list[str]]) -> str:
    """The query string of `params` (keys in sorted order, so equal views encode alike)."""
    return urlencode([(k, v) for k in sorted(params) for v in params[k]])


def bounded(params: Mapping[str, object]) -> Params:
    """`params` as plain {str: [str]}, within the bounds above: over-long keys or values and extra keys dropped."""
    out: Params = {}
    for key, values in params.items():
        if len(out) >= MAX_KEYS:
            break
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            continue
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, (list, tuple)):
            continue
        kept = [v for v in values[:MAX_VALUES] if isinstance(v, str) and len(v) <= MAX_VALUE_CHARS]
        if kept:
            out[key] = kept
    return out


def shared(params: Mapping[str, object]) -> Params:
    """What a teacher publishes of their address: bounded, without `NEVER_SHARED` keys."""
    return {k: v for k, v in bounded(params).items() if k not in NEVER_SHARED}


def valid_page(page: object) -> str | None:
    """A published page path if it is a plain, short path ("conv", "receptive-fields", ""), else None."""
    if not isinstance(page, str) or len(page) > MAX_PAGE_CHARS:
        return None
    return page if all(c.isalnum() or c in "-_" for c in page) else None


def follower_params(teacher: Mapping[str, list[str]], keep: Mapping[str, str], code: str) -> Params:
    """A following student's address parameters: the teacher's (see the module docstring), their own `keep`,
    and the class code.

    >>> follower_params({"img_src": ["Upload"], "fm_layer": ["features.3"]}, {}, "K7MQ2P")
    {'fm_layer': ['features.3'], 'class': ['K7MQ2P']}
    >>> follower_params({"img": ["coffee"]}, {"img_src": "Upload"}, "K7MQ2P")
    {'img': ['coffee'], 'img_src': ['Upload'], 'class': ['K7MQ2P']}
    """
    out = shared(teacher)
    if out.get(SOURCE_KEY, [""])[-1] in OWN_SOURCES:
        del out[SOURCE_KEY]  # the teacher's own photo is in the teacher's session only: the gallery instead
    out.update({k: [v] for k, v in keep.items()})
    out[CLASS_KEY] = [code]
    return out


def same(a: Mapping[str, list[str]], b: Mapping[str, list[str]]) -> bool:
    """True if two parameter dicts say the same (the order of keys does not matter, that of repeated values does)."""
    return {k: list(v) for k, v in a.items()} == {k: list(v) for k, v in b.items()}
