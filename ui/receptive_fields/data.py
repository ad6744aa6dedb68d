"""The receptive-fields page's network and its cached results (fields, notes, layer maps, effective fields).

The network is a zoo model or the one built on the Architectures page (`st.session_state["custom_network"]`,
or `rf_net` in a shared address). Either must fit `explorer.models.budget` before any weight is built: a custom
network when it is read (`custom_config`), a zoo model at the address's input size before its maps
(`within_budget`). Results are kept server-wide (read-only, no copy on a hit): fields once per (network, input
size) in `ui.models.shared`, read from a copy built on the meta device so that the shared models are never
traced; photo inputs and layer maps per (model build, photo, layer) in a cache bounded by bytes (`arrays`), from
`explorer.receptive_fields.graph.layer_output` on the shared model, which attaches no hook and so needs no lock. Effective fields are Dask tasks in
`ui.shared_tasks`, keyed by (model build, input size, layer, weights, images) and shared by every session.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from PIL import Image
from torch import nn

from explorer.models import budget, custom_net as cn
from explorer.receptive_fields import fields as rf
from explorer.receptive_fields import inputs as rf_inputs, notes as rf_notes
from explorer.randomness import seeded
from explorer.runtime import side_process
from ui import background
from ui.bounded_cache import BoundedCache
from ui.models import image_key, shared
from ui.shared_tasks import Shared, session_id, task_store
from explorer.models import registry
from explorer.receptive_fields import graph as rf_graph
from explorer.receptive_fields import effective
from explorer.training.config import CUSTOM
from explorer.models import store

CUSTOM_TITLE = "Your network (Architectures page)"
URL_LIMIT = 1500  # characters of rf_net kept in the address
DEFAULT_COMPARE = ["vgg16", "resnet50"]  # networks drawn beside the chosen one at first


@dataclass(frozen=True)
class Net:
    """The network the page shows.

    Attributes:
        key: a zoo name, or CUSTOM.
        title: display name.
        side: input (rows, cols) in pixels.
        inputs: how a photo becomes its input.
        config: the custom network as text (`custom_net.to_config`), None for zoo models.
    """

    key: str
    title: str
    side: tuple[int, int]
    inputs: rf_inputs.InputSpec
    config: str | None = None


def title(key: str) -> str:
    return CUSTOM_TITLE if key == CUSTOM else registry.info(key).title


def custom_config() -> tuple[str | None, str | None]:
    """(text, None): the Architectures page's network as text, from this session, else from the address (a
    shared link). (None, why) when it has an invalid layer or is over the budget; (None, None) without one."""
    spec, shape = st.session_state.get("custom_network"), st.session_state.get("custom_network_input")
    text = st.query_params.get("rf_net")
    if spec and shape:
        try:
            text = cn.to_config(spec, shape)
        except ValueError as exc:
            return None, str(exc)
    if not text:
        return None, None
    try:
        cn.from_config(text)  # readable, builds, and fits the budget (on the meta device)
    except ValueError as exc:
        return None, str(exc)
    return text, None


def within_budget(net: Net) -> None:
    """Raise `budget.BudgetError` (one sentence) when the network at its input size computes more activation
    values per image than the server's budget; its maps and effective field are then not computed. (A custom
    network's parameters were checked when it was read; a zoo model's weights are the server's own.)"""
    shape = (net.inputs.channels, *net.side)
    fp = shared(("rf footprint", net.key, net.side, net.config),
                lambda: budget.footprint(rf.meta_architecture(None if net.key == CUSTOM else net.key,
                                                                  net.config if net.key == CUSTOM else None), shape))
    budget.check_activations(fp, f"{net.title} at {net.side[0]}×{net.side[1]} px")


@st.cache_resource(max_entries=4, show_spinner=False)
def custom_model(config: str) -> nn.Module:
    """The custom network with random weights (seed 0: the same for everyone), shared server-wide, never mutated."""
    spec, shape = cn.from_config(config)
    with seeded(0):
        return cn.build(spec, shape).eval()


def model(net: Net) -> nn.Module:
    """The network with its weights: the shared zoo model (ImageNet weights where available) or the custom one.

    Pages call `ui.models.loaded_model` first, which shows the wait while a zoo model loads.
    """
    return custom_model(net.config) if net.key == CUSTOM else store.shared().get(net.key).model


def build(net: Net) -> str:
    """Which build of the network's weights results are computed with, for cache keys (an untrained zoo model
    gets new random weights when the store builds it again; the custom network's are fixed by its seed)."""
    return f"custom:{net.config}" if net.key == CUSTOM else store.shared().stamp(net.key)


def random_weights(net: Net) -> nn.Module:
    """The network with random weights, for Luo et al.'s comparison: the shared one when its weights are random
    already (the custom network, seed 0; a zoo model untrained here), else a fresh copy of the architecture
    (seed 0). A copy lives as long as its task: never one of a 500 MB VGG for a link that asks for its field."""
    if net.key == CUSTOM or not store.shared().get(net.key).pretrained:
        return model(net)
    with seeded(0):
        return registry.build(net.key)


def fields(key: str, side: tuple[int, int], config: str | None = None) -> list[rf.LayerRF]:
    """`receptive_fields` of the network at `side`, once per server (a shared, read-only list), traced in the
    side process: tracing is Python throughout and would hold every other session's GIL for 0.1-0.5 s."""
    return shared(("rf fields", key, side, config), lambda: side_process.run(
        rf.architecture_fields, None if key == CUSTOM else key, side, config if key == CUSTOM else None))


def notes(key: str, side: tuple[int, int]) -> list[str]:
    """`rf_notes.notes` for a zoo model at `side`, once per server, in the side process (some notes trace variants
    of the network: Python throughout, 0.1-0.3 s)."""
    if key == CUSTOM:
        return []
    return shared(("rf notes", key, side), lambda: side_process.run(rf_notes.notes, key, fields(key, side)))


def prepared(net: Net, photo: str, image: Image.Image) -> tuple[torch.Tensor, np.ndarray]:
    """(input [1, C, H, W], what the network sees as uint8 [H, W, 3]) for the photo whose `image_key` is `photo`.

    Raises ValueError when the network does not read photos (neither 1 nor 3 input channels).
    """
    def prepare() -> tuple[torch.Tensor, np.ndarray]:
        x = rf_inputs.preprocess(net.inputs, [image])
        return x, rf_inputs.to_pixels(net.inputs, x[0])

    return arrays().get(("rf input", net.key, net.side, net.config, photo), prepare,
                        lambda pair: pair[0].nbytes + pair[1].nbytes)


#: Server-wide bytes of photo inputs and of layer maps kept between runs (each): their size follows the
#: address's input size (a VGG-16 first-layer map is 13 MB at 224 px, 43 MB at 408 px), so they are bounded
#: by bytes, not by count.
ARRAYS_MB = 128


@st.cache_resource(show_spinner=False)
def arrays() -> BoundedCache:
    """This process's cache of the page's photo inputs (`ui.bounded_cache`)."""
    return BoundedCache(ARRAYS_MB * 2**20)


@st.cache_resource(show_spinner=False)
def _maps() -> background.Keyed:
    """Layer outputs computed on the background threads, the finished ones kept within ARRAYS_MB."""
    return background.Keyed(background.executor(), max_bytes=ARRAYS_MB * 2**20, size=lambda maps: maps.nbytes)


def layer_maps(net: Net, photo: str, layer: str, x: torch.Tensor) -> Future:
    """The forward pass to `layer` for the input `x` of the photo `photo`, on the background threads (a new layer,
    input size or photo runs part of the network): its result is float32 [C, H', W'], shared and read-only."""
    return _maps().submit(("rf maps", build(net), net.side, photo, layer),
                          lambda: rf_graph.layer_output(model(net), layer, x)[0].float().numpy())


def erf_key(net: Net, layer: str, trained: bool, images_key: str) -> tuple:
    """What an effective field is computed from: the weights' build (or, for random weights, the
    architecture), input size, layer and the images (`images_key`)."""
    return ("rf erf", build(net) if trained else net.key, net.side, net.config, layer, trained, images_key)


def effective_field(net: Net, layer: str, trained: bool, images_key: str, photos: list[Image.Image],
                    again: bool = True) -> Shared:
    """The shared Dask task computing `explorer.receptive_fields.fields.effective_rf` of `layer`'s centre unit, with
    the network's weights (`trained`) or random ones (`random_weights`), over the images of `images_key`.

    A running or finished task is joined (this session watches it); otherwise a task is started with the model
    and the `photos` (shared objects: the task preprocesses them one at a time). One that was stopped or failed
    is started again only when `again` (the student asked anew; not when the page merely redraws it, which
    would loop).
    """
    key = erf_key(net, layer, trained, images_key)
    found = task_store().join(key, session_id())
    if found is not None and found.task is not None and (found.error is None or not again):
        return found
    network = model(net) if trained else random_weights(net)
    weights = "trained" if trained else "random"
    return task_store().start(key, f"Effective receptive field ({weights} weights)", effective.effective_rf_of_photos,
                              network, layer, net.inputs, photos, watcher=session_id())


#: Seconds the warm start waits for one layer's maps (a fraction of a second on an idle core).
WARM_TIMEOUT_S = 60.0


def warm(photos: dict[str, list[str]]) -> None:
    """What the page shows first, computed before anyone asks (`ui.warm.before_serving`): the fields and notes of
    the networks compared by default and of each zoo model in `photos`, and that model's default layer's maps of
    its gallery photos there (model name -> gallery photo names)."""
    from explorer import images  # noqa: PLC0415

    for other in DEFAULT_COMPARE:
        fields(other, (registry.info(other).input_size,) * 2)
    for name, names in photos.items():
        side = registry.info(name).input_size
        net = Net(name, registry.info(name).title, (side, side), rf_inputs.zoo_input(name, side))
        layer = rf.default_layer(fields(net.key, net.side))
        notes(net.key, net.side)
        for photo_name in names:
            photo = images.sample_image(photo_name)
            key = image_key(photo)
            layer_maps(net, key, layer, prepared(net, key, photo)[0]).result(timeout=WARM_TIMEOUT_S)
