"""Cached computations, background evaluations and section widgets behind the Evaluate page."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from mtlgrn_core.evaluation import ablation, edge_evaluation, knockout_evaluation
from mtlgrn_core.evaluation.edge_support import thin_reference_note
from mtlgrn_core.model.methods import GENIE3, METHOD_HELP, REVERSE
from mtlgrn_core.model.splits import EDGE, EDGE_GROUPED, SPLIT_NAMES
from mtlgrn_core.runs.ensemble import with_ensemble_scores
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz import evaluate as viz
from mtlgrn_core.viz.escape import markdown_text

from . import resources
from .background import task_state, tasks
from .data_loading import figure_downloads
from .page import friendly_errors

DEFAULT_EPOCHS = 30  # epoch budget of the retrainings started from this page
METRIC_COLUMNS = {
    "auroc": st.column_config.NumberColumn("AUROC", format="%.3f",
                                           help="Chance a true edge scores above a non-edge (0.5 = random)."),
    "auprc": st.column_config.NumberColumn("AUPRC", format="%.3f", help="Area under the precision-recall curve."),
    "auprc_ratio": st.column_config.NumberColumn("AUPRC ratio", format="%.2f",
                                                 help="AUPRC / share of edges among the pairs (1 = random)."),
    "epr": st.column_config.NumberColumn("EPR", format="%.2f",
                                         help="Precision among the top-k pairs (k = number of true edges) / that "
                                              "of random guessing."),
    "n_pairs": st.column_config.NumberColumn("pairs"),
    "n_positives": st.column_config.NumberColumn("true edges"),
}
KO_COLUMNS = {
    "pearson_all": st.column_config.NumberColumn("Pearson r, all genes", format="%.3f"),
    "pearson_top": st.column_config.NumberColumn("Pearson r, top-20 changed", format="%.3f"),
    "sign_acc_top": st.column_config.NumberColumn("sign accuracy, top-20", format="%.3f"),
    "rmse": st.column_config.NumberColumn("RMSE", format="%.4g", help="Lower is better (expression units)."),
    "n": st.column_config.NumberColumn("knockouts"),
}


@st.cache_data(max_entries=8, show_spinner="Scoring the test pairs…")
def test_scores(run_id: str) -> edge_evaluation.ScoredPairs:
    """The run's stored test split scored by the model and the baselines (the run alone is needed); an
    ensemble's mean score beside them."""
    return _with_ensemble(edge_evaluation.test_split_scores(resources.run(run_id)), run_id)


@st.cache_data(max_entries=8, show_spinner="Scoring every pair against the ground truth…")
def truth_scores(run_id: str, dataset_id: str) -> edge_evaluation.ScoredPairs:
    scored = edge_evaluation.truth_scores(resources.run(run_id), resources.dataset(dataset_id).truth)
    return _with_ensemble(scored, run_id)


def _with_ensemble(scored: edge_evaluation.ScoredPairs, run_id: str) -> edge_evaluation.ScoredPairs:
    ensemble = resources.ensemble(run_id)
    return scored if ensemble is None else with_ensemble_scores(scored, ensemble)


def with_genie3(scored: edge_evaluation.ScoredPairs, run_id: str) -> edge_evaluation.ScoredPairs:
    """``scored`` with the GENIE3 scores once its background task has finished."""
    task = tasks().get((run_id, "genie3"))
    snap = task.snapshot() if task else None
    if snap is not None and snap.status == FINISHED:
        return scored.with_method(GENIE3, snap.result.lookup(scored.src, scored.dst))
    return scored


@st.cache_resource(max_entries=16, show_spinner="Drawing the curves…")
def edge_outputs(run_id: str, key: str, methods: tuple[str, ...], title: str, _scored: edge_evaluation.ScoredPairs):
    """Metrics table, ROC and PR figures of ``_scored`` (keyed by the run, which pairs and which methods; shared,
    never modified)."""
    metrics = _scored.metrics()
    curves = edge_evaluation.curve_points(_scored)
    return (metrics, viz.roc_figure(curves, metrics, title=f"ROC curves, {title}"),
            viz.pr_figure(curves, metrics, _scored.density, title=f"Precision-recall curves, {title}"))


def metrics_table(frame: pd.DataFrame, key: str) -> None:
    st.dataframe(frame.reset_index(), hide_index=True, key=key, column_config=METRIC_COLUMNS)


def edge_section(scored: edge_evaluation.ScoredPairs, run_id: str, title: str, key: str,
                 reference: str = "the held-out part of the prior") -> bool:
    """Metrics table, ROC and PR curves and downloads of one set of scored pairs; or, when ``reference`` has too
    few true edges for them to mean much (:func:`~mtlgrn_core.evaluation.edge_support.thin_reference_note`), why not and
    what to do. Whether the figures were shown."""
    thin = thin_reference_note(int(scored.labels.sum()), reference)
    if thin:
        st.warning(markdown_text(f"Edge figures are not shown: {thin}"), icon=":material/info:")
        return False
    metrics, roc, pr = edge_outputs(run_id, key, tuple(scored.scores), title, scored)
    metrics_table(metrics, f"{key}_metrics")
    st.caption(" · ".join(f"**{m}**: {METHOD_HELP[m]}" for m in metrics.index if m in METHOD_HELP))
    st.download_button("Download the metrics (CSV)", edge_evaluation.metrics_csv(metrics),
                       file_name=f"{key}-{run_id}.csv",
                       mime="text/csv", key=f"{key}_csv", on_click="ignore")
    st.plotly_chart(pr, key=f"{key}_pr")
    figure_downloads(pr, f"{key}-pr-{run_id}", f"{key}_pr_dl")
    st.plotly_chart(roc, key=f"{key}_roc")
    figure_downloads(roc, f"{key}-roc-{run_id}", f"{key}_roc_dl")
    return True


def genie3_button(run_id: str, dataset_id: str, key: str) -> None:
    """Start GENIE3 on the pairs of both evaluations (test split and, with a truth, all pairs) in the background."""
    snap = task_state(run_id, "genie3", key)
    if snap is not None and (not snap.finished or snap.status == FINISHED):
        return
    if st.button("Add GENIE3", key=key,
                 help="Tree-ensemble baseline (GENIE3). Takes seconds to minutes: it runs in the background and "
                      "is added to both edge tabs."):
        started = False
        with friendly_errors("Starting GENIE3"):
            start_genie3(run_id, dataset_id)
            started = True
        if started:
            st.rerun()


def start_genie3(run_id: str, dataset_id: str | None) -> None:
    """GENIE3 on the run's expression, for the test pairs and (when the dataset has a truth) every pair."""
    run = resources.run(run_id)
    has_truth = dataset_id is not None and resources.dataset(dataset_id).truth is not None
    pair_sets = [(s.src, s.dst) for s in (test_scores(run_id),) + ((truth_scores(run_id, dataset_id),)
                                                                    if has_truth else ())]

    def work(on_step, stop):
        return edge_evaluation.PairTable.compute(len(run.genes), pair_sets, lambda src, dst: (
            edge_evaluation.genie3_pair_scores(run, src, dst, seed=run.config.seed, on_step=on_step, stop=stop)))

    tasks().start((run_id, "genie3"), "GENIE3", work)


def start_knockout_cv(run_id: str, dataset_id: str, epochs: int) -> None:
    """The knockout cross-validation of the run's settings (``epochs`` per fit), on its stored split."""
    run, dataset = resources.run(run_id), resources.dataset(dataset_id)
    config = budget_config(run, epochs)

    def work(on_step, stop):
        return knockout_evaluation.knockout_cross_validation(dataset, config, split=run.split,
                                                             seed=run.config.seed, on_fold=on_step, stop=stop)

    tasks().start((run_id, "knockout_cv"), "Knockout cross-validation", work, params={"epochs": epochs},
                  queued=True)


def start_ablation(run_id: str, dataset_id: str, epochs: int) -> None:
    """The ablation of the run's settings (``epochs`` per fit), every variant on the run's stored split."""
    run, dataset = resources.run(run_id), resources.dataset(dataset_id)
    config = budget_config(run, epochs)

    def work(on_step, stop):
        return ablation.ablation(dataset, config, split=run.split, on_step=on_step, stop=stop)

    tasks().start((run_id, "ablation"), "Ablation", work, params={"epochs": epochs}, queued=True)


def other_edge_split(run) -> str | None:
    """The split reported beside the run's own: the grouped one beside the protocol's edge hold-out and
    the other way round; none beside a TF hold-out (it shares no edge of a test TF at all)."""
    return {EDGE: EDGE_GROUPED, EDGE_GROUPED: EDGE}.get(run.split.kind)


def start_other_split(run_id: str, dataset_id: str) -> None:
    """The run's settings trained on :func:`other_edge_split` (same seed and epochs), for its metrics."""
    from mtlgrn_core.model.train import fit

    run, dataset = resources.run(run_id), resources.dataset(dataset_id)
    kind = other_edge_split(run)

    def work(on_step, stop):
        on_step(0, 1, f"training on the {SPLIT_NAMES[kind]}")
        other = fit(dataset, replace(run.config, split=kind), stop=stop)
        on_step(1, 1, "done")
        return other.metrics

    tasks().start((run_id, "other_split"), f"Training on the {SPLIT_NAMES[kind]}", work, params={"kind": kind},
                  queued=True)


def epochs_input(key: str, run) -> int:
    return int(st.number_input("Epochs per training", 1, 1000, min(DEFAULT_EPOCHS, run.config.epochs), 5, key=key,
                               help="Each training uses this run's settings with this many epochs at most: fewer "
                                    "is faster, more is closer to the run itself."))


def budget_config(run, epochs: int):
    return replace(run.config, epochs=epochs, patience=min(run.config.patience, epochs))


def other_split_section(run_id: str, dataset_id: str | None) -> None:
    """How reciprocal the prior is, and the run's settings trained on the other edge split, side by side."""
    run = resources.run(run_id)
    kind = other_edge_split(run)
    if kind is None:
        return
    share = edge_evaluation.reciprocal_share(run.split.edges())
    if share > 0:
        st.markdown(f"**Reciprocal pairs.** {share:.0%} of the prior's edges are listed in both directions. Under "
                    "the edge hold-out a test edge's reverse can be a training edge, and the model reads that (the "
                    f"*{REVERSE}* baseline shows how far it goes alone); the {SPLIT_NAMES[EDGE_GROUPED]} keeps "
                    "both directions of a pair in one part, so that cannot happen.")
    else:
        st.markdown(f"**Reciprocal pairs.** None of the prior's edges is listed in both directions, so the "
                    f"{SPLIT_NAMES[EDGE_GROUPED]} differs from the edge hold-out only by its random draw: beside "
                    "each other, the two show how much one draw of the test pairs moves the figures.")
    snap = task_state(run_id, "other_split")
    if snap is not None and snap.status == FINISHED:
        beside = pd.concat({SPLIT_NAMES[run.split.kind]: edge_evaluation.stored_metrics_table(run.metrics)["auprc"],
                            SPLIT_NAMES[kind]: edge_evaluation.stored_metrics_table(snap.result)["auprc"]}, axis=1)
        st.caption(f"Test AUPRC of this run's settings on both splits (seed {run.config.seed}, "
                   f"{run.config.epochs} epochs at most), each on its own test pairs.")
        st.dataframe(beside.reset_index(), hide_index=True, key="other_split_table",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in beside.columns})
    if dataset_id is None:
        st.caption("Training on the other split needs the run's dataset, which is no longer in the workspace.")
    elif snap is None or snap.finished:
        if st.button(f"Train on the {SPLIT_NAMES[kind]}", key="other_split_start",
                     help="Trains this run's settings again on the other split in the background and shows both "
                          "splits' test AUPRC side by side."):
            start_other_split(run_id, dataset_id)
            st.rerun()
