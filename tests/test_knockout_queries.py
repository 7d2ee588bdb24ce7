"""mtlgrn_core.runs.knockout_queries (the Knockout page's computations) and the figures built from them."""

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers.infer import KNOCKOUT_HEAD_SOURCE, LINEAR_SOURCE
from mtlgrn_core.answers.knockout_evidence import COMMAND, LEARNED_HEAD, OBSERVATIONAL
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs import knockout_queries
from mtlgrn_core.viz import knockout as viz_ko
from tests.figure_strings import figure_strings

XSS = "<img src=x onerror=alert(1)>"


def test_knockout_query_columns_and_warnings(run):
    gene = run.tfs[0]
    table = knockout_queries.knockout_query(run, [gene], 0.0)
    assert list(table.columns) == ["gene", "baseline", "predicted", "delta", "log2fc", "z", "perturbed"]
    assert table.attrs == {"warnings": [], "source": KNOCKOUT_HEAD_SOURCE, "evidence": LEARNED_HEAD.format(command=COMMAND),
                           "not_measured": [], "context": ""}
    scale = dict(zip(run.genes, run.inputs.scale))
    np.testing.assert_allclose(table["z"], table["delta"] / table["gene"].map(scale), rtol=1e-6)
    over = knockout_queries.knockout_query(run, [gene], 1.5)
    assert any("overexpression" in note for note in over.attrs["warnings"])
    assert knockout_queries.dose_notes(run, 1.5) and not knockout_queries.dose_notes(run, 0.0)
    assert knockout_queries.query_label(["A", "B"], 0) == "A+B knockout"
    assert knockout_queries.query_label(["A"], 0.5) == "A at dose 0.5"
    csv = pd.read_csv(pd.io.common.BytesIO(knockout_queries.table_csv(table)))
    assert list(csv.columns) == list(table.columns) and len(csv) == len(table)


def test_knockout_query_without_a_knockout_task(dataset):
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2, task_weights={"edge": 1, "knockout": 0,
                                                                                "expression": 0.3}))
    table = knockout_queries.knockout_query(run, [run.genes[0]], 0.0)
    assert table.attrs == {"warnings": [], "source": LINEAR_SOURCE, "evidence": OBSERVATIONAL.format(command=COMMAND),
                           "not_measured": [], "context": ""}
    over = knockout_queries.knockout_query(run, [run.genes[0]], 1.5)  # linear: no dose range to leave
    assert over.attrs["warnings"] == [] and not knockout_queries.dose_notes(run, 1.5)


def test_comparison_matrix(run):
    a = knockout_queries.knockout_query(run, [run.tfs[0]], 0.0)
    b = knockout_queries.knockout_query(run, [run.tfs[1], run.tfs[2]], 0.5)
    matrix = knockout_queries.comparison_matrix({"a": a, "b": b}, top=10)
    assert list(matrix.columns) == ["a", "b"] and len(matrix) == 10
    assert not set(run.tfs[:3]) & set(matrix.index)
    biggest = matrix.abs().max(axis=1)
    assert biggest.is_monotonic_decreasing
    fig = viz_ko.comparison_heatmap(matrix)
    assert fig.data[0].z.shape == (10, 2)


def test_measured_knockout_and_comparison(run, dataset):
    gene = run.tfs[0]
    found = knockout_queries.measured_knockout(dataset, [gene], 0.0)
    assert found is not None and found.samples == [f"ko_{gene}"] and found.seen_in_training(run)
    assert knockout_queries.measured_knockout(dataset, [gene], 0.3) is None
    assert knockout_queries.measured_knockout(dataset, ["not a gene"], 0.0) is None
    table = knockout_queries.knockout_query(run, [gene], 0.0)
    frame, metrics = knockout_queries.compare_with_measured(table, found, dataset.genes)
    assert gene not in set(frame["gene"]) and len(frame) == dataset.n_genes - 1
    assert metrics["pearson_all"] == pytest.approx(np.corrcoef(frame["predicted"], frame["measured"])[0, 1])
    fig = viz_ko.measured_scatter(frame, metrics)
    assert "Pearson r" in fig.layout.title.text


def test_knockout_neighbourhood(run):
    gene = run.tfs[0]
    table = knockout_queries.knockout_query(run, [gene], 0.0)
    nodes, edges = knockout_queries.knockout_neighbourhood(run, table, [gene], max_targets=5)
    known = set(run.prior.loc[run.prior["source"] == gene, "target"])
    assert (edges["source"] == gene).all() and len(edges) <= 5
    assert set(edges.loc[edges["known"], "target"]) <= known
    assert set(nodes["gene"]) == {gene, *edges["target"]}
    assert nodes.loc[nodes["gene"] == gene, "perturbed"].all()
    fig = viz_ko.neighbourhood_figure(nodes, edges)
    assert fig.data[-1].name == "perturbed gene"
    non_tf = next(g for g in run.genes if g not in run.tfs)
    table = knockout_queries.knockout_query(run, [non_tf], 0.0)
    _, no_edges = knockout_queries.knockout_neighbourhood(run, table, [non_tf])
    assert no_edges.empty


def test_knockout_figures_escape_gene_names():
    table = pd.DataFrame({"gene": ["G1", XSS, "G3"], "baseline": [1.0, 2.0, 3.0], "predicted": [0.0, 2.5, 2.0],
                          "delta": [-1.0, 0.5, -1.0], "log2fc": [-5.0, 0.3, -0.6], "z": [-3.0, 1.0, -2.0],
                          "perturbed": [True, False, False]})
    nodes = table[["gene", "delta", "z", "perturbed"]]
    edges = pd.DataFrame({"source": ["G1", "G1"], "target": [XSS, "G3"], "score": [0.9, np.nan],
                          "known": [False, True]})
    frame = pd.DataFrame({"gene": [XSS, "G3"], "predicted": [0.1, 0.2], "measured": [0.3, 0.1]})
    figures = [viz_ko.changes_bar(table, title=f"after {XSS}"), viz_ko.volcano(table, title=f"{XSS} knockout"),
               viz_ko.neighbourhood_figure(nodes, edges),
               viz_ko.comparison_heatmap(pd.DataFrame({XSS: [1.0, -1.0]}, index=[XSS, "G2"])),
               viz_ko.measured_scatter(frame, {"pearson_all": -1.0})]
    for fig in figures:
        strings = figure_strings(fig)
        assert not any("<img" in s for s in strings)
        assert any("&lt;img" in s for s in strings)
    assert list(figures[0].data[0].y) == ["G3", "&lt;img src=x onerror=alert(1)&gt;"]  # the perturbed G1 is left out
    assert figures[0].layout.title.text == "after &lt;img src=x onerror=alert(1)&gt;"


