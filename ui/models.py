"""Models shared by every session, and what they compute on the gallery and the students' photos.

The models themselves live in the process's one store (`explorer.models.store`: loaded once, never
mutated, within a memory budget). Here: loading a model in the background while the page says so, the
server-wide caches of what the pages compute with them, and how model pickers name them.

Issue 17: a first switch to a large model (VGG-16 builds 138 M parameters) took seconds on the page's
script thread. It now loads on one background thread (at the priority of background work), and the
page shows which model is loading until it is there, then reruns itself.
"""

from __future__ import annotations

import hashlib
from typing import Callable, TypeVar

import streamlit as st
from PIL import Image

from explorer.filters import feature_maps
from explorer.models import store, zoo
from explorer.models import layers
from explorer.models import weights
from explorer.models import registry
from explorer.training.config import CUSTOM
from ui import background

T = TypeVar("T")


#: Seconds a page waits for a model load before it shows the loading message instead (most loads are faster; a
#: run that waited 1 s for a large one made the zoo's slowest reruns under a class of 30 take 1.0-1.25 s).
QUICK_LOAD_S = 0.5


@st.cache_resource(show_spinner=False)
def _loads() -> background.Keyed:
    """Model loads, one at a time: each builds a whole network (most of it C, with the GIL released).

    No finished load is kept here (keep=0): the model store holds the models within its byte budget, and a
    future kept here would hold its model after the store dropped it (64 kept loads held every zoo model: the
    web process reached 5 GiB under a class)."""
    return background.Keyed(background.pool(1, "model-load"), keep=0)


def loaded_model(name: str, pretrained: bool = True) -> zoo.LoadedModel:
    """The server-wide shared copy of a zoo model (see `explorer.models.zoo.load`); never mutate it.

    When it is not loaded yet, it loads in the background: the page says which model is loading and
    stops there (`st.stop`), and reruns by itself once the model is there.

    Raises:
        ValueError: an unknown model name.
    """
    loaded = store.shared().cached(name, pretrained)
    if loaded is not None:
        return loaded
    entry = registry.info(name)
    future = _loads().submit((name, pretrained), store.shared().get, name, pretrained)
    if background.ready(future, QUICK_LOAD_S):
        return future.result()
    size = f", {entry.num_params / 1e6:.0f} M parameters" if entry.num_params else ""
    background.rerun_when_done(future, f"Loading {entry.title}{size} (once per server: every student then shares "
                                       "it). The page continues by itself when it is ready:")
    st.stop()


@st.cache_resource(max_entries=256, show_spinner=False)
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
    loaded = store.shared().get(name)
    return shared(("predictions", store.shared().stamp(name), key, k), lambda: zoo.predict(loaded, image, k=k))


@st.cache_resource(max_entries=32, show_spinner=False)
def layer_table(name: str) -> list[layers.LayerInfo]:
    """`layers.layer_table` of a shared model (meta-device shapes, no compute)."""
    return layers.layer_table(store.shared().get(name))


@st.cache_resource(max_entries=24, ttl=3600, show_spinner="Running the network…")  # VGG conv1 maps are 13 MB
def _analysis(stamp: str, key: str, layer: str, _loaded: zoo.LoadedModel,
              _image: Image.Image) -> feature_maps.FeatureResult:
    with store.shared().lock(_loaded.name):  # the hook is attached to the model every session shares
        return feature_maps.analyse(_loaded, _image, layer)


def analysis(name: str, key: str, layer: str, image: Image.Image) -> feature_maps.FeatureResult:
    """Feature maps of `layer` and the top-5 of one picture (identified by `key`), once per server and build.

    Returned as shared, read-only arrays (a cache_resource hit costs no copy, unlike cache_data).
    The store is used directly (no spinner inside a cached function): pages call `loaded_model`
    first, which shows the wait.
    """
    loaded = store.shared().get(name)
    return _analysis(store.shared().stamp(name), key, layer, loaded, image)


def output_spread(name: str, key: str, image: Image.Image) -> tuple[float, float, int]:
    """(smallest, largest) class probability of a shared model on one picture, and the number of classes:
    what an untrained model's output is (`untrained_output`), once per server and model build."""
    loaded = store.shared().get(name)

    def build() -> tuple[float, float, int]:
        probs = zoo.class_probabilities(loaded, image)
        return float(probs.min()), float(probs.max()), probs.numel()

    return shared(("output spread", store.shared().stamp(name), key), build)


#: How model pickers name the network built on the Architectures page (its value is `CUSTOM`).
CUSTOM_LABEL = "your network (from the Architectures page)"

def picker_label(name: str) -> str:
    """How model pickers show `name`: marked when it has no weights here ("resnet18 (untrained here)")."""
    return name if weights.available(name) else f"{name} (untrained here)"


def model_label(name: str) -> str:
    """How model pickers show `name`: `picker_label`, or `CUSTOM_LABEL` for the Architectures page's network."""
    return CUSTOM_LABEL if name == CUSTOM else picker_label(name)


def model_picker(label: str, names: list[str], key: str, default: str = registry.DEFAULT_MODEL,
                 format_func: Callable[[str], str] = model_label, on_change: Callable[[], None] | None = None,
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


def untrained_output(title: str, low: float, high: float, n: int) -> str:
    """What an untrained model's output is, for a page that would otherwise show a top-5 (markdown).

    Args:
        low, high: the smallest and largest of its `n` class probabilities.
    """
    spread = (f"all {n:,} classes tie at {high:.2%}" if high - low < 1e-6 else
              f"its {n:,} class probabilities lie between {low:.3%} and {high:.3%}")
    return (f"**{title} is untrained here, so it makes no prediction.** With random weights {spread} (an even "
            f"spread would give each 1/{n:,} = {1 / n:.3%}); whichever class comes out on top is an accident of the "
            "random weights, not something the network saw in the picture.")
