"""Results of the Transfer-learning page: every run of the session compared, then one run in detail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.training import jobs, model_io
from explorer.training import figures as figs
from ui import presenter
from ui.transfer.mistakes import mistakes_gradcam
from ui.image_picker import image_picker
from ui.safe_text import md
from ui.uploads import release
from explorer.training.config import STRATEGY_TITLES
from explorer.training import classifier

MAX_MODEL_MB = 50  # server.maxUploadSize; Lite0-2 models are 14-20 MB


def _finished(runs: list[jobs.Run]) -> list[jobs.Run]:
    return [r for r in runs if r.result is not None]


def _table(runs: list[jobs.Run]) -> pd.DataFrame:
    rows = []
    for r in runs:
        last = r.epochs[-1] if r.epochs else {}
        c = r.config
        rows.append({
            "run": f"#{r.number}", "data": r.data_name, "backbone": c.backbone_label, "strategy": STRATEGY_TITLES[c.strategy],
            "augmentation": c.augment.describe(), "epochs": len(r.epochs), "status": r.status,
            "val acc": last.get("val_acc"), "best val acc": max((e["val_acc"] for e in r.epochs), default=None),
            "images/s (end to end)": r.summary.get("images_per_s"), "seconds": r.summary.get("elapsed"),
            "lr": c.lr, "backbone lr": c.backbone_lr, "optimizer": c.optimizer, "batch": c.batch_size,
        })
    return pd.DataFrame(rows)


CURVES = {"val_acc": "validation accuracy", "val_loss": "validation loss", "train_acc": "training accuracy",
          "train_loss": "training loss"}


def comparison(runs: list[jobs.Run]) -> None:
    """Table of all runs, their validation curves overlaid, and the speed-accuracy trade-off."""
    done = [r for r in runs if r.epochs]
    if not done:
        return
    st.subheader("All runs of this session")
    st.dataframe(_table(runs), hide_index=True, placeholder="—", column_config={
        "run": st.column_config.Column(pinned=True),
        "val acc": st.column_config.NumberColumn(format="%.3f"),
        "best val acc": st.column_config.NumberColumn(format="%.3f"),
        "images/s (end to end)": st.column_config.NumberColumn(
            format="localized", step=1, help="Images trained (epochs × training images) per second of the whole "
                                             "run, preparation and feature caching included."),
        "seconds": st.column_config.NumberColumn(format="%.1f")})
    labels = {r.label: r for r in done}
    _overlay_new_runs(list(labels))
    picked = st.multiselect("Runs to overlay", list(labels), key="tl_cmp")
    metric = st.segmented_control("Curve", list(CURVES), default="val_acc", key="tl_metric", required=True,
                                  format_func=CURVES.get)
    left, right = st.columns([3, 2])
    compared = figs.compare_runs([(k, labels[k].epochs) for k in picked], metric)
    left.plotly_chart(presenter.figure(compared, 0.6), key="tl_cmpfig")
    points = [(f"#{labels[k].number} {labels[k].config.backbone_label}", labels[k].summary.get("images_per_s") or 0.0,
               labels[k].epochs[-1]["val_acc"]) for k in picked if labels[k].summary.get("images_per_s")]
    if points:
        right.plotly_chart(presenter.figure(figs.speed_accuracy(points), 0.4), key="tl_speedfig")


LOADED = "Loaded from file"


def _follow_newest(options: list[str]) -> None:
    """The detail view shows the newest run unless the student picked another: when a new run finishes,
    the choice moves to it if it was on the newest run before (or on nothing, or on a run no longer kept)."""
    newest, before = options[0], st.session_state.get("tl_sel_newest")
    if st.session_state.get("tl_sel") in (None, before) or st.session_state.get("tl_sel") not in options:
        st.session_state["tl_sel"] = newest
    st.session_state["tl_sel_newest"] = newest


def _overlay_new_runs(labels: list[str]) -> None:
    """Runs that appeared since the last rerun join the overlay (the latest 4 at first); the student's own
    removals and additions stay."""
    seen = st.session_state.get("tl_cmp_seen")
    chosen = [label for label in st.session_state.get("tl_cmp", labels[-4:] if seen is None else [])
              if label in labels]
    st.session_state["tl_cmp"] = chosen + [label for label in labels if seen is not None and label not in seen
                                            and label not in chosen]
    st.session_state["tl_cmp_seen"] = labels


def detail(runs: list[jobs.Run]) -> None:
    """Confusion matrix, misclassified gallery, downloads, loading a model back, and try-it, for the newest
    finished run unless the student picks another."""
    finished = _finished(runs)
    imported = st.session_state.get("tl_imported")
    options = {r.label: r for r in reversed(finished)}
    if imported is not None:
        options[LOADED] = imported
    if not options:
        _load_model()
        return
    st.subheader("One model in detail")
    _follow_newest(list(options))
    choice = st.selectbox("Model", list(options), key="tl_sel",
                          help="The newest finished run is shown unless you pick another.")
    item = options[choice]
    if isinstance(item, jobs.Run):
        st.query_params["run"] = item.id  # a copied link opens the run shown, not the one trained last
        newest = finished[-1] if finished else None
        st.caption(f"Showing run #{item.number}, " + ("the newest finished run." if item is newest else
                   f"as you picked: run #{newest.number} is newer.") + f" Its data: {item.data_name}; "
                   f"{len(item.epochs)} epochs; final validation accuracy {item.evaluation.accuracy:.1%}.")
    trained = item.result if isinstance(item, jobs.Run) else item
    if isinstance(item, jobs.Run):
        _run_detail(item)
    else:
        st.caption(f"Loaded model: {trained.config.backbone_label}, classes {md(', '.join(trained.classes), 200)}.")
    _try_it(trained)
    _load_model()


def _run_detail(run: jobs.Run) -> None:
    ev, classes = run.evaluation, run.classes
    left, right = st.columns([2, 3])
    left.plotly_chart(presenter.figure(figs.confusion_matrix(ev.confusion, classes), 0.4), key=f"tl_cm_{run.id}")
    with right:
        wrong = ev.misclassified
        st.markdown(f"**Misclassified validation images:** {len(wrong)} of {len(ev.y_true)} "
                    f"(accuracy {ev.accuracy:.1%}).")
        shown = wrong[:16]
        if shown and not run.val_set:
            st.caption("The validation images stay with the session that started this run.")
        elif shown:
            st.image([run.val_set[i][0] for i in shown], width=96,
                     caption=[f"{md(classes[ev.y_true[i]], 40)} → {md(classes[ev.y_pred[i]], 40)} ({ev.probs[i, ev.y_pred[i]]:.0%})"
                              for i in shown])
            mistakes_gradcam(run, shown)
    trained = run.result
    c1, c2 = st.columns(2)
    facts = {"number": run.number, "id": run.id, "data": run.data_name, "epochs": len(run.epochs),
             "val_acc": run.evaluation.accuracy, "finished_at": run.finished_at}
    c1.download_button(f"Download model of run #{run.number} (zip: safetensors + JSON)",
                       data=lambda: model_io.export_model(trained, facts),
                       file_name=f"cnn-explorer-run{run.number}-{run.config.backbone}.zip", mime="application/zip",
                       key=f"tl_dlm_{run.id}", icon=":material/download:", on_click="ignore")
    c2.download_button(f"Download metrics of run #{run.number} (CSV)", data=metrics_csv(run),
                       file_name=f"cnn-explorer-run{run.number}-metrics.csv",
                       mime="text/csv", key=f"tl_dlc_{run.id}", icon=":material/table:", on_click="ignore")


def metrics_csv(run: jobs.Run) -> str:
    """The run's per-epoch metrics as CSV, each row naming the run as the page does ("run #2"), not by its id."""
    return pd.DataFrame(run.epochs).assign(run=f"run #{run.number}", backbone=run.config.backbone_label,
                                           strategy=run.config.strategy).to_csv(index=False)


def _try_it(trained: classifier.TrainedModel) -> None:
    st.markdown("**Try the model on a new photo**")
    image, caption = image_picker()
    top = classifier.predict(trained, image, k=min(5, len(trained.classes)))
    st.plotly_chart(presenter.figure(figs.top_k(top, f"prediction for {caption}")), key="tl_try")


def _load_model() -> None:
    with st.expander("Load a model downloaded from this page"):
        up = st.file_uploader("Model zip", type=["zip"], key="tl_modelup", max_upload_size=MAX_MODEL_MB)
        if up is not None and st.session_state.get("tl_model_id") != up.file_id:
            st.session_state["tl_model_id"] = up.file_id
            try:
                st.session_state["tl_imported"] = model_io.import_model(up.getvalue())
                st.session_state.pop("tl_model_err", None)
                st.rerun()
            except ValueError as exc:
                st.session_state["tl_model_err"] = f"{md(up.name)}: {md(exc, None)}"
            finally:
                release([up])  # the imported model stays, the file goes
        if st.session_state.get("tl_model_err"):
            st.error(st.session_state["tl_model_err"])
        elif st.session_state.get("tl_imported") is not None:
            st.success(f"Loaded: choose “{LOADED}” above to try it.")
