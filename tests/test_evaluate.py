"""Metrics and baselines of BENCHMARK.md against hand-computed values and scikit-learn."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.metrics import average_precision_score, roc_auc_score

from mtlgrn_core.inputs.data import build_dataset
from mtlgrn_core.model.baselines import (
    additive_double,
    degree_scores,
    genie3_scores,
    knockout_zscore_scores,
    mean_training_delta,
    pearson_scores,
    random_scores,
    zero_delta,
)
from mtlgrn_core.model.features import knockout_zscores
from mtlgrn_core.model.linear_model import LinearModel, fit_linear_model, linear_propagation
from mtlgrn_core.model.metrics import (
    edge_metrics,
    edge_report,
    knockout_metrics,
    precision_at_k,
    ranking_areas,
    summarise,
)

# ----------------------------------------------------------------------------------------------------
# Edge metrics


def test_edge_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.1
    scores = rng.normal(size=300) + labels
    m = edge_metrics(scores, labels)
    density = labels.mean()
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["auprc"] == pytest.approx(average_precision_score(labels, scores))
    assert m["auprc_ratio"] == pytest.approx(m["auprc"] / density)
    k = int(labels.sum())
    assert m["epr"] == pytest.approx(labels[np.argsort(-scores)[:k]].mean() / density)  # no ties here
    assert (m["n_pairs"], m["n_positives"]) == (300, k)


@pytest.mark.parametrize("tied", [False, True])
def test_ranking_areas_equal_sklearn_with_and_without_ties(tied):
    """One sort gives both areas; tied scores (coarse baselines such as the degree) form one threshold, as in
    scikit-learn."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(2, 400))
        labels = rng.random(n) < rng.uniform(0.02, 0.7)
        if labels.all() or not labels.any():
            continue
        scores = rng.integers(0, 6, n).astype(float) if tied else rng.normal(size=n) + labels
        auroc, auprc = ranking_areas(scores, labels)
        assert auroc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert auprc == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_perfect_and_reversed_ranking():
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.arange(10, 0, -1.0)
    best = edge_metrics(scores, labels)
    assert best["auroc"] == 1.0 and best["auprc"] == 1.0
    assert best["epr"] == pytest.approx(1 / 0.2) and best["auprc_ratio"] == pytest.approx(5.0)
    worst = edge_metrics(-scores, labels)
    assert worst["auroc"] == 0.0 and worst["epr"] == 0.0
    # average precision of positives ranked 9th and 10th: (1/9 + 2/10) / 2
    assert worst["auprc"] == pytest.approx((1 / 9 + 2 / 10) / 2)


def test_epr_ties_hand_example():
    # k = 3 positives. One pair above the 3rd score (a positive); three pairs tie at it, one of them
    # positive; two of the three are taken: expected positives 1 + 2 * 1/3 = 5/3, precision 5/9.
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    labels = np.array([1, 0, 1, 0, 1])
    assert precision_at_k(scores, labels, 3) == pytest.approx(5 / 9)
    assert edge_metrics(scores, labels)["epr"] == pytest.approx((5 / 9) / (3 / 5))


def test_epr_ties_equal_average_over_tie_breaks():
    scores = np.array([5, 4, 4, 4, 4, 2, 2, 1], dtype=float)
    labels = np.array([0, 1, 1, 0, 0, 1, 0, 1])
    k = 4
    precisions = []
    for jitter in itertools.permutations(range(8)):  # every tie-break order
        order = np.lexsort((np.array(jitter), -scores))
        precisions.append(labels[order[:k]].mean())
    assert precision_at_k(scores, labels, k) == pytest.approx(np.mean(precisions))
    assert precision_at_k(np.zeros(8), labels, k) == pytest.approx(labels.mean())  # all tied: density


def test_edge_metrics_degenerate():
    none = edge_metrics(np.array([0.3, 0.2]), np.array([0, 0]))
    assert all(np.isnan(none[k]) for k in ("auroc", "auprc", "auprc_ratio", "epr"))
    assert none["n_positives"] == 0
    every = edge_metrics(np.array([0.3, 0.2]), np.array([1, 1]))
    assert np.isnan(every["auroc"]) and every["auprc"] == 1.0 and every["epr"] == 1.0
    empty = edge_metrics(np.array([]), np.array([]))
    assert empty["n_pairs"] == 0 and np.isnan(empty["auroc"])
    with pytest.raises(ValueError, match="NaN"):
        edge_metrics(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        edge_metrics(np.array([1.0]), np.array([0, 1]))


def test_edge_report():
    labels = np.array([1, 0, 0, 1, 0])
    report = edge_report({"perfect": labels * 1.0, "flat": np.zeros(5)}, labels)
    assert list(report.index) == ["perfect", "flat"] and report.index.name == "method"
    assert list(report.columns) == ["auroc", "auprc", "auprc_ratio", "epr", "n_pairs", "n_positives"]
    assert report.loc["perfect", "auroc"] == 1.0 and report.loc["flat", "auroc"] == 0.5
    assert report.loc["flat", "epr"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------------
# Edge baselines


def test_random_scores_seeded():
    src, dst = np.arange(5), np.arange(5)[::-1].copy()
    a, b, c = random_scores(src, dst, 0), random_scores(src, dst, seed=0), random_scores(src, dst, 1)
    assert a.shape == (5,) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_degree_scores_by_hand():
    # train edges 0->1, 0->2, 1->2 (TFs 0 and 1 of 4 genes): out-degree 0:2, 1:1; in-degree 1:1, 2:2.
    train = np.array([[0, 0, 1, 0], [1, 2, 2, 1]])  # the duplicate 0->1 counts once
    src, dst = np.array([0, 0, 1, 1]), np.array([2, 3, 0, 2])
    expected = [2 + 2 / 2, 2 + 0 / 2, 1 + 0 / 2, 1 + 2 / 2]
    assert degree_scores(train, 4, 2, src, dst) == pytest.approx(expected)
    assert degree_scores(np.zeros((2, 0), dtype=int), 4, 2, src, dst) == pytest.approx([0] * 4)


def test_pearson_scores_known_vectors():
    x = np.array([[1, 2, 3, 4], [2, 4, 6, 8], [4, 3, 2, 1], [5, 5, 5, 5], [1, 0, 0, 1]], dtype=np.float32)
    src = np.array([0, 0, 0, 0, 2])
    dst = np.array([1, 2, 3, 4, 4])
    assert pearson_scores(x, src, dst) == pytest.approx([1.0, 1.0, 0.0, 0.0, 0.0], abs=1e-9)
    rng = np.random.default_rng(1)
    y = rng.normal(size=(30, 12))
    src, dst = rng.integers(0, 30, 200), rng.integers(0, 30, 200)
    ref = [abs(np.corrcoef(y[s], y[d])[0, 1]) for s, d in zip(src, dst)]
    assert pearson_scores(y, src, dst, block=4) == pytest.approx(ref, abs=1e-9)
    assert pearson_scores(y, np.zeros(0, int), np.zeros(0, int)).shape == (0,)


def test_genie3_recovers_planted_regulator():
    rng = np.random.default_rng(0)
    n_samples = 60
    x = rng.normal(size=(7, n_samples))
    x[6] = 2.0 * x[2] + 0.1 * rng.normal(size=n_samples)   # target 6 <- TF 2
    x[5] = -1.5 * x[0] + 0.1 * rng.normal(size=n_samples)  # target 5 <- TF 0
    tfs = np.array([0, 1, 2, 3, 4])
    src = np.repeat(tfs, 2)
    dst = np.tile([5, 6], 5)
    scores = genie3_scores(x, tfs, src, dst, seed=0, n_trees=30)
    by_target = {g: dict(zip(src[dst == g], scores[dst == g])) for g in (5, 6)}
    assert max(by_target[6], key=by_target[6].get) == 2
    assert max(by_target[5], key=by_target[5].get) == 0
    again = genie3_scores(x, tfs, src[dst == 6], dst[dst == 6], seed=0, n_trees=30)
    assert again == pytest.approx(scores[dst == 6])  # a score does not depend on the other pairs asked
    assert genie3_scores(x, tfs, np.array([6]), np.array([2]), n_trees=5)[0] == 0.0  # 6 is not a TF
    et = genie3_scores(x, tfs, src, dst, n_trees=20, tree_method="et")
    assert np.argmax(et[dst == 6]) == 2


def _ko_dataset():
    genes = ["A", "B", "C"]
    samples = ["wt1", "wt2", "koA", "koB"]
    expr = np.array([[1.0, 1.0, 0.0, 1.0],    # A: knocked out in koA
                     [2.0, 2.0, 0.5, 0.0],    # B: drops when A is knocked out
                     [3.0, 3.0, 3.0, 6.0]])   # C: rises when B is knocked out
    sheet = pd.DataFrame({"sample": samples, "perturbation": ["control", "control", "A", "B"],
                          "dose": [1.0, 1.0, 0.0, 0.0]})
    return build_dataset(genes=genes, samples=samples, expression=expr, sample_sheet=sheet)


def test_knockout_zscore_scores():
    ds = _ko_dataset()
    src, dst = np.array([0, 0, 1, 1, 2]), np.array([1, 2, 0, 2, 0])
    scores = knockout_zscore_scores(*knockout_zscores(ds)[:2], src, dst)
    # two knockouts, fewer than ROBUST_MIN_SAMPLES: the reference is the controls' mean, the spread each gene's
    # standard deviation over all samples
    sd = ds.expression.std(axis=1)
    assert scores == pytest.approx([1.5 / sd[1], 0.0, 0.0, 3.0 / sd[2], 0.0])
    bare = build_dataset(genes=ds.genes, samples=ds.samples, expression=ds.expression)
    assert np.array_equal(knockout_zscore_scores(*knockout_zscores(bare)[:2], src, dst), np.zeros(5))


def test_knockout_zscore_reference_is_the_knockouts_median_when_there_are_enough():
    # six knockouts; the control sample of gene B is off (3.0) but B sits at 1.0 in most knockouts
    genes = ("A", "B", "C", "D", "E", "F")
    samples = ("wt",) + tuple(f"ko{g}" for g in genes)
    expr = np.ones((6, 7))
    expr[1, 0] = 3.0                 # B's control measurement is noisy
    expr[np.arange(6), np.arange(1, 7)] = 0.0  # each knocked-out gene is 0 in its knockout
    expr[1, 1] = 2.0                 # knocking out A raises B
    sheet = pd.DataFrame({"sample": samples, "perturbation": ["control", *genes], "dose": [1.0] + [0.0] * 6})
    ds = build_dataset(genes=genes, samples=samples, expression=expr, sample_sheet=sheet)
    scores = knockout_zscore_scores(*knockout_zscores(ds)[:2], np.array([0, 2]), np.array([1, 1]))
    sd_b = expr[1, 1:].std()
    # A -> B: |2 - median 1| / sd; C -> B: B is at 1.0, the median, so 0 (against the control it would be 2 / sd)
    assert scores == pytest.approx([1.0 / sd_b, 0.0])


# ----------------------------------------------------------------------------------------------------
# Knockout metrics


def test_knockout_metrics_by_hand():
    true = np.array([-5.0, 1.0, -2.0, 3.0, 0.5])
    exact = knockout_metrics(true, true, 0, top=2)
    assert exact == pytest.approx({"pearson_all": 1.0, "pearson_top": 1.0, "sign_acc_top": 1.0, "rmse": 0.0})
    pred = np.array([100.0, 2.0, 4.0, 3.0, 0.0])  # gene 0 (knocked out) is ignored
    m = knockout_metrics(pred, true, 0, top=2)
    # top-2 |true| among the others: genes 3 (3.0) and 2 (-2.0); signs: + vs +, + vs -
    assert m["sign_acc_top"] == 0.5
    assert m["pearson_top"] == pytest.approx(-1.0)  # (3, 4) vs (3, -2): ordered oppositely
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 36 + 0 + 0.25) / 4))
    assert m["pearson_all"] == pytest.approx(np.corrcoef(pred[1:], true[1:])[0, 1])
    zero = knockout_metrics(np.zeros(5), true, 0)
    assert zero["pearson_all"] == 0.0 and zero["sign_acc_top"] == 0.0  # constant prediction
    double = knockout_metrics(pred, true, [0, 3], top=1)
    assert double["sign_acc_top"] == 0.0  # top gene is 2 once 0 and 3 are excluded
    unchanged = np.array([0.0, 0.0, -2.0, 3.0, 0.0])  # genes 1 and 4 measured exactly 0
    assert knockout_metrics(np.zeros(5), unchanged, 2, top=3)["sign_acc_top"] == pytest.approx(2 / 3)
    assert knockout_metrics(np.zeros(5), unchanged, 2, top=3, zero_is_wrong=True)["sign_acc_top"] == 0.0


def test_summarise():
    rows = [{"pearson_all": 0.5, "rmse": 1.0, "gene": "A"}, {"pearson_all": np.nan, "rmse": 3.0, "gene": "B"}]
    assert summarise(rows) == {"pearson_all": 0.5, "rmse": 2.0, "n": 2}


# ----------------------------------------------------------------------------------------------------
# Knockout baselines


def test_simple_knockout_baselines():
    assert np.array_equal(zero_delta(3), np.zeros(3))
    deltas = np.array([[-4.0, 1.0, 2.0], [2.0, -6.0, 0.0]])
    assert mean_training_delta(deltas) == pytest.approx([-1.0, -2.5, 1.0])
    assert mean_training_delta(deltas, ko_genes=[0, 1]) == pytest.approx([2.0, 1.0, 1.0])
    assert additive_double(deltas[0], deltas[1]) == pytest.approx([-2.0, -5.0, 2.0])


def test_linear_propagation_chain_signs():
    rng = np.random.default_rng(0)
    a = 5 + rng.normal(size=200)
    b = 2.0 * a + 0.05 * rng.normal(size=200)
    c = 10 - 1.0 * b + 0.05 * rng.normal(size=200)
    x = np.stack([a, b, c])
    regulators = np.array([[0, 1], [1, 2]])  # A -> B -> C
    baseline = x.mean(axis=1)
    delta = linear_propagation(x, regulators, 0, baseline)
    assert delta[0] == pytest.approx(-baseline[0])
    assert delta[1] < 0 < delta[2]
    assert delta[1] == pytest.approx(2 * delta[0], rel=0.02) and delta[2] == pytest.approx(-delta[1], rel=0.02)
    half = linear_propagation(x, regulators, [0], baseline, dose=0.5)
    assert half == pytest.approx(delta / 2, rel=1e-6)
    assert linear_propagation(x, regulators, 2, baseline)[:2] == pytest.approx([0, 0])  # leaf: nothing moves


def test_linear_propagation_cycle_stays_bounded():
    weights = sparse.csr_matrix(np.array([[0, 0, 2.0], [2.0, 0, 0], [0, 2.0, 0]]))  # gain-8 loop
    from mtlgrn_core.model.linear_model import _spectral_radius_bound
    assert _spectral_radius_bound(abs(weights)) == pytest.approx(2.0, rel=1e-3)
    model = LinearModel(weights=weights, gain=0.95 / 2.0)
    delta = model.propagate([0], np.ones(3))
    assert np.isfinite(delta).all() and np.abs(delta).max() <= 1.0 + 1e-9
    rng = np.random.default_rng(1)
    z = rng.normal(size=100)
    x = np.stack([z + 0.01 * rng.normal(size=100) for _ in range(3)])  # three almost equal genes
    fitted = fit_linear_model(x, np.array([[0, 1, 2], [1, 2, 0]]))
    assert fitted.gain < 1.0
    out = fitted.propagate(0, np.full(3, 2.0))
    assert np.isfinite(out).all() and (out[1:] < 0).all() and np.abs(out).max() <= 2.0 + 1e-9
    acyclic = fit_linear_model(x, np.array([[0, 1], [1, 2]]))
    assert acyclic.gain == 1.0


def _fixed_point(weights: np.ndarray, clamped: dict[int, float], start: np.ndarray) -> np.ndarray:
    """The fixed point of ``delta = start + W delta`` with ``clamped`` genes held, by a dense solve."""
    n = weights.shape[0]
    held = np.array(sorted(clamped), dtype=np.int64)
    free = np.setdiff1d(np.arange(n), held)
    delta = np.zeros(n)
    delta[held] = [clamped[k] for k in held]
    rhs = start[free] + weights[np.ix_(free, held)] @ delta[held]
    delta[free] = np.linalg.solve(np.eye(free.size) - weights[np.ix_(free, free)], rhs)
    return delta


def test_propagation_lands_on_the_exact_fixed_point_of_a_cyclic_network():
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(30, 30)) * (rng.random((30, 30)) < 0.2)
    np.fill_diagonal(dense, 0.0)
    from mtlgrn_core.model.linear_model import _spectral_radius_bound
    gain = 0.99 / _spectral_radius_bound(abs(sparse.csr_matrix(dense)))  # close to the edge of stability
    model = LinearModel(weights=sparse.csr_matrix(dense), gain=gain)
    baseline = rng.uniform(1, 3, 30)
    start = np.where(rng.random(30) < 0.2, rng.normal(size=30), 0.0)
    got = model.propagate([4, 9, 4], baseline, dose=np.array([0.3, 0.0, 0.5]), start=start)  # 4: its last dose
    want = _fixed_point(gain * dense, {4: -0.5 * baseline[4], 9: -baseline[9]}, start)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.propagate([], baseline, start=start), _fixed_point(gain * dense, {}, start),
                               rtol=1e-9, atol=1e-12)


def test_a_batch_of_perturbations_gives_what_each_gives_alone(monkeypatch):
    from mtlgrn_core.model import linear_model

    monkeypatch.setattr(linear_model, "SOLVE_COLUMNS", 3)  # several batches, one perturbation larger than one
    rng = np.random.default_rng(4)
    dense = 0.2 * rng.normal(size=(12, 12)) * (rng.random((12, 12)) < 0.3)
    model = LinearModel(weights=sparse.csr_matrix(dense), gain=1.0)
    baseline = rng.uniform(1, 2, 12)
    perturbations = [[0], [1, 2], [3, 4, 5, 6], [7], [2, 8], [11]]
    genes = np.concatenate(perturbations)
    doses = rng.uniform(0, 2, genes.size)
    offsets = np.cumsum([0] + [len(p) for p in perturbations])
    starts = rng.normal(size=(len(perturbations), 12))
    batched = model.propagate_each(genes, doses, offsets, baseline, starts)
    for j, part in enumerate(perturbations):
        alone = model.propagate(part, baseline, dose=doses[offsets[j]:offsets[j + 1]], start=starts[j])
        np.testing.assert_allclose(batched[j], alone, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.each_alone(np.array([5, 0]), baseline),
                               [model.propagate(5, baseline), model.propagate(0, baseline)], rtol=1e-10, atol=1e-12)


def test_a_linear_model_pickles_without_its_factorisation():
    import pickle

    model = LinearModel(weights=sparse.csr_matrix(np.array([[0, 0.5], [0.5, 0]])), gain=1.0)
    before = model.propagate(0, np.ones(2))
    after = pickle.loads(pickle.dumps(model)).propagate(0, np.ones(2))
    np.testing.assert_allclose(after, before)


def test_evaluate_does_not_import_torch():
    code = ("import sys, mtlgrn_core.model.metrics, mtlgrn_core.model.baselines, mtlgrn_core.model.linear_model, mtlgrn_core.model.splits; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reverse_edge_scores_rank_pairs_whose_reverse_is_known_first():
    from mtlgrn_core.model.baselines import reverse_edge_scores

    train = np.array([[0, 0, 1], [1, 2, 3]])  # 0->1, 0->2, 1->3
    src, dst = np.array([1, 2, 3, 1]), np.array([0, 0, 1, 2])
    scores = reverse_edge_scores(train, 5, 5, src, dst)
    assert scores[0] >= 1 and scores[1] >= 1 and scores[2] >= 1  # 1->0, 2->0, 3->1 reverse a train edge
    assert scores[3] < 1  # 1->2: no reverse edge, only its degree
