"""Cached computations behind the Network page (keyed by run id and parameters; a saved run never changes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mtlgrn_core import analysis
from mtlgrn_core.infer import score_edges
from mtlgrn_core.viz.network import MAX_NODES, layout, network_html

from . import resources


@st.cache_data(max_entries=4, show_spinner=False)
def run_truth(run_id: str) -> pd.DataFrame | None:
    """The ground truth of the run's dataset when that dataset is in the workspace and has one."""
    dataset_id = resources.stored_dataset_id(run_id)
    return None if dataset_id is None else resources.dataset(dataset_id).truth


@st.cache_data(max_entries=4, show_spinner="Scoring every candidate edge…")
def ranked_edges(run_id: str) -> pd.DataFrame:
    run = resources.run(run_id)
    return analysis.annotate_edges(score_edges(run), run.prior, expression=run.inputs.expression,
                                   genes=run.genes, truth=run_truth(run_id))


@st.cache_data(max_entries=16, show_spinner="Computing hubs and communities…")
def network(run_id: str, top_k: int | None, min_score: float | None, known: str) -> analysis.NetworkAnalysis:
    edges = analysis.select_edges(ranked_edges(run_id), top_k=top_k, min_score=min_score, known=known)
    return analysis.analyse_network(edges, resources.run(run_id).tfs)


@st.cache_data(max_entries=16, show_spinner=False)
def truth_comparison(key: tuple) -> analysis.TruthComparison | None:
    """The network's edges against the dataset's ground truth (None without one)."""
    truth, run = run_truth(key[0]), resources.run(key[0])
    if truth is None:
        return None
    return analysis.compare_truth(network(*key).edges, truth, genes=run.genes, regulators=run.tfs)


@st.cache_data(max_entries=32, show_spinner=False)
def base_view(key: tuple, centre: str | None, hops: int, max_edges: int):
    """The drawn subgraph and its seeded layout, computed once per view (colours reuse it)."""
    whole = network(*key).graph
    if centre:
        view = analysis.neighbourhood(whole, centre, hops=hops, max_nodes=MAX_NODES)
    else:
        view = analysis.top_subgraph(whole, max_edges=max_edges, max_nodes=MAX_NODES)
    return view, layout(view)


@st.cache_data(max_entries=32, show_spinner=False)
def drawn(key: tuple, view_key: tuple, missed: bool):
    """The view, with the missed truth edges between its (already placed) genes when asked."""
    view, positions = base_view(key, *view_key)
    comparison = truth_comparison(key) if missed else None
    return (view if comparison is None else analysis.with_missed_edges(view, comparison.missed)), positions


@st.cache_data(max_entries=32, show_spinner=False)
def drawn_html(key: tuple, view_key: tuple, color_by: str, edge_color_by: str, title: str) -> str:
    view, positions = drawn(key, view_key, edge_color_by == "truth")
    return network_html(view, positions, color_by=color_by, edge_color_by=edge_color_by, title=title)
