"""One run per cell group: starting the training (Train page) and comparing the groups' runs (Network page)."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from mtlgrn_core.answers.group_comparison import edge_presence, knockout_across_groups, regulator_rewiring
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.runs.groups import MIN_GROUP_SAMPLES, batch_runs, train_groups
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz.escape import csv_safe, markdown_text

from . import resources
from .background import task_state, tasks

GROUP_EPOCHS = 100
HEATMAP_GENES = 30
MOVED = 1e-6  # a predicted change below this (in the data's units) counts as none


def group_columns(dataset_id: str) -> list[str]:
    """The sample columns of a dataset that split its samples into two groups or more."""
    info = resources.dataset(dataset_id).sample_info
    if info is None:
        return []
    return [str(c) for c in info.columns if info[c].astype(str).nunique() > 1 and c != "cells"]


def group_training_section(dataset_id: str) -> None:
    """Train page: pick a sample column, train one run per group in the background."""
    columns = group_columns(dataset_id)
    if not columns:
        st.caption("One run per cell group needs a sample column with groups: single-cell data (.h5ad, .loom) "
                   "loaded on the Data page with a cell-group or perturbation column.")
        return
    c1, c2, c3 = st.columns([2, 1, 2])
    column = c1.selectbox("Group column", columns, key="group_column",
                          help="One run per value of this column (e.g. the cell type), each with the default "
                               "training settings (not the form above).")
    epochs = int(c2.number_input("Epochs per group", 1, 2000, GROUP_EPOCHS, 10, key="group_epochs"))
    name = c3.text_input("Run name", value="by group", key="group_run_name")
    st.caption(f"Each group becomes a dataset and a run of its own; a group with fewer than {MIN_GROUP_SAMPLES} "
               "samples is left out. The runs appear under Saved runs, and the Network page compares them.")
    key = (dataset_id, "groups")
    snap = task_state(dataset_id, "groups")
    running = snap is not None and not snap.finished
    if st.button("Train one run per group", key="group_train", disabled=running):
        config = TrainConfig(epochs=epochs)
        tasks().forget(key)
        tasks().start(key, "Training one run per group",
                      lambda on_step, stop: train_groups(resources.workspace(), dataset_id, column, config,
                                                         name.strip() or "by group", on_step, stop),
                      queued=True)
        st.rerun()
    if snap is not None and snap.status == FINISHED:
        st.success(f"{len(snap.result.run_ids)} group runs saved. Select one of them and open the Network page's "
                   "'Compare groups' tab.")
        for note in snap.result.notes:
            st.caption(markdown_text(note))


@st.cache_data(max_entries=4, show_spinner="Comparing the groups' networks…")
def _presence(run_ids: tuple[str, ...], names: tuple[str, ...], top: int):
    runs = {name: resources.run(run_id) for name, run_id in zip(names, run_ids)}
    presence = edge_presence(runs, top=top)
    return presence, regulator_rewiring(presence, list(names))


def comparison_section(run_id: str) -> None:
    """Network page: the run's group set side by side (edges, regulators, one knockout in every group)."""
    group = resources.run(run_id).info.get("group")
    members = batch_runs(resources.workspace(), group["batch"]) if group and group.get("batch") else {}
    if len(members) < 2:
        st.info("This run is not one of a set trained per cell group. On the Train page, 'One run per cell group' "
                "trains one run per value of a sample column (e.g. the cell type); select one of them here to "
                "compare the groups.")
        return
    names, ids = tuple(members), tuple(members.values())
    st.caption(f"{len(names)} groups of column **{markdown_text(str(group['column']))}**: "
               + ", ".join(markdown_text(n) for n in names) + ".")
    top = st.slider("Edges per group", 10, 2000, 200, 10, key="group_top",
                    help="Each group's best-scoring edges are compared.")
    presence, rewiring = _presence(ids, names, top)
    only = presence[presence["groups"] == 1]
    st.markdown(f"**Edges**: {len(presence):,} in some group's top {top}, {len(only):,} in one group only "
                "(listed first).")
    st.dataframe(presence, hide_index=True, key="group_edges", height=300)
    st.download_button("Download the edge comparison (CSV)", csv_safe(presence).to_csv(index=False).encode(),
                       file_name=f"group-edges-{run_id}.csv", mime="text/csv", key="group_edges_csv",
                       on_click="ignore")
    st.markdown("**Regulators whose targets change most between groups** (rewiring: 1 − shared / all targets "
                "in the groups' tops, for the most different pair of groups)")
    st.dataframe(rewiring, hide_index=True, key="group_regulators", height=260)
    runs = {name: resources.run(rid) for name, rid in members.items()}
    regulators = sorted(set.intersection(*(set(r.tfs) for r in runs.values())))
    gene = st.selectbox("Knock out in every group", regulators, key="group_ko_gene")
    if gene:
        full = knockout_across_groups(runs, [gene])
        sources = full.attrs["sources"]
        moved = full[full.abs().max(axis=1) > MOVED]
        if moved.empty:
            st.info(f"No gene moves when {markdown_text(gene)} is knocked out in any group (no known target of it "
                    "in the groups' networks).")
        else:
            matrix = moved.head(HEATMAP_GENES)
            figure = px.imshow(matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), aspect="auto",
                               color_continuous_scale="RdBu_r", color_continuous_midpoint=0.0,
                               labels={"color": "predicted change"},
                               title=f"{gene} knockout: the {len(matrix)} most changed genes in any group")
            figure.update_yaxes(dtick=1).update_layout(height=max(320, 160 + 18 * len(matrix)))
            st.plotly_chart(figure, key="group_ko_heatmap")
            st.caption(f"{len(moved):,} genes move in some group; the {len(matrix)} that move most are shown.")
        for name, source in sources.items():
            st.caption(f"{markdown_text(name)}: prediction {source}.")
