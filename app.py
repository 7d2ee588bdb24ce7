"""MTLGRN dashboard: home page."""

import streamlit as st

from mtlgrn_core.viz.escape import markdown_text
from mtlgrn_ui import resources, state
from mtlgrn_ui.home import ensure_some_dataset, quick_start
from mtlgrn_ui.page import current_dataset_name, current_run_name, friendly_errors, page_link, setup_page
from mtlgrn_ui.training import live_progress, show_last_job_message

setup_page("Home", load_data=ensure_some_dataset)

st.title("MTLGRN — gene regulatory networks and knockout predictions")
st.write(
    "MTLGRN infers which transcription factors regulate which genes from your expression data, a partly "
    "known network and, when you have them, knockout experiments, promoter sequences and gene annotations. "
    "One graph neural network learns three tasks at once — regulatory edges, knockout effects and expression — "
    "so each sharpens the others. Then ask it what happens to every gene when you knock one or several out."
)
show_last_job_message()

dataset_name, run_name = current_dataset_name(), current_run_name()
c1, c2 = st.columns(2)
with c1:
    st.metric("Data", markdown_text(dataset_name) if dataset_name else "none loaded")
    if state.get(state.DATASET_ID):
        summary = resources.dataset(state.get(state.DATASET_ID)).summary()
        st.caption(f"{summary['genes']} genes · {summary['samples']} samples · {summary['prior_edges']} known "
                   f"edges · {summary['perturbed_samples']} perturbed samples")
with c2:
    st.metric("Trained run", markdown_text(run_name) if run_name else "none yet")

st.subheader("Quick start")
if state.get(state.JOB_ID):
    live_progress()
elif st.button("Load the demo and train", type="primary", key="quick_start",
               help="150 simulated genes with knockouts, promoters and annotations; trains in under a minute."):
    with friendly_errors("The quick start"):
        quick_start()
        st.rerun()

st.subheader("Where to go next")
page_link("pages/1_Data.py", "Data — upload your files or pick the demo, check them")
page_link("pages/2_Train.py", "Train — settings, live progress, saved runs")
page_link("pages/3_Network.py", "Network — ranked edges, interactive graph, hubs, exports")
page_link("pages/4_Knockout.py", "Knockout — predict the effect of knocking genes out or down")
page_link("pages/5_Evaluate.py", "Evaluate — metrics against baselines, curves, ablation")
