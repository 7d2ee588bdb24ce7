"""mtlgrn_core.evaluation.edge_evaluation: a run's test split and a ground truth scored from the run alone."""

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation import edge_evaluation
from mtlgrn_core.model import baselines
from mtlgrn_core.model.methods import DEGREE, KO_ZSCORE, MODEL, PEARSON, RANDOM, REVERSE
from mtlgrn_core.viz import evaluate as viz_eval


def test_test_split_scores_match_the_runs_own_metrics(run):
    scored = edge_evaluation.test_split_scores(run)
    metrics = scored.metrics()
    assert list(metrics.index) == [MODEL, RANDOM, DEGREE, REVERSE, PEARSON, KO_ZSCORE]
    stored = edge_evaluation.stored_metrics_table(run.metrics)
    assert list(stored.index) == list(metrics.index)
    for method in stored.index:
        assert metrics.loc[method, "auprc"] == pytest.approx(stored.loc[method, "auprc"], abs=1e-5)
        assert metrics.loc[method, "auroc"] == pytest.approx(stored.loc[method, "auroc"], abs=1e-5)
    assert scored.labels.sum() == run.metrics["test_positives"]
    assert 0 < scored.density < 1


def test_test_split_is_the_stored_one(run):
    # the pairs scored are the run's own test pairs, whatever split another draw would give
    scored = edge_evaluation.test_split_scores(run)
    src, dst, labels = run.split.pairs("test")
    np.testing.assert_array_equal(scored.src, src)
    np.testing.assert_array_equal(scored.labels, labels.astype(bool))


def test_knockout_zscore_baseline_is_the_models_zscore(run, dataset):
    from mtlgrn_core.model.features import knockout_zscores

    ko_genes, z, _ = knockout_zscores(dataset)
    src, dst = np.repeat(ko_genes[:3], 5), np.tile(np.arange(5), 3)
    from_data = baselines.knockout_zscore_scores(ko_genes, z, src, dst)
    from_run = baselines.knockout_zscore_scores(run.inputs.ko_genes, run.inputs.ko_zscore, src, dst)
    np.testing.assert_allclose(from_data, from_run, rtol=1e-6)
    np.testing.assert_allclose(from_data, np.abs(z[np.searchsorted(ko_genes, src), 0, dst]))


def test_truth_scores_leave_out_the_training_graph(run, dataset):
    scored = edge_evaluation.truth_scores(run, dataset.truth)
    n = dataset.n_genes
    graph = set((run.inputs.graph[0] * n + run.inputs.graph[1]).tolist())
    assert not graph & set((scored.src * n + scored.dst).tolist())
    assert (scored.src != scored.dst).all()
    truth = set(zip(dataset.truth["source"], dataset.truth["target"]))
    names = np.asarray(dataset.genes)
    expected = np.array([(s, t) in truth for s, t in zip(names[scored.src], names[scored.dst])])
    np.testing.assert_array_equal(scored.labels, expected)
    assert "ground truth" in scored.description
    sampled = edge_evaluation.truth_scores(run, dataset.truth, max_pairs=100)
    assert len(sampled.labels) <= 100 and sampled.notes


def test_truth_scores_say_what_they_left_out(run, dataset):
    truth = pd.concat([dataset.truth, pd.DataFrame({"source": ["NOT_A_GENE"], "target": [run.genes[0]]})])
    scored = edge_evaluation.truth_scores(run, truth)
    assert any("1 ground-truth edges name genes" in note for note in scored.notes)
    with pytest.raises(DataValidationError, match="no edge among the candidate pairs"):
        edge_evaluation.truth_scores(run, truth.iloc[-1:])


def test_truth_scores_leave_out_the_reverse_of_every_training_edge(run, dataset):
    # a truth listing the reverse of every training edge (as STRING truths list TF-TF edges both ways): the
    # reverse-edge shortcut would find them all, so none may be scored
    n = dataset.n_genes
    graph = run.split.positives("train")
    graph_ids = set((graph[0] * n + graph[1]).tolist())
    names = np.asarray(dataset.genes)
    tfs = set(dataset.tf_indices.tolist())
    reverse = [(b, a) for a, b in graph.T if b in tfs and b * n + a not in graph_ids]
    assert reverse  # the run has training edges between TFs listed one way only
    truth = pd.concat([dataset.truth, pd.DataFrame({"source": names[[b for b, _ in reverse]],
                                                    "target": names[[a for _, a in reverse]]})])
    scored = edge_evaluation.truth_scores(run, truth)
    assert not graph_ids & set((scored.dst * n + scored.src).tolist())  # no scored pair's reverse was trained on
    assert not graph_ids & set((scored.src * n + scored.dst).tolist())
    assert (scored.scores[REVERSE] < 1).all()  # so the reverse-edge baseline has nothing to find
    candidates = sum(1 for t in tfs for g in range(n) if t != g)
    left_out = {i for i in graph_ids} | {(b * n + a) for a, b in graph.T if b in tfs}
    assert len(scored.labels) == candidates - len(left_out)
    assert any("reverse" in note and "training edge" in note for note in scored.notes)
    assert "reverse" in scored.description


def test_genie3_in_steps_equals_one_call(run, dataset):
    src = np.repeat(dataset.tf_indices[:3], 6)
    dst = np.tile(np.arange(6, 12), 3)
    steps = []
    chunked = edge_evaluation.genie3_pair_scores(run, src, dst, n_trees=5, steps=3,
                                                 on_step=lambda done, total, msg: steps.append((done, total)))
    # on the run's expression: each gene standardised, as GENIE3 itself scales every gene to unit variance
    whole = baselines.genie3_scores(run.inputs.expression, dataset.tf_indices, src, dst, n_trees=5)
    np.testing.assert_allclose(chunked, whole)
    assert steps[-1] == (3, 3)


def test_pair_table_scores_the_union_once():
    calls = []

    def score(src, dst):
        calls.append(len(src))
        return src * 100.0 + dst

    pair_sets = [(np.array([1, 2]), np.array([3, 4])), (np.array([2, 5]), np.array([4, 6]))]
    table = edge_evaluation.PairTable.compute(10, pair_sets, score)
    assert calls == [3]
    np.testing.assert_array_equal(table.lookup(np.array([5, 1]), np.array([6, 3])), [506.0, 103.0])
    with pytest.raises(ValueError, match="not scored"):
        table.lookup(np.array([0]), np.array([1]))


def test_curve_points_are_thinned_and_ordered(run):
    scored = edge_evaluation.test_split_scores(run)
    curves = edge_evaluation.curve_points(scored, max_points=20)
    for curve in curves.values():
        assert len(curve["roc"]) <= 20 and curve["roc"]["fpr"].is_monotonic_increasing
        assert curve["pr"]["recall"].is_monotonic_increasing
    roc = viz_eval.roc_figure(curves, scored.metrics())
    pr = viz_eval.pr_figure(curves, scored.metrics(), scored.density)
    assert len(roc.data) == len(curves) + 1 and len(pr.data) == len(curves)
    assert "AUPRC" in pr.data[0].name




def test_reciprocal_share():
    assert edge_evaluation.reciprocal_share(np.array([[0, 1, 2], [1, 0, 3]])) == pytest.approx(2 / 3)
    assert np.isnan(edge_evaluation.reciprocal_share(np.zeros((2, 0), dtype=int)))
