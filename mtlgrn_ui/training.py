"""Training widgets: the settings form, live progress of this session's job, the saved-runs manager."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from mtlgrn_core.model.config import TASKS, TrainConfig
from mtlgrn_core.model.features import MODALITIES
from mtlgrn_core.runs.compute_queue import SLOTS_VARIABLE
from mtlgrn_core.runs.jobs import FAILED, QUEUED
from mtlgrn_core.viz.escape import markdown_text
from mtlgrn_core.viz.train import history_figure, runs_comparison_figure

from . import resources, state
from .background import queue_wait, sharing_rule

DEFAULTS = TrainConfig()
TASK_HELP = {
    "edge": "Learn which TF regulates which gene from the known network (needs network.csv).",
    "knockout": "Learn how every gene responds when a gene is knocked out or down (needs perturbed samples: "
                "samples.csv, or the perturbation column of single-cell data).",
    "expression": "Rebuild the expression matrix from gene and sample embeddings (always possible).",
}
SPLIT_CHOICES = {"edge": "edges (60/10/30)", "edge_grouped": "edge pairs (60/10/30)", "tf": "whole TFs"}
MODALITY_HELP = {"expression": "each gene's expression profile", "promoter": "promoter k-mer counts",
                 "annotation": "gene annotations", "knockout": "knockout responses"}


def available_modalities(summary: dict) -> list[str]:
    present = {"expression": True, "promoter": summary.get("promoters", 0) > 0,
               "annotation": summary.get("annotation_columns", 0) > 0,
               "knockout": summary.get("perturbed_samples", 0) > 0}
    return [m for m in MODALITIES if present[m]]


def settings_form(summary: dict) -> tuple[TrainConfig, str] | None:
    """The training form; returns (config, run name) when Start was pressed."""
    with st.form("train_form"):
        name = st.text_input("Run name", value="run", key="run_name", help="A label to find this run later.")
        st.markdown("**Tasks** (a weight of 0 or an unticked box switches a task off)")
        cols = st.columns(3)
        weights = {}
        for col, task in zip(cols, TASKS):
            with col:
                on = st.checkbox(task, value=True, key=f"task_{task}", help=TASK_HELP[task])
                weight = st.number_input(f"{task} weight", 0.0, 10.0, DEFAULTS.task_weights[task], 0.1,
                                         key=f"weight_{task}", help="Relative weight of this task's loss.")
                weights[task] = weight if on else 0.0
        present = available_modalities(summary)
        modalities = st.multiselect("Gene features", present, default=present, key="modalities",
                                    format_func=lambda m: f"{m} ({MODALITY_HELP[m]})",
                                    help="Inputs absent from your data are not offered.")
        c1, c2, c3, c4 = st.columns(4)
        hidden = c1.number_input("Embedding size", 8, 512, DEFAULTS.hidden, 8, key="hidden",
                                 help="Length of each gene's learned vector.")
        heads = c2.number_input("Attention heads", 1, 16, DEFAULTS.heads, 1, key="heads")
        layers = c3.number_input("GAT layers", 0, 6, DEFAULTS.layers, 1, key="layers",
                                 help="Rounds of message passing along the known network.")
        epochs = c4.number_input("Max epochs", 1, 5000, DEFAULTS.epochs, 10, key="epochs",
                                 help=f"Training stops earlier after {DEFAULTS.patience} epochs without a better "
                                      "validation score (edge AUPRC, and knockout R² when knockouts are held out; "
                                      "a final fit on every sample then follows).")
        c5, c6, c7, c8 = st.columns(4)
        lr = c5.number_input("Learning rate", 1e-5, 1.0, DEFAULTS.lr, format="%.4f", key="lr")
        seed = c6.number_input("Seed", 0, 1_000_000, DEFAULTS.seed, 1, key="seed",
                               help="Same seed, same data, same settings: same result.")
        split = c7.selectbox("Hold-out", list(SPLIT_CHOICES), key="split", format_func=SPLIT_CHOICES.get,
                             help="How the known network is split into train / validation / test "
                                  "(60/10/30 % of its edges, or of its regulators). 'Whole TFs' tests regulators "
                                  "never seen, and trains the decoder that scores them best: choose it when you want "
                                  "candidate targets of regulators your known network has no edge for "
                                  "(docs/benchmarks.md). 'Edge pairs' keeps both directions of a pair in one part, "
                                  "so a test edge's reverse is never a training edge.")
        device = c8.selectbox("Device", ["auto", "cpu", "cuda"], key="device",
                              help="'auto' uses a GPU when one is present.")
        if not st.form_submit_button("Start training", type="primary"):
            return None
    config = TrainConfig(task_weights=weights, modalities=tuple(modalities) or ("expression",),
                         hidden=int(hidden), heads=int(heads), layers=int(layers), epochs=int(epochs),
                         lr=float(lr), seed=int(seed), split=split, device=device)
    return config, name


def sharing_caption() -> str:
    """How the trainings of every user of this server share its cores (shown beside the Start button)."""
    slots = resources.compute_queue().slots
    more = ("" if slots > 1 else f" An administrator of a server with many cores can let several run at once by "
                                 f"starting it with {SLOTS_VARIABLE} set to that number.")
    return (f"{sharing_rule(slots)}: every user's trainings (ensembles on this machine, runs per cell group and "
            "the Evaluate page's retrainings included) wait in one queue, first come first served, and each starts "
            "by itself when its turn comes."
            + more)


def start_training(dataset_id: str, config: TrainConfig, name: str) -> None:
    job_id = resources.jobs().start(dataset_id, config, name)
    state.put(state.JOB_ID, job_id)


def _time_left(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "estimating…"
    return f"about {seconds:.0f} s left in this fit (at most; early stopping may end it sooner)"


@st.fragment(run_every=1.0)
def live_progress() -> None:
    """Progress of this session's job, refreshed every second; a full rerun once it ends."""
    job = resources.jobs().get(state.get(state.JOB_ID))
    if job is None:
        return
    snap = job.snapshot()
    if snap.done:
        finish_job(snap)
        st.rerun(scope="app")
    if snap.status == QUEUED:
        queued_progress(job, snap)
        return
    if snap.phase == "refit":
        st.progress(snap.fraction, text=f"Final fit on every sample: epoch {snap.epoch} / {snap.epochs} (at most "
                                        "as many epochs as the first fit, judged on held-out knockouts, ran)")
    else:
        st.progress(snap.fraction, text=f"Epoch {snap.epoch} / {snap.epochs} — {_time_left(snap.seconds_left)}")
    if st.button("Stop", key="stop_training", help="End after this epoch and keep the best model so far."):
        job.stop()
    last = snap.history[-1] if snap.history else {}
    parts = [f"{label} {last[key]:.3f}" for key, label in (("val_auroc", "AUROC"), ("val_auprc", "AUPRC"),
                                                           ("val_knockout_r2", "knockout R²")) if key in last]
    if parts:
        st.caption("Validation " + " · ".join(parts))
    st.plotly_chart(history_figure(snap.history), key="live_history")


def queued_progress(job, snap) -> None:
    """This session's training while it waits for its turn: what runs ahead, why, and a Stop that takes it out."""
    slots = resources.compute_queue().slots
    count, labels, when = queue_wait(snap.ahead, slots)
    st.info(f"Queued: {count} ahead of yours ({labels}). {sharing_rule(slots)}; yours starts when {when}.")
    if st.button("Stop", key="stop_training", help="Take your training out of the queue; it never starts."):
        job.stop()


def finish_job(snap) -> None:
    """Record how this session's job ended (selected run, error message, or a training stopped before it
    started)."""
    state.put(state.JOB_ID, None)
    if snap.status == FAILED:
        st.session_state[state.JOB_MESSAGE] = ("error", snap.error)
    elif snap.run_id is None:
        st.session_state[state.JOB_MESSAGE] = ("info", "Training stopped before it started: nothing was saved.")
    else:
        select_run(snap.run_id)
        st.session_state[state.JOB_MESSAGE] = ("success", f"Training {snap.status}: the run is saved and "
                                                           "selected.")


def select_run(run_id: str) -> None:
    """Make ``run_id`` the session's run, and its dataset the session's data when it is still stored."""
    state.put(state.RUN_ID, run_id)
    dataset_id = resources.run(run_id).info.get("dataset_id")
    if dataset_id and any(e.id == dataset_id for e in resources.workspace().datasets()):
        state.put(state.DATASET_ID, dataset_id)


def show_last_job_message() -> None:
    message = st.session_state.pop(state.JOB_MESSAGE, None)
    if message:
        kind, text = message
        if kind == "error":
            st.error(markdown_text(text))  # names files, genes or the run
        elif kind == "info":
            st.info(text)
        else:
            st.success(text)


def runs_table(entries) -> pd.DataFrame:
    rows = []
    for e in entries:
        test = e.test or {}
        rows.append({"run": (e.name or e.id) + (f" (ensemble of {e.members})" if e.members else ""), "id": e.id,
                     "dataset": e.dataset,
                     "saved": e.saved.replace("T", " ").replace("+00:00", " UTC"),
                     "tasks": ", ".join(e.tasks), "test AUPRC": test.get("auprc"), "test AUROC": test.get("auroc"),
                     "status": "ok" if e.ok else f"unusable: {e.problem}"})
    return pd.DataFrame(rows)


@st.cache_data(max_entries=8, show_spinner=False)
def _archive(run_id: str) -> bytes:
    """A run's zip (a saved run never changes, so its id is enough as key)."""
    return resources.workspace().run_archive(run_id)


def saved_runs_manager() -> None:
    """List, select, compare, download and delete the runs on disk."""
    workspace = resources.workspace()
    entries = workspace.runs()
    if not entries:
        st.caption("No saved run yet.")
        return
    st.dataframe(runs_table(entries).drop(columns=["id"]), hide_index=True, key="runs_table")
    usable = [e for e in entries if e.ok]
    labels = {e.id: f"{e.name} ({e.saved.replace('T', ' ').replace('+00:00', ' UTC')})" for e in usable}
    if not usable:
        return
    current = state.get(state.RUN_ID)
    ids = list(labels)
    chosen = st.selectbox("Run", ids, index=ids.index(current) if current in ids else 0,
                          format_func=labels.get, key="run_choice")
    c1, c2, c3 = st.columns(3)
    if c1.button("Use this run", key="use_run", type="primary"):
        select_run(chosen)
        st.rerun()
    c2.download_button("Download run (zip)", data=_archive(chosen), file_name=f"{chosen}.zip",
                       mime="application/zip", key="download_run")
    if c3.button("Delete run", key="delete_run"):
        st.session_state["confirm_delete"] = chosen
    if st.session_state.get("confirm_delete") == chosen:
        st.warning(f"Delete '{markdown_text(labels[chosen])}' from disk? This cannot be undone.")
        if st.button("Yes, delete", key="confirm_delete_button"):
            workspace.delete_run(chosen)
            resources.run.clear()
            st.session_state.pop("confirm_delete", None)
            if state.get(state.RUN_ID) == chosen:
                state.put(state.RUN_ID, None)
            st.rerun()
    compare = st.multiselect("Compare runs", ids, format_func=labels.get, key="compare_runs")
    if compare:
        histories = {labels[i]: resources.run(i).history for i in compare}
        st.plotly_chart(runs_comparison_figure(histories), key="compare_chart")
