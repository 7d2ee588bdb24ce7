"""Evaluate: the run's metrics against the baselines on its stored test split (BENCHMARK.md), ROC and
precision-recall curves, the other edge split beside it, the ground truth when the data has one, knockout
cross-validation and an ablation (trained in the background, from this page)."""


import pandas as pd
import streamlit as st

from mtlgrn_core.evaluation import ablation, knockout_evaluation
from mtlgrn_core.model.methods import LINEAR, MEAN_DELTA, MEAN_PLUS_LINEAR, METHOD_HELP, ZERO
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz import evaluate as viz
from mtlgrn_core.viz.escape import csv_safe, markdown_text
from mtlgrn_ui import resources
from mtlgrn_ui.background import task_state
from mtlgrn_ui.data_loading import figure_downloads
from mtlgrn_ui.evaluate import (
    KO_COLUMNS,
    METRIC_COLUMNS,
    edge_section,
    epochs_input,
    genie3_button,
    other_split_section,
    start_ablation,
    start_knockout_cv,
    test_scores,
    truth_scores,
    with_genie3,
)
from mtlgrn_ui.page import friendly_errors, require_run, setup_page
from mtlgrn_ui.report import report_section

setup_page("Evaluate")


# -- page ------------------------------------------------------------------------------------------------
st.title("Evaluate the model")
run_id = require_run()
if not run_id:
    st.stop()
run = resources.run(run_id)
dataset_id = resources.stored_dataset_id(run_id)
dataset = resources.dataset(dataset_id) if dataset_id else None
st.caption("How well this run recovers regulatory edges it never saw and predicts knockouts it was not shown, "
           "next to simple baselines on exactly the same data and pairs.")

with st.expander("Report: this run in one file to share", icon=":material/description:"):
    report_section(run_id, "evaluate_report")

tab_edges, tab_truth, tab_ko, tab_ablation = st.tabs(
    ["Edges: test split", "Edges: ground truth", "Knockout effects", "Ablation"])

with tab_edges:
    scored = None
    with friendly_errors("Scoring the test pairs"):
        scored = test_scores(run_id)
    if scored is not None:
        st.markdown("**Reference: the held-out part of your prior network.** " + scored.description)
        scored = with_genie3(scored, run_id)
        if edge_section(scored, run_id, "test split", "test"):
            genie3_button(run_id, dataset_id, "genie3_start")
            other_split_section(run_id, dataset_id)

with tab_truth:
    if dataset is None:
        st.info("The dataset this run was trained on is no longer in the workspace, and its ground truth went with "
                "it. `python -m mtlgrn_core evaluate --run RUN --truth FILE` scores a run against any truth file.")
    elif dataset.truth is None:
        st.info("This dataset has no separate ground truth (truth.csv), so only the prior's test split is evaluated. "
                "Simulated data and the DREAM4 benchmark sets have one.")
    else:
        scored_truth = None
        with friendly_errors("Scoring the pairs against the ground truth"):
            scored_truth = truth_scores(run_id, dataset_id)
        if scored_truth is not None:
            st.markdown("**Reference: the ground truth (truth.csv), not the prior.** " + scored_truth.description)
            for note in scored_truth.notes:
                st.caption(markdown_text(note))
            scored_truth = with_genie3(scored_truth, run_id)
            if edge_section(scored_truth, run_id, "all pairs outside the training graph vs the truth", "truth",
                            reference="the ground truth"):
                genie3_button(run_id, dataset_id, "genie3_truth_start")

with tab_ko:
    st.markdown("**Knockout effects on unseen knockouts**: the measured knockouts are cut "
                "into 5 folds; for each fold a model is trained without any sample that perturbs its genes "
                "(knockouts, knockdowns, overexpression, alone or combined) and predicts their knockouts. "
                "Baselines, fitted on the same remaining samples: "
                + " · ".join(f"**{m}** ({METHOD_HELP[m]})"
                             for m in (ZERO, MEAN_DELTA, LINEAR, MEAN_PLUS_LINEAR)) + ".")
    n_kos = len(knockout_evaluation.measured_knockouts(dataset)) if dataset is not None else 0
    if dataset is None or n_kos < 5:
        where = "the dataset is not in the workspace" if dataset is None else f"it has {n_kos}"
        st.info("This needs the run's dataset with at least 5 genes knocked out alone (sample-sheet rows, or cells "
                f"of a single-cell perturbation column, with one gene and dose 0); {where}.")
    else:
        st.caption(f"{n_kos} genes of this dataset have a measured knockout.")
        snap = task_state(run_id, "knockout_cv")
        if snap is not None and snap.status == FINISHED:
            table = snap.result
            st.caption(f"{n_kos} knocked-out genes, {snap.params.get('epochs')} epochs per training, "
                       f"{snap.elapsed:.0f} s. Mean over the held-out knockouts; the knocked-out gene itself is left "
                       "out of every metric.")
            st.dataframe(table.reset_index(), hide_index=True, key="cv_table", column_config=KO_COLUMNS)
            fig = viz.knockout_cv_figure(table)
            st.plotly_chart(fig, key="cv_chart")
            figure_downloads(fig, f"knockout-cv-{run_id}", "cv_chart_dl")
            st.download_button("Download per-knockout results (CSV)",
                               csv_safe(pd.DataFrame(table.attrs.get("per_knockout", []))).to_csv(index=False).encode(),
                               file_name=f"knockout-cv-{run_id}.csv", mime="text/csv", key="cv_csv", on_click="ignore")
        if snap is None or snap.finished:
            epochs = epochs_input("cv_epochs", run)
            if st.button("Run the 5-fold cross-validation", key="cv_start",
                         help="Trains 5 models in the background; you can use other pages meanwhile."):
                start_knockout_cv(run_id, dataset_id, epochs)
                st.rerun()

with tab_ablation:
    st.markdown("**Ablation**: this run's settings retrained with one task switched off, one kind of gene feature "
                "removed, or one part of the network taken out (the pairwise evidence, the gene embeddings, the "
                "message passing along the known network); each variant is scored on the same test pairs. A drop "
                "in AUPRC shows what that part contributes.")
    if dataset is None:
        st.info("The ablation retrains on the run's dataset, which is no longer in the workspace.")
    else:
        snap = task_state(run_id, "ablation")
        if snap is not None and snap.status == FINISHED:
            table = snap.result
            st.caption(f"{snap.params.get('epochs')} epochs per training, {snap.elapsed:.0f} s in all. "
                       "AUPRC change: the variant's AUPRC minus the full model's (negative = that part helps).")
            st.dataframe(table, hide_index=True, key="ablation_table",
                         column_config={**METRIC_COLUMNS, "auprc_change": st.column_config.NumberColumn(
                             "AUPRC change", format="%+.3f", help="AUPRC minus the full model's.")})
            fig = viz.ablation_figure(table)
            st.plotly_chart(fig, key="ablation_chart")
            figure_downloads(fig, f"ablation-{run_id}", "ablation_chart_dl")
            st.download_button("Download the ablation (CSV)", csv_safe(table).to_csv(index=False).encode(),
                               file_name=f"ablation-{run_id}.csv", mime="text/csv", key="ablation_csv",
                               on_click="ignore")
        if snap is None or snap.finished:
            variants = [name for name, _ in ablation.ablation_variants(dataset, run.config)]
            st.caption(f"{len(variants)} trainings: " + ", ".join(variants) + ".")
            epochs = epochs_input("ablation_epochs", run)
            if st.button("Start the ablation", key="ablation_start",
                         help="Trains every variant in the background; you can use other pages meanwhile."):
                start_ablation(run_id, dataset_id, epochs)
                st.rerun()
