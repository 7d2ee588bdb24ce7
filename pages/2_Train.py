"""Train: settings, live progress of a background training run, and the saved runs."""

import streamlit as st

from mtlgrn_core.viz.escape import markdown_text
from mtlgrn_ui import resources, state
from mtlgrn_ui.ensembles import ensemble_training_section
from mtlgrn_ui.groups import group_training_section
from mtlgrn_ui.page import (
    current_run_name,
    friendly_errors,
    require_dataset,
    setup_page,
)
from mtlgrn_ui.report import report_section
from mtlgrn_ui.training import (
    live_progress,
    saved_runs_manager,
    settings_form,
    sharing_caption,
    show_last_job_message,
    start_training,
)

setup_page("Train")
st.title("Train a model")
show_last_job_message()

dataset_id = require_dataset()
if dataset_id:
    summary = resources.dataset(dataset_id).summary()
    st.caption(f"{summary['genes']} genes, {summary['samples']} samples, {summary['tfs']} candidate regulators, "
               f"{summary['prior_edges']} known edges, {summary['perturbed_samples']} perturbed samples.")
    if state.get(state.JOB_ID):
        st.subheader("Training")
        st.caption("Training runs on the server: you can switch pages or close the tab; the run is saved when "
                   "it ends.")
        live_progress()
    else:
        with friendly_errors("Starting training"):
            submitted = settings_form(summary)
            st.caption(sharing_caption())
            if submitted:
                start_training(dataset_id, *submitted)
                st.rerun()

if dataset_id:
    st.subheader("Ensemble (several seeds, on this machine or a Dask cluster)")
    with friendly_errors("Training an ensemble"):
        ensemble_training_section(dataset_id)
    st.subheader("One run per cell group")
    with friendly_errors("Training one run per group"):
        group_training_section(dataset_id)

st.subheader("Saved runs")
saved_runs_manager()
run_name = current_run_name()
if run_name is not None:
    st.subheader("Report")
    st.caption(f"The selected run, **{markdown_text(run_name)}**, in one file to share.")
    with friendly_errors("Opening the run"):
        report_section(state.get(state.RUN_ID), "train_report")
