"""Sections of the filters page (app_pages/filters.py is their table of contents).

The lecture's hand-made kernels on the photo, the filters a real network learned, what each of its
layers sees, and its top-5. Widget keys start with "fk_" (kernels), "ff_" (learned filters) and
"fm_" (the model and its feature maps); all are mirrored in the URL. Figures many students draw
alike are built once per server (`ui.models.shared`), keyed by the model's build.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from explorer.filters import feature_figures as ffig
from explorer.filters import kernel_figures as kfig
from explorer.figures.images import encode
from explorer.filters import feature_maps, kernels
from explorer.models import layers, registry, store, zoo
from ui import guess, presenter
from ui.models import analysis, layer_table, loaded_model, model_picker, shared, untrained_output
from ui.safe_text import md

MODEL_SETTINGS = ("ff_layer", "ff_filter", "fm_layer", "fm_channel")  # layer names and indices of one model


def _forget_model_settings() -> None:
    """Another model: its layers have other names, so the old model's layer settings leave the state and URL."""
    for key in MODEL_SETTINGS:  # dropped from the state, the widgets start at the new model's defaults
        st.session_state.pop(key, None)


def model_choice() -> tuple[str, zoo.LoadedModel, str]:
    """The model picker and where its weights come from: (name, shared model, build stamp for cache keys)."""
    name = model_picker("Model", registry.list_models(), key="fm_model", on_change=_forget_model_settings)
    return name, loaded_model(name), store.shared().stamp(name)


def weights_note(loaded: zoo.LoadedModel) -> None:
    if loaded.pretrained:
        st.success(loaded.weights_note)
    else:
        st.warning(f"{loaded.weights_note} Its filters and feature maps below are those of random weights (noise, "
                   "not learned detectors); pick EfficientNet-Lite0/1/2 to see what a trained network learned.")


def _kernel_steps(image: Image.Image, kernel: np.ndarray, side: int, mode: str, padding: str,
                  pooling: str) -> tuple[dict[str, str], list[tuple[bytes, str]]]:
    """The step sizes, and each step as PNG bytes with how its values map to colours."""
    steps = kernels.lecture_steps(kernels.resize_for_kernels(image, side), kernel, mode, padding, pooling)
    shown = [kfig.step_pixels(a) for a in (steps.image, steps.convolved, steps.rectified, steps.pooled)]
    return steps.sizes(), [(encode(pixels), how) for pixels, how in shown]


@st.fragment
def classic_kernels(image: Image.Image, photo: str) -> None:
    """Lecture 3's kernels on the photo (`photo` is its `image_key`): convolved, rectified, pooled.

    A fragment, as the two sections below: its widgets rerun only this section (issue 17: a click costs the
    server what it redraws)."""
    c1, c2 = st.columns([4, 1])
    kernel_names = [*kernels.KERNELS, "Custom"]
    kernel_name = c1.selectbox("Kernel", kernel_names, index=kernel_names.index("Edge detection (8-neighbour)"),
                               key="fk_kernel", bind="query-params")
    side = c2.selectbox("Image size (px)", [64, 128, 256, 512], index=2, key="fk_size", bind="query-params")
    row = st.container(horizontal=True, gap="medium")  # side by side while they fit, wrapped when not (150% zoom)
    # `or`: an empty address value (?fk_mode=) leaves even a required control empty
    mode = row.segmented_control("Apply", kernels.MODES, default="grayscale", required=True, key="fk_mode",
                                bind="query-params") or "grayscale"
    padding = row.segmented_control("Padding", kernels.PADDINGS, default="valid", required=True, key="fk_pad",
                                   bind="query-params") or "valid"
    pooling = row.segmented_control("2×2 pooling", kernels.POOLINGS, default="max", required=True, key="fk_pool",
                                   bind="query-params") or "max"
    kernel = kernels.KERNELS.get(kernel_name)
    if kernel_name == "Custom":
        text = st.text_input("Custom kernel: 3 or 5 rows separated by ';', numbers or fractions such as 1/9",
                             "0 -1 0; -1 5 -1; 0 -1 0", key="fk_custom", bind="query-params")
        try:
            kernel = kernels.parse_kernel(text)
        except ValueError as exc:
            st.error(md(exc, None))
    if kernel is None:
        return
    sizes, pictures = shared(("kernel steps", photo, kernel.tobytes(), kernel.shape, side, mode, padding, pooling),
                             lambda: _kernel_steps(image, kernel, side, mode, padding, pooling))
    k_col, s_col = st.columns([1, 2])  # [1, 3] left a 3×3 kernel too little room at 150% zoom
    kernel_fig = shared(("kernel figure", kernel.tobytes(), kernel.shape),
                        lambda: kfig.kernel_figure(kernel, f"{kernel.shape[0]}×{kernel.shape[1]} kernel"))
    k_col.plotly_chart(presenter.figure(kernel_fig, 1 / 3), key="fk_kernel_fig")
    k_col.caption(f"{kernel_name}. Each output pixel is the sum of the kernel times the pixels under it "
                  f"(torch conv2d {'on the gray image' if mode == 'grayscale' else 'on R, G and B separately'}).")
    titles = ["input", "convolved feature map", "ReLU: rectified feature map", f"2×2 {pooling} pooling, stride 2"]
    cols = s_col.columns(2) + s_col.columns(2)
    for col, title, size, (png, how) in zip(cols, titles, sizes.values(), pictures):
        col.image(png, caption=f"{title} · {size} · {how}")
    st.caption("'valid' shrinks each side by K − 1; zero padding keeps the size; 2×2 pooling with stride 2 halves "
               "each side and keeps a quarter of the values.")


@st.fragment
def learned_filters(name: str, loaded: zoo.LoadedModel, build: str) -> None:
    """The first layer's filters, and the slices of one filter of a deeper layer.

    The model's conv layers and their weights are read once per model build (server-wide): walking the
    modules and copying weights on every rerun cost more than drawing the cached figures.
    """
    convs, first, default = shared(("conv layers", build), lambda: (
        feature_maps.conv_layers(loaded), feature_maps.first_conv(loaded), feature_maps.default_slice_layer(loaded)))
    filters = shared(("first filters", build),
                     lambda: ffig.filter_grid(feature_maps.first_layer_filters(loaded), first))
    st.plotly_chart(presenter.figure(filters), key="ff_first")
    st.caption("First-layer filters look at the image directly: most become edge, colour-blob and texture detectors.")
    if name in feature_maps.LECTURE_NOTES:
        st.info(feature_maps.LECTURE_NOTES[name])
    left, right = st.columns([3, 1])
    deep = left.selectbox("Deeper conv layer", convs, index=convs.index(default), key="ff_layer", bind="query-params")
    shape = tuple(loaded.model.get_submodule(deep).weight.shape)  # [C_out, C_in / groups, K, K]
    if feature_maps.is_depthwise(loaded, deep):
        slices = shared(("depthwise filters", build, deep),
                        lambda: ffig.depthwise_filters(feature_maps.conv_weight(loaded, deep), deep))
        st.plotly_chart(presenter.figure(slices), key="ff_slices")
        st.caption(f"{deep} is a depthwise convolution: each {shape[2]}×{shape[3]} filter reads one "
                   "channel only, and the 1×1 convolution after it mixes the channels. Pick a 1×1 layer to see the "
                   "mixing weights, one number per input channel.")
        return
    index = right.number_input(f"Filter (0–{shape[0] - 1})", 0, shape[0] - 1, 0, key="ff_filter",
                               bind="query-params")
    index = min(index, shape[0] - 1)
    slices = shared(("filter slices", build, deep, index),
                    lambda: ffig.filter_slices(feature_maps.conv_weight(loaded, deep)[index], deep, index))
    st.plotly_chart(presenter.figure(slices), key="ff_slices")
    st.caption(f"A filter of {deep} has one {shape[2]}×{shape[3]} slice per input channel it reads "
               f"({shape[1]} here); its output is the sum of the responses of all its slices.")


@st.fragment
def maps_and_predictions(name: str, loaded: zoo.LoadedModel, build: str, image: Image.Image, photo: str,
                         caption: str) -> None:
    """Section 3, the feature maps of one layer, and section 4, the predictions (a fragment)."""
    st.header("3 · Feature maps")
    result = feature_maps_section(name, loaded, build, image, photo)
    if result is not None:
        st.header("4 · Predictions")
        predictions(loaded, build, photo, result, caption)


def feature_maps_section(name: str, loaded: zoo.LoadedModel, build: str, image: Image.Image,
                         photo: str) -> feature_maps.FeatureResult | None:
    """The most active maps of one layer over the photo, the hierarchy of stages, and one channel large.

    Returns the layer's `FeatureResult` (its top-5 too), or None when the layer cannot be shown (said so).
    """
    table = layer_table(name)
    labels = [layer.label for layer in table]
    default = next(i for i, layer in enumerate(table) if layer.name == layers.default_layer(table))
    c1, c2, c3 = st.columns([3, 2, 1.5])  # [4, 2, 1] cut the toggle's label at 150% zoom
    label = c1.selectbox("Layer (network order: name · kind · output C×H×W)", labels, index=default,
                         key="fm_layer", bind="query-params")
    layer = table[labels.index(label)]
    top_n = c2.slider("Most active channels", 1, 64, 32, key="fm_top", help="Capped at the layer's channel count.",
                      bind="query-params")
    overlay = c3.toggle("Overlay", True, key="fm_overlay", bind="query-params")
    try:
        result = analysis(name, photo, layer.name, image)
    except ValueError as exc:
        st.error(str(exc))
        return None
    ranked = feature_maps.top_channels(result.maps, result.maps.shape[0])
    seen = result.seen if overlay else None
    big = presenter.active()  # 18 px tile labels ("#12 · mean 0.42") need wider tiles: 6 of 160 px to a row
    grid = shared(("feature grid", build, photo, layer.name, top_n, overlay, big),
                  lambda: ffig.feature_grid(result.maps, ranked[:top_n], layer.name, seen,
                                            **({"columns": 6, "tile": 160} if big else {})))
    st.plotly_chart(presenter.figure(grid), key="fm_grid")
    with st.expander("The hierarchy: resolution shrinks, channels grow (edges → parts → objects)", expanded=True):
        for stage in feature_maps.stage_summary(table, loaded.input_size):
            mark = "**" if layer.name in stage.names or any(layer.name.startswith(n + ".") for n in stage.names) else ""
            st.markdown(f"- {mark}{stage.line}{mark}")
    choice = st.selectbox("Channel to see large", ["most active", *map(str, range(len(ranked)))], key="fm_channel",
                          bind="query-params")
    channel = ranked[0] if choice == "most active" else int(choice)
    large = shared(("channel", build, photo, layer.name, channel, overlay),
                   lambda: ffig.channel_figure(result.maps[channel], layer.name, channel, seen))
    st.plotly_chart(presenter.figure(large), key="fm_channel_fig")
    return result


def predictions(loaded: zoo.LoadedModel, build: str, photo: str, result: feature_maps.FeatureResult,
                caption: str) -> None:
    """The top-5 of a trained model; an untrained one's output described for what it is."""
    if loaded.pretrained:
        answer = guess.Answer(f"{loaded.info.title}'s top-1 class", result.top[0][0], tuple(result.top),
                              tuple(loaded.labels or ()))
        if guess.hidden("fm_top1", "Which class will the network pick for this picture?", [answer]):
            return
        title = f"{loaded.info.title}: top-5 on {caption}"
        st.plotly_chart(presenter.figure(shared(("top-5", build, photo, title),
                                                lambda: ffig.top5_figure(result.top, title))),
                        key="fm_top5")
        st.caption("Try a non-photographic picture (the Hubble deep field, a drawing, a screenshot): the network "
                   "still picks ImageNet classes, often with confidence it has not earned.")
    else:
        st.info(untrained_output(loaded.info.title, *result.spread), icon=":material/casino:")
