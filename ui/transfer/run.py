"""Settings, Start/Stop and the live view of the Transfer-learning page.

The run itself is a Dask task (`explorer.training.jobs`); the session keeps the `Run` object under
"tl_run" and every started run in "tl_runs", and the run's id goes in the URL (`?run=`).
`live_view` is a fragment that re-runs every second while the run is active, so clicking
elsewhere, rerunning or switching pages and coming back neither stops nor restarts training
(DESIGN.md section 6). A link with a run id that the session does not hold (another web replica
started it, or this one restarted) picks the run up from the cluster.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from explorer.figures.images import encode
from explorer.models import custom_net, registry
from explorer.runtime import cluster, side_process, worker
from explorer.training import augment, jobs, trainer
from explorer.training import figures as figs
from ui import presenter
from ui.safe_text import md
from explorer.training.config import CUSTOM, STRATEGY_TITLES, TrainConfig, backbones
from ui.models import image_key, model_picker, shared

STRATEGY_BY_TITLE = {title: key for key, title in STRATEGY_TITLES.items()}
MAX_RUNS_KEPT = 12  # runs whose settings and curves the session keeps for comparison
MODELS_KEPT = 4  # of those, the latest runs that also keep their trained model (0.2-30 MB each)


def settings(num_images: int) -> TrainConfig:
    """Backbone, strategy, hyper-parameters and augmentation widgets (all mirrored in the URL)."""
    names = backbones()
    spec, shape = st.session_state.get("custom_network"), st.session_state.get("custom_network_input")
    if spec and shape:
        names.append(CUSTOM)
    left, right = st.columns(2)
    with left:
        choice = model_picker("Backbone", names, key="tl_bb", default=names[0],
                              help="EfficientNet-Lite0/1/2 carry real ImageNet weights. LeNet-5 has none: "
                                   "train it from scratch. Other zoo models appear once their weights are cached.")
        custom = choice == CUSTOM
        backbone, custom_text = (CUSTOM, _custom_text(spec, shape)) if custom else (choice, None)
        if CUSTOM not in names:
            st.caption("To train your own network here, build it in the \"Build your own\" tab of the "
                       "Architectures page: it then appears in this list.")
        if custom:  # no pretrained weights: only "From scratch" applies
            st.session_state["tl_strat"] = STRATEGY_TITLES["scratch"]
        strategy = STRATEGY_BY_TITLE[st.radio("Strategy", list(STRATEGY_BY_TITLE), index=1, key="tl_strat",
                                              bind="query-params", disabled=custom)]
        blocks = None
        if strategy == "finetune_last":
            names_ = trainer.block_names(backbone)
            if int(st.session_state.get("tl_nb", 1)) > len(names_):  # e.g. after switching to a smaller network
                st.session_state["tl_nb"] = len(names_)
            blocks = st.slider("Blocks to fine-tune (N, counted from the top)", 1, len(names_),
                               min(2, len(names_)), key="tl_nb", bind="query-params")
            st.caption(f"Trained: {', '.join(names_[-blocks:])} and the new head; frozen: "
                       f"{len(names_) - blocks} earlier blocks.")
        if custom:
            st.caption(_custom_note(spec, shape))
        else:
            st.caption(_strategy_note(strategy, registry.info(backbone)))
    with right:
        c1, c2 = st.columns(2)
        epochs = c1.number_input("Epochs", 1, 200, 10, key="tl_ep", bind="query-params")
        batch = c2.select_slider("Batch size", [4, 8, 16, 32, 64, 128], 16, key="tl_bs", bind="query-params")
        opt = c1.selectbox("Optimizer", ["adam", "sgd"], key="tl_opt", bind="query-params",
                           help="adam, or sgd with momentum 0.9")
        lr_label, blr_label = LR_LABELS[strategy]
        lr = c2.select_slider(lr_label, [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], 1e-2, key="tl_lr",
                              bind="query-params", help=LR_HELP[strategy])
        blr = 1e-4
        if blr_label:  # only the fine-tuning strategies train pretrained blocks with their own rate
            blr = c1.select_slider(blr_label, [1e-5, 3e-5, 1e-4, 3e-4, 1e-3], 1e-4, key="tl_blr", bind="query-params",
                                   help="Smaller than the head's, so that the pretrained features are adjusted, "
                                        "not wrecked.")
        wd = c2.select_slider("Weight decay", [0.0, 1e-5, 1e-4, 1e-3, 1e-2], 0.0, key="tl_wd", bind="query-params")
        seed = c1.number_input("Seed", 0, 10_000, 0, key="tl_seed", bind="query-params",
                               help="Fixes the train/validation split, the initial weights of new layers, the "
                                    "augmentation, the dropout and the batch order: the same settings and seed give "
                                    "the same curves.")
    aug = _augment_widgets()
    config = TrainConfig(backbone, strategy, int(epochs), int(batch), float(lr), float(blr), opt, float(wd),
                                 int(seed), aug, int(blocks or 1), custom_text)
    _cache_note(config, num_images)
    return config


LR_LABELS = {"scratch": ("Learning rate (every layer)", None),
             "linear_probe": ("Learning rate (new head)", None),
             "finetune_last": ("Learning rate (new head)", "Learning rate (fine-tuned blocks)"),
             "finetune_all": ("Learning rate (new head)", "Learning rate (pretrained backbone)")}
LR_HELP = {"scratch": "From scratch, every layer starts random and learns at this rate.",
           "linear_probe": "Only the new classification layer learns; the backbone is frozen.",
           "finetune_last": "The new classification layer's rate; the fine-tuned blocks have their own.",
           "finetune_all": "The new classification layer's rate; the pretrained backbone has its own."}


@st.cache_data(max_entries=64, show_spinner=False)
def _frozen_share(backbone: str, strategy: str, blocks: int) -> float:
    """Counted in the side process: a meta-device profile is Python throughout (0.1-0.5 s per backbone)."""
    return side_process.run(trainer.frozen_macs_share, TrainConfig(backbone, strategy, finetune_blocks=blocks))


def _cache_note(config: TrainConfig, num_images: int) -> None:
    """What the frozen blocks cost per epoch: computed once (no augmentation), or why every epoch."""
    if config.strategy not in ("linear_probe", "finetune_last") or config.backbone == CUSTOM:
        return
    try:
        share = _frozen_share(config.backbone, config.strategy, config.finetune_blocks)
    except ValueError:
        return  # the settings themselves are refused at Start, with the reason
    frozen, runs = (("the frozen backbone", "runs") if config.strategy == "linear_probe" else
                    ("the frozen first blocks", "run"))
    if not config.augment.enabled:
        seen = f" on each of your {num_images} images" if num_images else ""
        st.success(f"No augmentation: {frozen} ({share:.0%} of the multiply-adds) {runs} once{seen}, before the first "
                   "epoch; every epoch then trains "
                   + ("only the new head on the cached features (milliseconds)." if config.strategy == "linear_probe"
                      else f"only the last {config.finetune_blocks} block(s) and the head on their cached output."),
                   icon=":material/bolt:")
    else:
        st.info(f"Augmentation is on, so every epoch shows the network new versions of your images: {frozen} "
                f"({share:.0%} of the multiply-adds) must run on every image in every epoch instead of once, which "
                "makes epochs much slower. Turn augmentation off to cache their output.", icon=":material/timer:")


def _custom_text(spec: list[dict], shape: tuple[int, ...]) -> str | None:
    try:
        return custom_net.to_config(spec, shape)
    except ValueError:
        return None  # an invalid layer setting: `_custom_note` says which


def _custom_note(spec: list[dict], shape: tuple[int, ...]) -> str:
    """Why only "From scratch", and what the network will see; or what to fix on the Architectures page."""
    try:
        c, h, w = custom_net.check_trainable(custom_net.to_config(spec, shape))[1]
    except ValueError as exc:
        st.error(str(exc), icon=":material/schema:")
        return "Your network from the Architectures page cannot be trained until that is fixed."
    return (f"Your network from the Architectures page ({len(spec)} layers) has no pretrained weights: it is "
            f"trained from scratch, with its last Linear layer re-sized to your number of classes. Images are "
            f"resized to {h}×{w}{' grayscale' if c == 1 else ''} and normalised with mean = std = 0.5.")


def _strategy_note(strategy: str, entry: registry.ModelInfo) -> str:
    notes = {
        "scratch": "Random weights everywhere; everything is trained. Needs lots of data (lecture 4).",
        "linear_probe": "Option 1 of lecture 4: freeze the backbone, train only a new Linear classifier.",
        "finetune_last": "Freeze the early blocks (generic edges and textures), train the last N and the head.",
        "finetune_all": "Option 2: train everything, the backbone with its own smaller learning rate.",
    }
    note = notes[strategy]
    if strategy != "scratch" and entry.pretrained_source is None:
        note += f" {entry.title} has no pretrained weights: its frozen features would be random."
    return note


def _augment_widgets() -> augment.Augment:
    with st.expander("Data augmentation (lecture 3): ImageDataGenerator options as torchvision.transforms.v2"):
        c1, c2, c3 = st.columns(3)
        rot = c1.slider("Rotation (±°)", 0, 45, 0, key="tl_rot", bind="query-params")
        shift = c1.slider("Width/height shift (±share)", 0.0, 0.3, 0.0, 0.05, key="tl_shift", bind="query-params")
        shear = c2.slider("Shear (±°)", 0, 30, 0, key="tl_shear", bind="query-params")
        zoom = c2.slider("Zoom (±share)", 0.0, 0.3, 0.0, 0.05, key="tl_zoom", bind="query-params")
        colour = c3.slider("Colour jitter", 0.0, 0.5, 0.0, 0.1, key="tl_col", bind="query-params")
        chs = c3.slider("Channel shift (0-255)", 0, 60, 0, 10, key="tl_chs", bind="query-params")
        f1, f2, f3 = st.columns(3)
        hflip = f1.toggle("Horizontal flip", key="tl_hflip", bind="query-params")
        vflip = f2.toggle("Vertical flip", key="tl_vflip", bind="query-params")
        ra = f3.toggle("RandAugment", key="tl_ra", bind="query-params", help="2 random operations, magnitude 9")
    return augment.Augment(float(rot), float(shift), float(shift), float(shear), float(zoom), bool(hflip),
                           bool(vflip), float(colour), float(chs), bool(ra))


def augmentation_preview(images, aug: augment.Augment) -> None:
    """A grid: each row is one of the student's images, then augmented copies of it."""
    if not aug.enabled or not images:
        return
    st.caption(f"Augmentation preview ({aug.describe()}): original on the left, random draws to its right.")
    seed = int(st.session_state.get("tl_seed", 0))
    strips = shared(("augmentation preview", tuple(map(image_key, images)), aug, seed),
                    lambda: [_strip(row) for row in augment.preview(images, aug, size=96, per_image=5, seed=seed)])
    for strip in strips:
        st.image(strip, width=6 * 96)


def _strip(row: list) -> bytes:
    """One row of the preview as one PNG (one picture to fetch, not six)."""
    out = Image.new("RGB", (sum(im.width for im in row), row[0].height))
    x = 0
    for im in row:
        out.paste(im, (x, 0))
        x += im.width
    return encode(np.asarray(out))


def start_button(config: TrainConfig, train_set, val_set, classes: list[str], data_name: str) -> None:
    """Start a run; a second start while one is active shows why and changes nothing."""
    current = st.session_state.get("tl_run")
    busy = current is not None and current.active
    if cluster.note():
        st.warning(cluster.note(), icon=":material/cloud_off:")
    if st.button("Start training", key="tl_start", type="primary", icon=":material/play_arrow:", disabled=busy,
                 help="Your run trains on the server in the background; you can keep exploring."):
        try:
            run = jobs.start(config, train_set, val_set, classes, current=current, data_name=data_name)
        except ValueError as exc:
            st.error(md(exc, None))
            return
        _keep(run, current=True)


def _keep(run: jobs.Run, current: bool) -> None:
    """Add `run` to the session's runs (and make it the one shown live, with its id in the URL)."""
    if current:
        st.session_state["tl_run"] = run
        st.session_state.pop("tl_link_missing", None)
        st.query_params["run"] = run.id
    runs = st.session_state.setdefault("tl_runs", [])
    runs.append(run)
    del runs[:-MAX_RUNS_KEPT]
    for old in runs[:-MODELS_KEPT]:  # keep the session small (DESIGN.md section 6): curves stay
        old.result, old.val_set = None, []


def _run_from_link() -> None:
    """Pick up the run whose id is in the URL when this session does not hold it."""
    run_id = st.query_params.get("run")
    current = st.session_state.get("tl_run")
    if not run_id or any(r.id == run_id for r in st.session_state.get("tl_runs", [])):
        if current is not None and run_id != current.id:
            st.query_params["run"] = current.id
        return
    try:
        found = jobs.attach(run_id)
    except (OSError, ValueError):  # the cluster cannot be asked right now
        found = None
    if found is None:
        del st.query_params["run"]
        st.session_state["tl_link_missing"] = run_id
        return
    _keep(found, current=current is None or not current.active)


def live_view() -> None:
    """The current run's status and curves; refreshes itself every second while the run is active."""
    _run_from_link()
    run: jobs.Run | None = st.session_state.get("tl_run")
    if run is None:
        missing = st.session_state.get("tl_link_missing")
        if missing:
            st.info(f"Run {md(missing, 40)} from the link is no longer kept on the server (finished runs are kept for "
                    f"{worker.TTL_S / 60:.0f} minutes): start it again.", icon=":material/link_off:")
        else:
            st.info("No run yet: choose data and settings, then press Start training.")
        return

    @st.fragment(run_every=1.0 if run.active else None)
    def _live() -> None:
        _draw(run)
        if not run.active and st.session_state.get("tl_drawn_final") != run.id:
            st.session_state["tl_drawn_final"] = run.id
            st.rerun()  # the whole page: show the results and stop polling

    _live()


def _draw(run: jobs.Run) -> None:
    c = run.config
    st.markdown(f"**Run {run.label}** on {run.data_name}: {run.n_train} training and {run.n_val} validation images.")
    latest = run.latest
    if run.status == worker.QUEUED:
        pos, running, slots = run.queue()
        where = run.engine.describe() if run.engine else "on the server"
        st.info(queue_message(pos, running, slots, where), icon=":material/hourglass_top:")
    elif run.status == worker.RUNNING:
        prepare = run.prepare
        if latest is None and prepare is not None:
            st.progress(min(prepare["done"] / prepare["total"], 1.0),
                        text=f"Computing the frozen blocks' output once: {prepare['done']}/{prepare['total']} images · "
                             f"ETA {prepare['eta_s']:.0f} s (then every epoch reuses it)")
        elif latest is None:
            st.info("Preparing: building the network and resizing the images…", icon=":material/hourglass_top:")
        else:
            done = (latest["epoch"] - 1 + latest["step"] / latest["steps"]) / c.epochs
            st.progress(min(done, 1.0), text=f"epoch {latest['epoch']}/{c.epochs}, batch {latest['step']}/"
                                             f"{latest['steps']} · {latest['images_per_s']:.0f} images/s · "
                                             f"ETA {latest['eta_s']:.0f} s")
    elif run.status == worker.FAILED:
        st.error(md(run.error or "The run failed.", None))
    else:
        s = run.summary
        verb = "Stopped" if run.status == worker.STOPPED else "Finished"
        extra = (f": {s['cache_seconds']:.1f} s of it computing the frozen blocks' output once, then the training "
                 f"steps ran at {s['train_images_per_s']:,.0f} images/s" if s.get("cache") else "")
        st.success(f"{verb} after {s.get('epochs_done', 0)} epochs in {s.get('elapsed', 0):.1f} s: "
                   f"{s.get('images_per_s', 0):,.0f} training images/s end to end{extra}.")
        if s.get("cache_note"):
            st.caption(s["cache_note"])
    if run.active:
        st.button("Stop", key="tl_stop", icon=":material/stop:", on_click=run.stop,
                  help="Ends the run before its next batch; the model so far is kept.")
    if run.worker and run.engine is not None and run.engine.kind == "remote":
        st.caption(f"Runs {run.engine.describe()}, on worker {run.worker}.")
    if run.batches or run.epochs:
        curves = figs.training_curves(list(run.epochs), list(run.batches), total_epochs=c.epochs)
        st.plotly_chart(presenter.figure(curves),
                        key=f"tl_curves_{run.id}")


def queue_message(pos: int | None, running: int, slots: int, where: str) -> str:
    """What a waiting student reads: the runs ahead, or (no computer that trains has joined yet) that it waits
    for one, in words rather than the cluster's resource names."""
    place = f"Your place in the queue: {pos if pos else '…'}."
    if slots:
        return f"Waiting for a free slot: {running} of {slots} runs are training {where}. {place}"
    return (f"Waiting for a computer that trains models {where}: none has joined yet, and your run starts as soon "
            f"as one does. {place}")


def _use_linear_probe() -> None:
    st.session_state["tl_bb"] = "efficientnet_lite0"
    st.session_state["tl_strat"] = STRATEGY_TITLES["linear_probe"]


def near_chance_advice() -> None:
    """Under the live view (outside its fragment, so the button reruns the whole page): a finished from-scratch
    run that learned nothing, why in the lecture's terms, and what works instead."""
    run: jobs.Run | None = st.session_state.get("tl_run")
    ev = run.evaluation if run is not None and run.status == worker.DONE else None
    if ev is None or run.config.strategy != "scratch" or not ev.near_chance:
        return
    majority = run.classes[int(ev.majority_class)]
    st.warning(
        f"**Run #{run.number} ended near chance:** {ev.accuracy:.0%} validation accuracy, where always answering "
        f"“{md(majority)}” scores {ev.chance:.0%}. Trained from scratch, the network starts from random filters and must "
        f"learn every edge and texture detector from your {run.n_train} training images. Lecture 3: “You need a lot "
        "of data if you want to train CNNs … a few thousand examples usually doesn't cut it”; lecture 4: training a "
        "convnet from scratch on a small data set “won't work well”. With little data, reuse what a network learned "
        "on ImageNet: **feature extraction** (a linear probe on EfficientNet-Lite0) or **fine-tuning the last "
        "blocks**. From scratch needs far more images (the digits set has 1,797), more epochs, and augmentation.",
        icon=":material/school:")
    st.button("Try feature extraction on EfficientNet-Lite0", key=f"tl_try_probe_{run.id}", on_click=_use_linear_probe,
              icon=":material/swap_horiz:")
