"""Cached computations and session helpers behind the Knockout page (a saved run never changes: its id is
the key)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mtlgrn_core.answers import explain
from mtlgrn_core.evaluation import de_comparison
from mtlgrn_core.runs import knockout_queries
from mtlgrn_core.runs.workspace import safe_name
from mtlgrn_core.viz import knockout as viz

from . import resources, state

MAX_GENES = 10  # genes perturbed at once
MAX_HISTORY = 12  # queries kept for the comparison heatmap


# Tables are cached as data (copied); figures as resources (shared, never modified after they are built), so a
# repeated query costs no pickling of thousands of points.
@st.cache_data(max_entries=256, show_spinner=False)
def prediction(run_id: str, genes: tuple[str, ...], dose: float, context: str | None = None) -> pd.DataFrame:
    """A query's table: from the control samples, or in ``context`` (:mod:`mtlgrn_core.answers.contexts`)."""
    return knockout_queries.knockout_query(resources.run(run_id), genes, dose, ensemble=resources.ensemble(run_id),
                                           context=context)


@st.cache_resource(max_entries=64, show_spinner=False)
def result_figures(run_id: str, genes: tuple[str, ...], dose: float, top: int,
                   context: str | None = None) -> dict[str, go.Figure]:
    table, label = prediction(run_id, genes, dose, context), knockout_queries.query_label(genes, dose)
    label += f" in {context}" if context else ""
    return {"bar": viz.changes_bar(table, top=top, title=f"Most changed genes after {label}"),
            "volcano": viz.volcano(table, title=f"Volcano plot, {label}")}


@st.cache_resource(max_entries=64, show_spinner=False)
def neighbourhood(run_id: str, genes: tuple[str, ...], dose: float, max_targets: int, min_score: float,
                  by_effect: bool = False):
    table = prediction(run_id, genes, dose)
    run = resources.run(run_id)
    nodes, edges = knockout_queries.knockout_neighbourhood(run, table, genes, max_targets=max_targets,
                                                           min_score=min_score)
    if by_effect:
        edges["carried"] = explain.carried(run, propagation(run_id, genes, dose), edges["source"], edges["target"])
    title = f"Targets of {', '.join(genes)}, coloured by predicted change ({knockout_queries.query_label(genes, dose)})"
    return nodes, edges, viz.neighbourhood_figure(nodes, edges, title=title) if len(edges) else None


@st.cache_resource(max_entries=32, show_spinner=False)
def propagation(run_id: str, genes: tuple[str, ...], dose: float) -> explain.Propagation:
    """The parts of a query's prediction (of the first member, for an ensemble)."""
    return explain.propagation(resources.run(run_id), list(genes), dose)


@st.cache_resource(max_entries=128, show_spinner=False)
def explanation(run_id: str, genes: tuple[str, ...], dose: float, target: str, top: int):
    """Why ``target`` moves: its :class:`~mtlgrn_core.answers.explain.Explanation` and the figure of its paths."""
    why = explain.explain(resources.run(run_id), list(genes), target, dose, top=top,
                          parts=propagation(run_id, genes, dose))
    changes = prediction(run_id, genes, dose).set_index("gene")["delta"]
    title = f"Why {target} moves after {knockout_queries.query_label(genes, dose)}"
    return why, viz.paths_figure(why.paths, changes, title=title) if len(why.paths) else None


@st.cache_resource(max_entries=32, show_spinner=False)
def comparison(run_id: str, queries: tuple[tuple[tuple[str, ...], float], ...]):
    tables = {knockout_queries.query_label(g, d): prediction(run_id, g, d) for g, d in queries}
    matrix = knockout_queries.comparison_matrix(tables)
    return matrix, viz.comparison_heatmap(matrix, value_label="predicted change")


@st.cache_resource(max_entries=64, show_spinner=False)
def measured(run_id: str, dataset_id: str, genes: tuple[str, ...], dose: float):
    dataset, run = resources.dataset(dataset_id), resources.run(run_id)
    found = knockout_queries.measured_knockout(dataset, genes, dose)
    if found is None:
        return None
    frame, metrics = knockout_queries.compare_with_measured(prediction(run_id, genes, dose), found, dataset.genes)
    title = (f"{knockout_queries.query_label(genes, dose)}: predicted against measured "
             f"(Pearson r = {metrics['pearson_all']:.2f})")
    return found, found.seen_in_training(run), frame, metrics, viz.measured_scatter(frame, metrics, title=title)


@st.cache_resource(max_entries=16, show_spinner=False)
def experiment(run_id: str, genes: tuple[str, ...], dose: float, file_name: str, data: bytes):
    """A query's prediction against the user's differential-expression table: the
    :class:`~mtlgrn_core.evaluation.de_comparison.Comparison`, the predicted column compared (``log2fc`` or ``delta``)
    and the scatter."""
    table = prediction(run_id, genes, dose)
    predicted, column = de_comparison.predicted_change(table)
    de = de_comparison.read_de_table(data, file_name, genes=table["gene"])
    comparison = de_comparison.compare_prediction(predicted, de)
    fig = viz.experiment_scatter(comparison, predicted_label=de_comparison.PREDICTED_LABELS[column],
                                 title=f"{knockout_queries.query_label(genes, dose)}: predicted against {file_name}")
    return comparison, column, fig


def keep_experiment(key: str) -> None:
    """``on_change`` of the experiment uploader ``key``: its file (name and bytes) kept in the session, so that
    the comparison outlives the uploader (a page that stops early, another page); removing the file forgets it."""
    upload = st.session_state.get(key)
    state.put(state.KO_EXPERIMENT, None if upload is None else (upload.name, upload.getvalue()))


def valid_history(run) -> list[tuple[tuple[str, ...], float]]:
    """The session's queries whose genes are all genes of this run (or regulators its prior names that it does
    not measure)."""
    known = set(run.gene_index) | set(run.regulators_not_measured())
    return [(tuple(g), float(d)) for g, d in state.get(state.KO_HISTORY) if all(x in known for x in g)]


def remember(genes: tuple[str, ...], dose: float) -> None:
    query = (genes, round(float(dose), 2))
    history = [q for q in state.get(state.KO_HISTORY) if (tuple(q[0]), float(q[1])) != query] + [query]
    state.put(state.KO_HISTORY, history[-MAX_HISTORY:])


def stem(genes: tuple[str, ...], dose: float) -> str:
    """A download file name (without extension) for a query; gene names are reduced to safe characters."""
    return f"knockout-{safe_name('-'.join(genes), fallback='genes')}-dose{dose:g}"
