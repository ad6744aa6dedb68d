"""The Attributions page's sanity checks: cascading randomization and deletion/insertion, for chosen methods.

Both run as shared Dask tasks (`ui.shared_tasks`) after one click, reuse the maps already
computed above, and end in a table of which methods pass.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from explorer.attribution import methods as attr
from explorer.attribution import sanity_checks as checks
from explorer.attribution import figures as figs
from ui import presenter
from ui.attributions import choice
from ui.attributions.maps import TITLES, Context, result_of
from ui.safe_text import md
from ui.shared_tasks import session_id, task_store
from explorer import images
from explorer.attribution import explained_model
from explorer.models import registry, store

DEFAULT = ("grad_cam", "saliency", "guided_grad_cam")  # one or two passes each: the whole cascade in seconds
DELETION_STEPS = 24
LOW_PROBABILITY = 0.10  # below it, deletion/insertion curves of the explained class are flat (issue 21)


@st.cache_data(max_entries=16, show_spinner=False)
def _blocks(model_key: str, _model, _image) -> list[str]:
    """The blocks the cascade re-initializes: the same for every photo (one forward pass per model, not per photo)."""
    net = explained_model.explained(_model)
    return checks.cascade_blocks(net.module, net.input(_image))


def warm() -> None:
    """The default model's cascade blocks, before anyone asks (`ui.warm.before_serving`)."""
    chosen = choice.zoo_choice(store.shared().get(registry.DEFAULT_MODEL))
    _blocks(chosen.key, chosen.model, images.sample_image(next(iter(images.GALLERY))))


def _key(kind: str, ctx: Context, method: str, options: dict) -> tuple:
    return (kind, ctx.choice.key, ctx.image_key, method, tuple(sorted(options.items())), ctx.target)


def _start(ctx: Context, method: str, options: dict) -> None:
    title = attr.METHODS[method].title
    reference = result_of(ctx, method, options)
    for check, label in (("randomization", "randomization"), ("deletion", "deletion/insertion")):
        task_store().start(_key(check, ctx, method, options), f"{title}: {label}", checks.check_task, check,
                      ctx.choice.model, ctx.image, method, ctx.target, options, reference, watcher=session_id(),
                      deletion_steps=DELETION_STEPS)


def _tasks(ctx: Context, methods: list[str], options: dict[str, dict]) -> dict:
    """{method: (randomization task, deletion/insertion task)}, None where not started."""
    return {m: (task_store().get(_key("randomization", ctx, m, options[m])),
                task_store().get(_key("deletion", ctx, m, options[m]))) for m in methods}


def checks_section(ctx: Context, options: dict[str, dict]) -> None:
    """Method choice, the Run button with its cost, then the results (refreshing while they run)."""
    titles = st.multiselect("Methods to check", list(TITLES), default=[attr.METHODS[m].title for m in DEFAULT],
                            key="at_checks", bind="query-params")
    methods = [TITLES[t] for t in titles]
    if not methods:
        st.info("Choose at least one method to check.")
        return
    blocks = _blocks(ctx.choice.key, ctx.choice.model, ctx.image)
    forward = backward = 0
    for m in methods:
        try:
            f, b = attr.METHODS[m].passes(ctx.choice.input_size, **options[m])
        except ValueError:
            continue
        forward += f * len(blocks) + 6 * (DELETION_STEPS + 1)
        backward += b * len(blocks)
    missing = [m for m, pair in _tasks(ctx, methods, options).items() if any(t is None or t.error for t in pair)]
    if missing and st.button(f"Run the sanity checks on {', '.join(attr.METHODS[m].title for m in missing)}",
                             key="at_run_checks", icon=":material/fact_check:",
                             help=f"{len(blocks)} re-initialization steps per method, and "
                                  f"{6 * (DELETION_STEPS + 1)} forward passes for deletion and insertion."):
        for m in missing:
            _start(ctx, m, options[m])
    if missing:
        st.caption(f"{len(blocks)} blocks to re-initialize one after the other ({', '.join(reversed(blocks))}); "
                   f"in all {forward:,} forward and {backward:,} backward passes.")
    active = any(t is not None and t.active for pair in _tasks(ctx, methods, options).values() for t in pair)

    @st.fragment(run_every=0.5 if active else None)
    def results() -> None:
        pairs = _tasks(ctx, methods, options)
        running = [t for pair in pairs.values() for t in pair if t is not None and t.active]
        for t in running:
            c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
            c1.progress(t.fraction, text=progress_text(t.title, t.message))
            c2.button("Cancel", key=f"at_cancel_{t.title}", on_click=task_store().cancel, args=(t.key, session_id()))
        for t in (t for pair in pairs.values() for t in pair if t is not None and t.error):
            st.warning(t.error)
        done = {m: (*r.result, d.result[1]) for m, (r, d) in pairs.items()  # (map, cascade, deletion/insertion)
                if r is not None and d is not None and r.result is not None and d.result is not None}
        if done:
            _results(ctx, done)
        if active and not running:
            st.rerun()

    results()


def progress_text(title: str, message: str) -> str:
    """A check's progress line, naming its method and check ("Grad-CAM: randomization · block 2 of 5")."""
    return message if message.startswith(title) else f"{title} · {message}"


def verdict(passed: bool) -> str:
    """Pass or fail in words (a table cell: no emoji, which a machine without an emoji font draws as boxes)."""
    return "pass" if passed else "fail"


def _verdict_lines(done: dict) -> str:
    """One markdown line per method with Material icons, which render on every machine."""
    lines = []
    for m, (_, steps, di) in done.items():
        title = attr.METHODS[m].title
        for check, passed in (("randomization", checks.passes_randomization(steps)),
                              ("deletion/insertion", di.beats_inverse)):
            icon = ":material/check_circle:" if passed else ":material/cancel:"
            lines.append(f"- {icon} **{title}** {'passes' if passed else 'fails'} {check}")
    return "\n".join(lines)


def low_confidence(ctx: Context, label: str) -> str | None:
    """The warning for deletion/insertion when the explained class is below `LOW_PROBABILITY` (markdown), else None."""
    if ctx.probability >= LOW_PROBABILITY:
        return None
    return (f"The explained class “{md(label)}” has a probability of only {ctx.probability:.1%}: deleting or "
            "inserting pixels can hardly move it, so its deletion and insertion curves are flat and mean little. "
            "Explain a class the model believes in (its 1st guess) to judge the maps.")


def _results(ctx: Context, done: dict) -> None:
    rows = []
    for m, (ref, steps, di) in done.items():
        top = steps[:max(1, math.ceil(len(steps) / 2))]
        rows.append({
            "method": attr.METHODS[m].title,
            "randomization": verdict(checks.passes_randomization(steps)),
            "ρ, classifier random": steps[0].spearman,
            "largest ρ, top half": max((s.spearman for s in top if not math.isnan(s.spearman)), default=float("nan")),
            "deletion/insertion": verdict(di.beats_inverse),
            "deletion area: map · inverse · random": " · ".join(f"{di.auc('deletion', o):.3f}"
                                                                for o in checks.ORDERS),
            "insertion area: map · inverse · random": " · ".join(f"{di.auc('insertion', o):.3f}"
                                                                 for o in checks.ORDERS),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "method": st.column_config.Column(pinned=True),
        "ρ, classifier random": st.column_config.NumberColumn(format="%.2f", width="small"),
        "largest ρ, top half": st.column_config.NumberColumn(format="%.2f", width="small")})
    st.markdown(_verdict_lines(done))
    label = next(iter(done.values()))[0].label
    if low_confidence(ctx, label):
        st.warning(low_confidence(ctx, label), icon=":material/warning:")
    st.caption(f"Randomization passes when the map has changed (Spearman ρ of |map| below "
               f"{checks.RANDOMIZATION_THRESHOLD}, or blank) at every step of the top half of the cascade. "
               "Deletion/insertion passes when deleting the map's most relevant pixels first lowers the probability "
               "faster than deleting its least relevant first, and inserting them first raises it faster.")
    random_wins = [attr.METHODS[m].title for m, (_, _, di) in done.items()
                   if di.auc("deletion", "random") < di.auc("deletion")]
    if random_wins:
        st.info(f"A random order deletes faster than {', '.join(random_wins)}: greying a few percent of scattered "
                "pixels already destroys the fine textures the network relies on, so any scattered order wins the "
                "deletion race. That is why each map is judged against its own inverse order, not against random.",
                icon=":material/shuffle:")
    curves = {attr.METHODS[m].title: steps for m, (_, steps, _) in done.items()}
    st.plotly_chart(presenter.figure(figs.randomization_curves(curves, checks.RANDOMIZATION_THRESHOLD)), key="at_rho")
    for m, (ref, steps, di) in done.items():
        title = attr.METHODS[m].title
        st.plotly_chart(presenter.figure(figs.randomization_figure(ctx.pixels, ref.map, steps, title)),
                        key=f"at_rand_{m}",
                        config={"displayModeBar": False})
        st.plotly_chart(presenter.figure(figs.deletion_insertion_figure(di, title, ref.label)), key=f"at_di_{m}")
