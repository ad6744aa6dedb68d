"""Models shared by every session, and what they compute on the gallery and the students' photos.

DESIGN.md section 6: shared models are loaded once per server and never mutated; a page that
attaches hooks (feature maps, captum) holds `model_lock(name)` while they are attached, and
training copies the model first.

Models are kept within a memory budget (`CNN_EXPLORER_MODEL_MB`, 800 MB by default), least
recently used first out, rather than a fixed number of entries: 23 architectures from 0.2 MB
(LeNet-5) to 548 MB (VGG-19) cannot all stay, and a count limit let a class that picks models at
random rebuild them all the time (issue 10). Each model is built once however many sessions ask
for it at the same moment; the student who asked waits behind a spinner that names the model and
counts the seconds, and the other students' pages keep running (a build is one torch thread).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Callable, TypeVar

import streamlit as st
from PIL import Image

from explorer import features, zoo

T = TypeVar("T")

#: Bytes of parameters the server keeps loaded before it drops the least recently used model.
MODEL_BUDGET = int(os.environ.get("CNN_EXPLORER_MODEL_MB", "800")) * 2**20


class ModelStore:
    """Loaded models by (name, pretrained), least recently used first out past `budget` bytes.

    Thread-safe: one load per key at a time; callers of a key being loaded wait for it.
    The most recently used model always stays, whatever its size.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._models: OrderedDict[tuple[str, bool], zoo.LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, bool], threading.Lock] = {}
        self._loads: dict[tuple[str, bool], int] = {}

    def cached(self, name: str, pretrained: bool = True) -> zoo.LoadedModel | None:
        """The model if it is loaded (and mark it used), else None. Never blocks on a load."""
        with self._lock:
            loaded = self._models.get((name, pretrained))
            if loaded is not None:
                self._models.move_to_end((name, pretrained))
            return loaded

    def get(self, name: str, pretrained: bool = True) -> zoo.LoadedModel:
        """The model, loading it with `explorer.zoo.load` if needed (ValueError for an unknown name)."""
        key = (name, pretrained)
        loaded = self.cached(*key)
        if loaded is not None:
            return loaded
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per key; the others wait here, then find it loaded
            loaded = self.cached(*key)
            if loaded is None:
                loaded = zoo.load(name, pretrained=pretrained)
                with self._lock:
                    self._models[key] = loaded
                    self._loads[key] = self._loads.get(key, 0) + 1
                    self._evict()
        return loaded

    def stamp(self, name: str, pretrained: bool = True) -> str:
        """"resnet18#2": which load of a model is current, for cache keys. An untrained model gets new
        random weights each time it is built again after eviction, so results cached for the old
        build must not be shown with the new one."""
        with self._lock:
            return f"{name}#{self._loads.get((name, pretrained), 0)}"

    def loaded(self) -> list[tuple[str, bool]]:
        """Keys of the models held, least recently used first."""
        with self._lock:
            return list(self._models)

    def _evict(self) -> None:  # with self._lock held
        while len(self._models) > 1 and sum(map(model_bytes, self._models.values())) > self.budget:
            self._models.popitem(last=False)


def model_bytes(loaded: zoo.LoadedModel) -> int:
    """Bytes of the model's parameters and buffers."""
    tensors = [*loaded.model.parameters(), *loaded.model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@st.cache_resource
def model_store() -> ModelStore:
    """The server's one store of shared models."""
    return ModelStore(MODEL_BUDGET)


def loaded_model(name: str, pretrained: bool = True) -> zoo.LoadedModel:
    """The server-wide shared copy of a zoo model (see `explorer.zoo.load`); never mutate it.

    When it is not loaded yet, the student sees which model is being built and for how long.
    """
    store = model_store()
    loaded = store.cached(name, pretrained)
    if loaded is not None:
        return loaded
    entry = zoo.info(name)
    size = f", {entry.num_params / 1e6:.0f} M parameters" if entry.num_params else ""
    with st.spinner(f"Loading {entry.title}{size}… (once per server: every student then shares it)",
                    show_time=True):
        return store.get(name, pretrained)


@st.cache_resource
def model_lock(name: str) -> threading.Lock:
    """One lock per model name, for work that attaches hooks to the shared model."""
    return threading.Lock()


@st.cache_resource(max_entries=96, show_spinner=False)
def shared(key: tuple, _build: Callable[[], T]) -> T:
    """`_build()` computed once per server for `key`, then shared read-only by every session.

    `key` names everything the result depends on, starting with what it is, e.g.
    ("feature grid", model, image key, layer, channels, overlay): the builder itself is not hashed.
    For figures and arrays that many students draw alike (the gallery photos, the default layers).
    """
    return _build()


def image_key(image: Image.Image) -> str:
    """A short fingerprint of an image's pixels, for caching results per picture (SHA-1 of the bytes)."""
    return hashlib.sha1(image.tobytes()).hexdigest()[:16] + f"{image.size}{image.mode}"


def predictions(name: str, key: str, image: Image.Image, k: int = 5) -> list[tuple[str, float]]:
    """`zoo.predict` of a shared model on one picture (identified by `key`), once per server and model build."""
    loaded = model_store().get(name)
    return shared(("predictions", model_store().stamp(name), key, k), lambda: zoo.predict(loaded, image, k=k))


@st.cache_resource(max_entries=32, show_spinner=False)
def layer_table(name: str) -> list[features.LayerInfo]:
    """`features.layer_table` of a shared model (meta-device shapes, no compute)."""
    return features.layer_table(model_store().get(name))


@st.cache_resource(max_entries=24, ttl=3600, show_spinner="Running the network…")  # VGG conv1 maps are 13 MB
def _analysis(stamp: str, key: str, layer: str, _loaded: zoo.LoadedModel,
              _image: Image.Image) -> features.FeatureResult:
    with model_lock(_loaded.name):  # the hook is attached to the model every session shares
        return features.analyse(_loaded, _image, layer)


def analysis(name: str, key: str, layer: str, image: Image.Image) -> features.FeatureResult:
    """Feature maps of `layer` and the top-5 of one picture (identified by `key`), once per server and build.

    Returned as shared, read-only arrays (a cache_resource hit costs no copy, unlike cache_data).
    The store is used directly (no spinner inside a cached function): pages call `loaded_model`
    first, which shows the wait.
    """
    loaded = model_store().get(name)
    return _analysis(model_store().stamp(name), key, layer, loaded, image)


def output_spread(name: str, key: str, image: Image.Image) -> tuple[float, float, int]:
    """(smallest, largest) class probability of a shared model on one picture, and the number of classes:
    what an untrained model's output is (`zoo.untrained_output`), once per server and model build."""
    loaded = model_store().get(name)

    def build() -> tuple[float, float, int]:
        probs = zoo.class_probabilities(loaded, image)
        return float(probs.min()), float(probs.max()), probs.numel()

    return shared(("output spread", model_store().stamp(name), key), build)


def model_picker(label: str, names: list[str], key: str, default: str = zoo.DEFAULT_MODEL,
                 format_func: Callable[[str], str] = zoo.picker_label, on_change: Callable[[], None] | None = None,
                 **kwargs) -> str:
    """A model selectbox that marks the models without weights here ("resnet18 (untrained here)"), with the
    plain name in the URL (?key=resnet18), so that a shared link means the same model on every machine.

    Streamlit's bind="query-params" would write the displayed label to the URL, and the label depends on
    the weights this machine has, so the binding is done here: the URL's value is read when the widget
    starts, and the current value is written back on every run (nothing when it is the default).
    Extra keyword arguments go to `st.selectbox` (help=...).
    """
    url = st.query_params.get(key)
    if st.session_state.get(key) not in names:
        st.session_state[key] = url if url in names else default
    name = st.selectbox(label, names, key=key, format_func=format_func, on_change=on_change, **kwargs)
    if name == default:
        if key in st.query_params:
            del st.query_params[key]
    elif url != name:
        st.query_params[key] = name
    return name
