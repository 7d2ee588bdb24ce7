"""mtlgrn_core.report (Evaluate / Knockout computations) and the figures built from it."""

import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core import evaluate, jobs, report
from mtlgrn_core.config import TrainConfig
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.simulate import simulate
from mtlgrn_core.train import fit
from mtlgrn_core.viz import evaluate as viz_eval
from mtlgrn_core.viz import knockout as viz_ko
from tests.figure_strings import figure_strings

FAST = TrainConfig(epochs=5, patience=5, hidden=16, heads=2)
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def dataset():
    return simulate(40, seed=1)


@pytest.fixture(scope="module")
def run(dataset):
    return fit(dataset, FAST)


# -- edge prediction ---------------------------------------------------------------------------------------
def test_test_split_scores_match_the_runs_own_metrics(run, dataset):
    scored = report.test_split_scores(run, dataset)
    metrics = scored.metrics()
    assert list(metrics.index) == [report.MODEL, report.RANDOM, report.DEGREE, report.PEARSON, report.KO_ZSCORE]
    stored = report.stored_metrics_table(run.metrics)
    for method in stored.index:
        assert metrics.loc[method, "auprc"] == pytest.approx(stored.loc[method, "auprc"], abs=1e-4)
        assert metrics.loc[method, "auroc"] == pytest.approx(stored.loc[method, "auroc"], abs=1e-4)
    assert scored.labels.sum() == run.metrics["test_positives"]
    assert 0 < scored.density < 1


def test_test_split_scores_refuse_another_dataset(run):
    with pytest.raises(DataValidationError, match="other genes"):
        report.test_split_scores(run, simulate(30, seed=2))


def test_truth_scores_leave_out_the_training_graph(run, dataset):
    scored = report.truth_scores(run, dataset)
    n = dataset.n_genes
    graph = set((run.inputs.graph[0] * n + run.inputs.graph[1]).tolist())
    assert not graph & set((scored.src * n + scored.dst).tolist())
    assert (scored.src != scored.dst).all()
    truth = set(zip(dataset.truth["source"], dataset.truth["target"]))
    names = np.asarray(dataset.genes)
    expected = np.array([(s, t) in truth for s, t in zip(names[scored.src], names[scored.dst])])
    np.testing.assert_array_equal(scored.labels, expected)
    assert "truth.csv" in scored.description
    sampled = report.truth_scores(run, dataset, max_pairs=100)
    assert len(sampled.labels) <= 100 and sampled.notes


def test_truth_scores_need_a_truth(run, dataset):
    with pytest.raises(DataValidationError, match="no ground truth"):
        report.truth_scores(run, replace(dataset, truth=None))


def test_genie3_in_steps_equals_one_call(dataset):
    src = np.repeat(dataset.tf_indices[:3], 6)
    dst = np.tile(np.arange(6, 12), 3)
    steps = []
    chunked = report.genie3_pair_scores(dataset, src, dst, n_trees=5, steps=3,
                                        on_step=lambda done, total, msg: steps.append((done, total)))
    whole = evaluate.genie3_scores(dataset.expression, dataset.tf_indices, src, dst, n_trees=5)
    np.testing.assert_allclose(chunked, whole)
    assert steps[-1] == (3, 3)


def test_pair_table_scores_the_union_once():
    calls = []

    def score(src, dst):
        calls.append(len(src))
        return src * 100.0 + dst

    table = report.PairTable.compute(10, [(np.array([1, 2]), np.array([3, 4])), (np.array([2, 5]), np.array([4, 6]))],
                                     score)
    assert calls == [3]
    np.testing.assert_array_equal(table.lookup(np.array([5, 1]), np.array([6, 3])), [506.0, 103.0])
    with pytest.raises(ValueError, match="not scored"):
        table.lookup(np.array([0]), np.array([1]))


def test_curve_points_are_thinned_and_ordered(run, dataset):
    scored = report.test_split_scores(run, dataset)
    curves = report.curve_points(scored, max_points=20)
    for curve in curves.values():
        assert len(curve["roc"]) <= 20 and curve["roc"]["fpr"].is_monotonic_increasing
        assert curve["pr"]["recall"].is_monotonic_increasing
    roc = viz_eval.roc_figure(curves, scored.metrics())
    pr = viz_eval.pr_figure(curves, scored.metrics(), scored.density)
    assert len(roc.data) == len(curves) + 1 and len(pr.data) == len(curves)
    assert "AUPRC" in pr.data[0].name


# -- knockout cross-validation and ablation ----------------------------------------------------------------
def test_knockout_cross_validation(dataset):
    progress = []
    table = report.knockout_cross_validation(dataset, FAST, folds=3, on_fold=lambda *a: progress.append(a))
    assert list(table.index) == [report.MODEL, report.ZERO, report.MEAN_DELTA, report.LINEAR]
    assert list(table.columns) == [*evaluate.KNOCKOUT_METRICS, "n"]
    assert (table["n"] == len(report.measured_knockouts(dataset))).all()
    assert table.loc[report.ZERO, "pearson_all"] == 0
    assert table[["pearson_all", "pearson_top"]].abs().le(1).all().all()
    assert [p[0] for p in progress] == [0, 1, 2, 3]
    rows = pd.DataFrame(table.attrs["per_knockout"])
    assert set(rows["fold"]) == {0, 1, 2} and rows.groupby("method").size().nunique() == 1


def test_knockout_cross_validation_needs_knockouts():
    few = simulate(30, seed=0, knockouts=3, knockdowns="none", n_double_knockouts=0)
    with pytest.raises(DataValidationError, match="at least 5 genes"):
        report.knockout_cross_validation(few, FAST)


def test_ablation_variants_and_table(dataset, run):
    names = [name for name, _ in report.ablation_variants(dataset, FAST)]
    assert names[0] == "full model"
    assert {"without the edge task", "without the knockout task", "without the expression task",
            "without promoter features", "without knockout features"} <= set(names)
    only_expression = TrainConfig(epochs=2, modalities=("expression",))
    assert not any("features" in n for n, _ in report.ablation_variants(dataset, only_expression))
    steps = []
    table = report.ablation(dataset, FAST, on_step=lambda *a: steps.append(a))
    assert list(table["variant"]) == names
    assert table.loc[0, "auprc"] == pytest.approx(run.metrics["test"]["auprc"], abs=1e-4)
    assert table.loc[0, "auprc_change"] == 0
    assert "knockout" not in table.loc[names.index("without the knockout task"), "tasks"]
    assert steps[-1][:2] == (len(names), len(names))
    fig = viz_eval.ablation_figure(table)
    assert len(fig.data[0].y) == table["auprc"].notna().sum()


def test_ablation_does_not_vary_a_task_without_its_data(dataset):
    without_perturbations = dataset.without_samples({s for s in dataset.samples if s.startswith(("ko_", "kd_"))})
    without_perturbations = replace(without_perturbations, sample_sheet=None)
    names = [name for name, _ in report.ablation_variants(without_perturbations, FAST)]
    assert "without the knockout task" not in names
    assert {"without the edge task", "without the expression task"} <= set(names)


def test_ablation_stops():
    stop = threading.Event()
    stop.set()
    with pytest.raises(jobs.TaskStopped):
        report.ablation(simulate(30, seed=0), FAST, stop=stop)


# -- knockout queries ----------------------------------------------------------------------------------------
def test_knockout_query_columns_and_warnings(run):
    gene = run.tfs[0]
    table = report.knockout_query(run, [gene], 0.0)
    assert list(table.columns) == ["gene", "baseline", "predicted", "delta", "log2fc", "z", "perturbed"]
    assert table.attrs == {"warnings": [], "untrained": False}
    scale = dict(zip(run.genes, run.inputs.scale))
    np.testing.assert_allclose(table["z"], table["delta"] / table["gene"].map(scale), rtol=1e-6)
    over = report.knockout_query(run, [gene], 1.5)
    assert any("overexpression" in note for note in over.attrs["warnings"])
    assert report.dose_notes(run, 1.5) and not report.dose_notes(run, 0.0)
    assert report.query_label(["A", "B"], 0) == "A+B knockout"
    assert report.query_label(["A"], 0.5) == "A at dose 0.5"
    csv = pd.read_csv(pd.io.common.BytesIO(report.table_csv(table)))
    assert list(csv.columns) == list(table.columns) and len(csv) == len(table)


def test_knockout_query_without_a_knockout_task(dataset):
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2, task_weights={"edge": 1, "knockout": 0,
                                                                                "expression": 0.3}))
    table = report.knockout_query(run, [run.genes[0]], 0.0)
    assert table.attrs["untrained"] and table.attrs["warnings"] == []


def test_comparison_matrix(run):
    a = report.knockout_query(run, [run.tfs[0]], 0.0)
    b = report.knockout_query(run, [run.tfs[1], run.tfs[2]], 0.5)
    matrix = report.comparison_matrix({"a": a, "b": b}, top=10)
    assert list(matrix.columns) == ["a", "b"] and len(matrix) == 10
    assert not set(run.tfs[:3]) & set(matrix.index)
    biggest = matrix.abs().max(axis=1)
    assert biggest.is_monotonic_decreasing
    fig = viz_ko.comparison_heatmap(matrix)
    assert fig.data[0].z.shape == (10, 2)


def test_measured_knockout_and_comparison(run, dataset):
    gene = run.tfs[0]
    found = report.measured_knockout(dataset, [gene], 0.0)
    assert found is not None and found.samples == [f"ko_{gene}"] and found.seen_in_training(run)
    assert report.measured_knockout(dataset, [gene], 0.3) is None
    assert report.measured_knockout(dataset, ["not a gene"], 0.0) is None
    table = report.knockout_query(run, [gene], 0.0)
    frame, metrics = report.compare_with_measured(table, found, dataset.genes)
    assert gene not in set(frame["gene"]) and len(frame) == dataset.n_genes - 1
    assert metrics["pearson_all"] == pytest.approx(np.corrcoef(frame["predicted"], frame["measured"])[0, 1])
    fig = viz_ko.measured_scatter(frame, metrics)
    assert "Pearson r" in fig.layout.title.text


def test_knockout_neighbourhood(run):
    gene = run.tfs[0]
    table = report.knockout_query(run, [gene], 0.0)
    nodes, edges = report.knockout_neighbourhood(run, table, [gene], max_targets=5)
    known = set(run.prior.loc[run.prior["source"] == gene, "target"])
    assert (edges["source"] == gene).all() and len(edges) <= 5
    assert set(edges.loc[edges["known"], "target"]) <= known
    assert set(nodes["gene"]) == {gene, *edges["target"]}
    assert nodes.loc[nodes["gene"] == gene, "perturbed"].all()
    fig = viz_ko.neighbourhood_figure(nodes, edges)
    assert fig.data[-1].name == "perturbed gene"
    non_tf = next(g for g in run.genes if g not in run.tfs)
    _, no_edges = report.knockout_neighbourhood(run, report.knockout_query(run, [non_tf], 0.0), [non_tf])
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


# -- background tasks ----------------------------------------------------------------------------------------
def _wait(task, seconds=10):
    deadline = time.time() + seconds
    while not task.snapshot().finished and time.time() < deadline:
        time.sleep(0.02)
    return task.snapshot()


def test_background_task_result_error_and_stop():
    registry = jobs.TaskRegistry()

    def work(on_step, stop):
        for k in range(3):
            on_step(k, 3, f"step {k}")
        return 42

    snap = _wait(registry.start("a", "Adding", work, params={"epochs": 3}))
    assert (snap.status, snap.result, snap.params) == (jobs.FINISHED, 42, {"epochs": 3})
    assert snap.fraction == pytest.approx(2 / 3) and snap.message == "step 2"

    def bad(on_step, stop):
        raise DataValidationError("no knockouts: add some.")

    snap = _wait(registry.start("b", "Failing", bad))
    assert snap.status == jobs.FAILED and snap.error == "no knockouts: add some."

    release = threading.Event()

    def slow(on_step, stop):
        release.wait(5)
        if stop.is_set():
            raise jobs.TaskStopped()
        return 1

    task = registry.start("c", "Slow", slow)
    assert registry.start("c", "Slow", slow) is task  # a running task is not started twice
    task.stop()
    release.set()
    assert _wait(task).status == jobs.STOPPED
    assert registry.get("c") is task
    registry.forget("c")
    assert registry.get("c") is None
