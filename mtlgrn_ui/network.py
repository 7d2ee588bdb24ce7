"""Computations behind the Network page: the ranked edges scored in the background (shared by every session),
then cached views keyed by run id and parameters (a saved run never changes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mtlgrn_core.answers import analysis
from mtlgrn_core.answers.infer import score_edges
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.run import Run
from mtlgrn_core.progress import Progress, TaskStopped
from mtlgrn_core.runs.ensemble import Ensemble, ensemble_edges
from mtlgrn_core.runs.jobs import FAILED, FINISHED, STOPPED, TaskSnapshot
from mtlgrn_core.viz.network import MAX_NODES, layout, network_html

from . import resources
from .background import task_state, tasks


@st.cache_data(max_entries=4, show_spinner=False)
def run_truth(run_id: str) -> pd.DataFrame | None:
    """The ground truth of the run's dataset when that dataset is in the workspace and has one."""
    dataset_id = resources.stored_dataset_id(run_id)
    return None if dataset_id is None else resources.dataset(dataset_id).truth


EDGE_SCORING = "edge scoring"
FOREGROUND_WAIT_S = 2.0  # a scoring that ends within this long shows its result at once, no progress bar


def _scoring_owner(run_id: str) -> str:
    """The background tasks' key for a run: its folder (a run id is unique in one workspace only)."""
    return str(resources.workspace().run_path(run_id))


def start_edge_scoring(run_id: str) -> TaskSnapshot:
    """The run's ranked edges (:func:`ranked_edges`), scored in the background once for every session: waits
    up to :data:`FOREGROUND_WAIT_S` for them, then shows the scoring's progress (the page reruns when it ends).
    A stopped scoring starts again on the next call; a failed one shows its error and a button to try again."""
    owner = _scoring_owner(run_id)
    task = tasks().get((owner, EDGE_SCORING))
    status = None if task is None else task.snapshot().status
    if status == FAILED and st.button("Score the edges again", key="rescore_edges"):
        status = None
    if status in (None, STOPPED):
        tasks().forget((owner, EDGE_SCORING))
        work = _scoring_work(resources.run(run_id), resources.ensemble(run_id), run_truth(run_id))
        task = tasks().start((owner, EDGE_SCORING), "Scoring every candidate edge", work)
    task.join(FOREGROUND_WAIT_S)
    return task_state(owner, EDGE_SCORING)


def _scoring_work(run: Run, ensemble: Ensemble | None, truth: pd.DataFrame | None):
    def work(on_step: Progress, stop) -> pd.DataFrame:
        what = f"the {len(run.tfs):,} regulators scored against {len(run.genes):,} genes" + (
            f" by each of the {len(ensemble.members)} members" if ensemble is not None else "")

        def progress(share: float) -> None:
            if stop.is_set():
                raise TaskStopped
            on_step(round(100 * share), 100, f"{share:.0%} of {what}")

        table = score_edges(run, progress=progress) if ensemble is None else ensemble_edges(ensemble, progress=progress)
        on_step(100, 100, "signs and ground truth of the kept edges")
        return analysis.annotate_edges(table, run.prior, expression=run.inputs.expression, genes=run.genes,
                                       truth=truth)
    return work


def ranked_edges(run_id: str) -> pd.DataFrame:
    """The run's ranked, annotated edges once :func:`start_edge_scoring` has finished them."""
    task = tasks().get((_scoring_owner(run_id), EDGE_SCORING))
    snap = None if task is None else task.snapshot()
    if snap is None or snap.status != FINISHED:
        raise DataValidationError("the edges of this run are not scored yet: open the Network page first.")
    return snap.result


@st.cache_data(max_entries=16, show_spinner="Computing hubs and communities…")
def network(run_id: str, top_k: int | None, min_score: float | None, known: str,
            min_stability: float | None = None) -> analysis.NetworkAnalysis:
    edges = analysis.select_edges(ranked_edges(run_id), top_k=top_k, min_score=min_score, known=known,
                                  min_stability=min_stability)
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
