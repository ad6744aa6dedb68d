"""Results of the Transfer-learning page: every run of the session compared, then one run in detail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import jobs, model_io, trainer
from explorer.figures import transfer as figs
from ui.image_picker import image_picker
from ui.uploads import release

MAX_MODEL_MB = 50  # server.maxUploadSize; Lite0-2 models are 14-20 MB


def _finished(runs: list[jobs.Run]) -> list[jobs.Run]:
    return [r for r in runs if r.result is not None]


def _table(runs: list[jobs.Run]) -> pd.DataFrame:
    rows = []
    for r in runs:
        last = r.epochs[-1] if r.epochs else {}
        c = r.config
        rows.append({
            "run": f"#{r.number}", "data": r.data_name, "backbone": c.backbone_label, "strategy": trainer.STRATEGY_TITLES[c.strategy],
            "augmentation": c.augment.describe(), "epochs": len(r.epochs), "status": r.status,
            "val acc": last.get("val_acc"), "best val acc": max((e["val_acc"] for e in r.epochs), default=None),
            "train images/s": r.summary.get("images_per_s"), "seconds": r.summary.get("elapsed"),
            "lr": c.lr, "backbone lr": c.backbone_lr, "optimizer": c.optimizer, "batch": c.batch_size,
        })
    return pd.DataFrame(rows)


def comparison(runs: list[jobs.Run]) -> None:
    """Table of all runs, their validation curves overlaid, and the speed-accuracy trade-off."""
    done = [r for r in runs if r.epochs]
    if not done:
        return
    st.subheader("All runs of this session")
    st.dataframe(_table(runs), hide_index=True, column_config={
        "val acc": st.column_config.NumberColumn(format="%.3f"),
        "train images/s": st.column_config.NumberColumn(format="%.0f"),
        "seconds": st.column_config.NumberColumn(format="%.1f")})
    labels = {r.label: r for r in done}
    picked = st.multiselect("Runs to overlay", list(labels), default=list(labels)[-4:], key="tl_cmp")
    metric = st.segmented_control("Curve", ["val_acc", "val_loss", "train_acc", "train_loss"], default="val_acc",
                                  key="tl_metric", required=True)
    left, right = st.columns([3, 2])
    left.plotly_chart(figs.compare_runs([(k, labels[k].epochs) for k in picked], metric), key="tl_cmpfig")
    points = [(f"#{labels[k].id} {labels[k].config.backbone_label}", labels[k].summary.get("images_per_s") or 0.0,
               labels[k].epochs[-1]["val_acc"]) for k in picked if labels[k].summary.get("images_per_s")]
    if points:
        right.plotly_chart(figs.speed_accuracy(points), key="tl_speedfig")


def detail(runs: list[jobs.Run]) -> None:
    """Confusion matrix, misclassified gallery, downloads, loading a model back, and try-it."""
    finished = _finished(runs)
    imported = st.session_state.get("tl_imported")
    options = {r.label: r for r in reversed(finished)}
    if imported is not None:
        options["Loaded from file"] = imported
    if not options:
        _load_model()
        return
    st.subheader("One model in detail")
    choice = st.selectbox("Model", list(options), key="tl_sel")
    item = options[choice]
    trained = item.result if isinstance(item, jobs.Run) else item
    if isinstance(item, jobs.Run):
        _run_detail(item)
    else:
        st.caption(f"Loaded model: {trained.config.backbone_label}, classes {', '.join(trained.classes)}.")
    _try_it(trained)
    _load_model()


def _run_detail(run: jobs.Run) -> None:
    ev, classes = run.evaluation, run.classes
    left, right = st.columns([2, 3])
    left.plotly_chart(figs.confusion_matrix(ev.confusion, classes), key=f"tl_cm_{run.id}")
    with right:
        wrong = ev.misclassified
        st.markdown(f"**Misclassified validation images:** {len(wrong)} of {len(ev.y_true)} "
                    f"(accuracy {ev.accuracy:.1%}).")
        shown = wrong[:16]
        if shown and not run.val_set:
            st.caption("The validation images stay with the session that started this run.")
        elif shown:
            st.image([run.val_set[i][0] for i in shown], width=96,
                     caption=[f"{classes[ev.y_true[i]]} → {classes[ev.y_pred[i]]} ({ev.probs[i, ev.y_pred[i]]:.0%})"
                              for i in shown])
    trained = run.result
    c1, c2 = st.columns(2)
    c1.download_button("Download model (zip: safetensors + JSON)", data=lambda: model_io.export_model(trained),
                       file_name=f"cnn-explorer-run{run.id}-{run.config.backbone}.zip", mime="application/zip",
                       key=f"tl_dlm_{run.id}", icon=":material/download:", on_click="ignore")
    csv = pd.DataFrame(run.epochs).assign(run=run.id, backbone=run.config.backbone_label, strategy=run.config.strategy)
    c2.download_button("Download metrics (CSV)", data=csv.to_csv(index=False), file_name=f"run{run.id}-metrics.csv",
                       mime="text/csv", key=f"tl_dlc_{run.id}", icon=":material/table:", on_click="ignore")


def _try_it(trained: trainer.TrainedModel) -> None:
    st.markdown("**Try the model on a new photo**")
    image, caption = image_picker()
    top = trainer.predict(trained, image, k=min(5, len(trained.classes)))
    st.plotly_chart(figs.top_k(top, f"prediction for {caption}"), key="tl_try")


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
                st.session_state["tl_model_err"] = f"{up.name}: {exc}"
            finally:
                release([up])  # the imported model stays, the file goes
        if st.session_state.get("tl_model_err"):
            st.error(st.session_state["tl_model_err"])
        elif st.session_state.get("tl_imported") is not None:
            st.success("Loaded: choose “Loaded from file” above to try it.")
