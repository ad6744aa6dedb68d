"""The Attributions page's maps: method settings, display controls, and the maps side by side.

Cheap methods (Grad-CAM of every layer, Saliency, Guided Grad-CAM) come together from one forward and
two backward passes (`explorer.attribution.cheap`) on the web process's background threads
(`ui.background`: a large model takes seconds, and no map is computed on the script thread, issue 17):
those of the top class with the model's first look at the photo (`choice.first_look`), those of another
class when it is chosen. A change of Grad-CAM layer computes nothing. Heavy ones run as shared Dask tasks
(`ui.shared_tasks`) after one click, with progress and Cancel. Both are shared server-wide, so a map someone already computed (the same
model, photo, settings and class) appears at once, and the grid refreshes itself while any is running.
Figures are cached by map and display settings (`ui.models.shared`).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.attribution import cheap
from explorer.attribution import methods as attr
from explorer.attribution import figures as figs
from ui import background, presenter
from ui.attributions import choice
from ui.attributions.choice import Choice
from ui.models import shared
from ui.shared_tasks import session_id, task_store, time_note
from explorer.attribution import occlusion
from explorer.attribution import explained_model
from explorer.attribution import baselines

TITLES = {m.title: name for name, m in attr.METHODS.items()}
COLUMNS = 3  # maps per row: readable at 1280 px on a projector
QUICK_S = 0.5  # seconds a rerun waits for the cheap maps before it draws them as "computing"


@dataclass(frozen=True)
class Display:
    """How maps are drawn (not what is computed)."""

    opacity: float
    scale: str
    clip: float
    absolute: bool


@dataclass
class Context:
    """What every map of one page run shares."""

    choice: Choice
    image: object  # PIL image at working size
    image_key: str
    target: int
    pixels: np.ndarray  # uint8 [S, S, 3], the model's input crop
    look: cheap.CheapMaps  # the first look: the prediction and the cheap maps of the top class
    probability: float = 1.0  # the model's probability of the explained class `target`
    layer: str | None = None  # the Grad-CAM layer chosen (`method_options` sets it)


def choose_methods() -> list[str]:
    """The methods to show (all by default; the heavy ones wait for a click)."""
    titles = st.multiselect("Methods", list(TITLES), default=list(TITLES), key="at_methods", bind="query-params",
                            help="Cheap ones (one or two passes) appear at once; the heavy ones (dozens to hundreds "
                                 "of passes) after you press Compute.")
    return [TITLES[t] for t in titles]


def method_options(ctx: Context, layers: list) -> dict[str, dict]:
    """Each method's options from widgets (all in the URL): layer, steps, baseline, samples, noise, window, stride.
    Sets `ctx.layer`, the Grad-CAM layer."""
    size = ctx.choice.input_size
    labels = [layer.label for layer in layers]
    names = [layer.name for layer in layers]
    with st.expander("Method settings: Grad-CAM layer, Integrated Gradients steps and baseline, samples, "
                     "Occlusion window and stride", expanded=False):
        c1, c2, c3 = st.columns(3)
        default = names.index(explained_model.default_layer(ctx.choice.model)) if names else 0
        label = c1.selectbox("Grad-CAM layer (name · kind · output C×H×W)", labels, index=default, key="at_layer",
                             bind="query-params", help="The default is the last layer with a spatial output: "
                             "coarse, but closest to the decision.")
        steps = c2.select_slider("Integrated Gradients: steps", [16, 32, 64, 128, 256], 64, key="at_steps",
                                 bind="query-params")
        baseline = c2.segmented_control("IG baseline", list(baselines.BASELINES), default="black", required=True,
                                        key="at_baseline", bind="query-params",
                                        help=" · ".join(f"{k}: {v}" for k, v in baselines.BASELINES.items())
                                        ) or "black"  # an empty address value (?key=) leaves even a required control empty
        samples = c3.slider("SmoothGrad and GradientShap: samples", 5, 50, 20, step=5, key="at_samples",
                            bind="query-params")
        noise = c3.select_slider("SmoothGrad noise (σ, share of the input's range)", [0.05, 0.1, 0.15, 0.2, 0.3],
                                 0.15, key="at_noise", bind="query-params")
        o1, o2, o3 = st.columns(3)
        window = o1.slider("Occlusion window (px)", 8, 256, 32, step=8, key="at_window", bind="query-params")
        stride = o2.slider("Occlusion stride (px)", 4, 128, 16, step=4, key="at_stride", bind="query-params")
        try:
            occlusion.check_occlusion(size, window, stride)
            o3.metric("Passes", f"{occlusion.occlusion_windows(size, window, stride):,}",
                      help=f"Occlusion's forward passes: one per window position on the {size}×{size} input, in batches of "
                           f"{occlusion.OCCLUSION_BATCH}.")
        except ValueError as exc:
            o3.error(str(exc))
    layer = names[labels.index(label)] if label in labels else None
    ctx.layer = layer
    return {"grad_cam": {"layer": layer}, "guided_grad_cam": {"layer": layer}, "saliency": {},
            "integrated_gradients": {"steps": int(steps), "baseline": baseline},
            "smoothgrad": {"samples": int(samples), "noise": float(noise)},
            "gradient_shap": {"samples": int(samples)}, "occlusion": {"window": int(window), "stride": int(stride)}}


def display_controls() -> Display:
    """Opacity, colour scale, clipping and the absolute view (all in the URL). In presenter mode folded, on two
    rows (four narrow columns overlapped at 150% zoom), so that the maps start on the first screen."""
    if presenter.active():
        with st.expander("Map display: opacity, colour scale, saturation, |map|"):
            c1, c2 = st.columns(2)
            c3, c4 = st.columns(2)
    else:
        c1, c2, c3, c4 = st.columns(4)
    opacity = c1.slider("Map opacity", 0.0, 1.0, 0.7, step=0.05, key="at_opacity", bind="query-params")
    scale = c2.selectbox("Colour scale (unsigned maps)", list(figs.SEQUENTIAL), key="at_scale", bind="query-params")
    clip = c3.select_slider("Colours saturate at percentile", [90.0, 95.0, 98.0, 99.0, 99.5, 100.0], 99.0,
                            key="at_clip", bind="query-params",
                            help="A few extreme pixels would otherwise wash out the rest of the map.")
    absolute = c4.toggle("|map|", False, key="at_abs", bind="query-params",
                         help="Draw signed maps as |map|. Integrated Gradients, GradientShap and Occlusion are "
                              "signed: red for the class, blue against it.")
    return Display(float(opacity), scale, float(clip), bool(absolute))


def task_key(ctx: Context, method: str, options: dict) -> tuple:
    """What a map depends on: the cache and task key."""
    return ("map", ctx.choice.key, ctx.image_key, method, tuple(sorted(options.items())), ctx.target)


def cheap_maps(ctx: Context) -> Future:
    """The cheap maps (`cheap.CheapMaps`) of the page's class: the first look's for its top class (every layer's
    Grad-CAM), else computed in the background with the Grad-CAM of the chosen layer (`ctx.layer`) only, and
    shared by model, photo, class and layer. Keeping every layer's activation gradient cost another class a third
    more CPU."""
    layer = ctx.layer
    if ctx.target == ctx.look.target:
        done: Future = Future()
        done.set_result(ctx.look)
        return done
    return choice.cheap_store().submit(("cheap maps", ctx.choice.key, ctx.image_key, ctx.target, layer),
                                       cheap.cheap_maps, ctx.choice.model, ctx.image, ctx.target,
                                       [layer] if layer else [])


def _cheap_result(ctx: Context, method: str, options: dict) -> attr.Attribution:
    """The map of a cheap method from finished cheap maps (ValueError for a layer without a Grad-CAM)."""
    return cheap_maps(ctx).result().attribution(method, options.get("layer"))


def start_heavy(ctx: Context, method: str, options: dict) -> None:
    """Start (or join) the Dask task of one heavy map."""
    task_store().start(task_key(ctx, method, options), attr.METHODS[method].title, attr.heavy_map, ctx.choice.model,
                  ctx.image, method, ctx.target, options, watcher=session_id())


def _needs_compute(ctx: Context, method: str, options: dict) -> bool:
    """A heavy map with no task yet, or whose task failed or was cancelled."""
    if not attr.METHODS[method].heavy:
        return False
    task = _task(ctx, method, options)
    return task is None or task.error is not None


def heavy_button(ctx: Context, methods: list[str], options: dict[str, dict]) -> None:
    """One button that computes every selected heavy map not computed yet, with its cost."""
    size = ctx.choice.input_size
    waiting, forward, backward = [], 0, 0
    for m in (m for m in methods if _needs_compute(ctx, m, options[m])):
        try:
            f, b = attr.METHODS[m].passes(size, **options[m])
        except ValueError:  # impossible Occlusion settings: its card says why
            continue
        waiting.append(m)
        forward, backward = forward + f, backward + b
    if waiting:
        names = ", ".join(attr.METHODS[m].title for m in waiting)
        if st.button(f"Compute {names}", key="at_compute", type="primary", icon=":material/play_arrow:",
                     help="They run in the background on the server's cores; you can change the display meanwhile."):
            for m in waiting:
                start_heavy(ctx, m, options[m])
        else:
            st.caption(f"{forward:,} forward + {backward:,} backward passes: "
                       f"{time_note(_estimate(forward, backward), task_store().ahead())} (for EfficientNet-Lite0).")
    heavy_progress(ctx, [m for m in methods if attr.METHODS[m].heavy], options)


def heavy_progress(ctx: Context, methods: list[str], options: dict[str, dict]) -> None:
    """Under the Compute button, where the click was: each running heavy map's progress and its Cancel, redrawn
    twice a second (the cards further down only say that it is computing)."""
    active = any(_running(ctx, m, options[m]) for m in methods)

    @st.fragment(run_every=0.5 if active else None)
    def bars() -> None:
        for m in methods:
            task = _task(ctx, m, options[m])
            if task is None or not task.active:
                continue
            c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
            title = attr.METHODS[m].title
            c1.progress(task.fraction, text=task.message if task.message.startswith(title)
                        else f"{title}: {task.message}")
            c2.button("Cancel", key=f"at_cancel_{m}", icon=":material/stop:",
                      on_click=task_store().cancel, args=(task.key, session_id()))

    bars()


def _estimate(forward: int, backward: int) -> float:
    """Seconds on the 2-core server (bench/attributions.py: ~15 ms per image forward, ~35 ms forward+backward)."""
    return (0.015 * forward + 0.02 * backward) / 2


def _task(ctx: Context, method: str, options: dict):
    return task_store().get(task_key(ctx, method, options))


def _running(ctx: Context, method: str, options: dict) -> bool:
    """True while the map of `method` is being computed (a cheap one in the background, a heavy task)."""
    if not attr.METHODS[method].heavy:
        return not cheap_maps(ctx).done()
    task = _task(ctx, method, options)
    return task is not None and task.active


def maps_grid(ctx: Context, methods: list[str], options: dict[str, dict]) -> None:
    """The display controls and the chosen methods' maps side by side, as one fragment (a display change reruns
    only the maps); maps still computing show progress, and the grid refreshes itself.

    The cheap maps get `QUICK_S` seconds (without the GIL) to finish before the grid is drawn: on a quiet
    server they are there at once, under a class they arrive a moment later.
    """
    if any(not attr.METHODS[m].heavy for m in methods):
        background.ready(cheap_maps(ctx), QUICK_S)
    active = any(_running(ctx, m, options[m]) for m in methods)

    @st.fragment(run_every=0.5 if active else None)
    def grid() -> None:
        display = display_controls()
        still_active = False
        for row in range(0, len(methods), COLUMNS):
            cols = st.columns(COLUMNS)
            for col, method in zip(cols, methods[row:row + COLUMNS]):
                with col:
                    still_active |= _card(ctx, method, options[method], display)
        if active and not still_active:
            st.rerun()  # the whole page: stop polling, offer the sanity checks on the new maps

    grid()


def result_of(ctx: Context, method: str, options: dict) -> attr.Attribution | None:
    """The finished map of `method`, if it exists (cheap: computed in the background; heavy: a finished task)."""
    if not attr.METHODS[method].heavy:
        future = cheap_maps(ctx)
        if not future.done() or future.exception() is not None:
            return None
        try:
            return _cheap_result(ctx, method, options)
        except ValueError:  # a layer without a Grad-CAM: its card says why
            return None
    task = _task(ctx, method, options)
    return task.result if task is not None else None


def _card(ctx: Context, method: str, options: dict, display: Display) -> bool:
    """One method's map, progress or message; True while it is being computed."""
    info = attr.METHODS[method]
    size = ctx.choice.input_size
    try:
        cost, problem = info.cost(size, **options), None
    except ValueError as exc:  # impossible settings (an Occlusion window larger than the image)
        cost, problem = "settings to fix", str(exc)
    with st.container(border=True):
        if info.heavy:
            task = _task(ctx, method, options)
            if task is None or task.error:
                st.markdown(f"**{info.title}**")
                if problem:
                    st.error(problem)
                elif task is not None and task.error:
                    (st.warning if "cancelled" in task.error else st.error)(task.error)
                else:
                    st.info("Not computed yet: press Compute above.", icon=":material/hourglass_empty:")
                st.caption(f"{info.explanation} Cost: {cost}.")
                return False
            if task.active:
                st.markdown(f"**{info.title}**")
                st.info("Computing: its progress and Cancel are under the Compute button above.",
                        icon=":material/hourglass_top:")
                st.caption(f"{info.explanation} Cost: {cost}.")
                return True
            result = task.result
        else:
            future = cheap_maps(ctx)
            if not future.done():
                st.markdown(f"**{info.title}**")
                st.progress(0.0, text=f"{info.title}: computing ({cost})…")
                return True
            error = future.exception()
            if error is None:
                try:
                    result = _cheap_result(ctx, method, options)
                except ValueError as exc:  # a layer without a Grad-CAM
                    error = exc
            if error is not None:
                st.markdown(f"**{info.title}**")
                st.error(str(error))
                return False
        _draw(ctx, info, result, cost, display)
    return False


def _draw(ctx: Context, info: attr.MethodInfo, result: attr.Attribution, cost: str, display: Display) -> None:
    signed = info.sign == "signed" and not display.absolute
    heat = np.abs(result.map) if (info.sign == "signed" and display.absolute) else result.map
    title = info.title + (f" · {result.options['layer']}" if "layer" in result.options else "")
    units = f"|{info.units}|" if info.sign == "signed" and display.absolute else info.units
    key = ("map figure", task_key(ctx, info.name, result.options), display)
    fig = shared(key, lambda: figs.map_figure(ctx.pixels, heat, signed, title, units, display.opacity,
                                              display.scale, display.clip))
    st.plotly_chart(presenter.figure(fig, 1 / COLUMNS),
                    key=f"at_fig_{info.name}", config={"displayModeBar": False}, theme=None)
    sign = {"signed": "red = for the class, blue = against it", "absolute": "|value|: how much, not which way",
            "positive": "only evidence for the class (ReLU)"}[info.sign]
    extra = ""
    if result.completeness_error is not None:
        flag = ": raise the steps to shrink it" if result.completeness_error > 0.05 else ""
        extra = (f" Completeness: the map sums to {result.map.sum():.2f}; score − baseline score = {result.gap:.2f} "
                 f"(error {result.completeness_error:.1%}{flag}).")
    st.caption(f"{info.explanation} Sign: {sign}. Cost: {cost}; ready after {result.seconds:.2f} s.{extra}")
