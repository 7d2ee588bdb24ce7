"""Metrics and baselines of BENCHMARK.md (numpy / scipy / scikit-learn / pandas only; no torch).

Edge prediction (section 1)
    :func:`edge_metrics` (AUROC, AUPRC, AUPRC ratio, EPR with expected tie handling), :func:`edge_report`,
    and the baselines :func:`random_scores`, :func:`degree_scores`, :func:`pearson_scores`,
    :func:`genie3_scores`, :func:`knockout_zscore_scores`, :func:`reverse_edge_scores`. Each baseline
    scores given pair arrays ``(src, dst)`` of gene indices and never builds a dense genes x genes float
    matrix.

Knockout effects (section 2)
    :func:`knockout_metrics`, :func:`summarise`, and the baselines :func:`zero_delta`,
    :func:`mean_training_delta`, :func:`linear_propagation` (:func:`fit_linear_model` +
    :meth:`LinearModel.propagate`) and :func:`additive_double`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

EDGE_METRICS = ("auroc", "auprc", "auprc_ratio", "epr", "n_pairs", "n_positives")
KNOCKOUT_METRICS = ("pearson_all", "pearson_top", "sign_acc_top", "rmse")

# ----------------------------------------------------------------------------------------------------
# Edge metrics


def edge_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC, AUPRC ratio and EPR of scored pairs (BENCHMARK.md section 1).

    Parameters
    ----------
    scores
        One finite score per pair; higher = more likely an edge.
    labels
        1 / ``True`` for an edge, 0 / ``False`` otherwise; same length as ``scores``.

    Returns
    -------
    dict
        ``auroc``; ``auprc`` (average precision); ``auprc_ratio`` = auprc / density; ``epr`` = precision
        among the top-k pairs (k = number of positives, ties at the k-th score counted by their expectation
        under random tie-breaking) / density; ``n_pairs``; ``n_positives``. Undefined values are NaN (no
        positive: all four; no negative: AUROC).
    """
    s, y = _check_scored(scores, labels)
    n, n_pos = int(s.size), int(y.sum())
    out = {"auroc": np.nan, "auprc": np.nan, "auprc_ratio": np.nan, "epr": np.nan,
           "n_pairs": n, "n_positives": n_pos}
    if n_pos == 0:
        return out
    density = n_pos / n
    auroc, out["auprc"] = ranking_areas(s, y)
    if n_pos < n:
        out["auroc"] = auroc
    out["auprc_ratio"] = out["auprc"] / density
    out["epr"] = precision_at_k(s, y, n_pos) / density
    return out


def ranking_areas(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUROC and average precision of scored pairs with at least one positive, from one sort: the values of
    scikit-learn's ``roc_auc_score`` and ``average_precision_score`` (tied scores form one threshold; a test
    checks both), which sort the scores once each; training validates every epoch, and at 4,000 genes their
    sorts of the 120,000 validation pairs were a fifth of an epoch. AUROC is NaN without a negative."""
    s, y = _check_scored(scores, labels)
    order = np.argsort(-s)  # the order within tied scores does not matter: ties form one threshold
    ranked = s[order]
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), ranked.size - 1)  # last pair of each threshold
    true_pos = np.cumsum(y[order], dtype=np.float64)[ends]
    false_pos = (ends + 1) - true_pos
    recall = true_pos / true_pos[-1]
    average_precision = float(np.sum(np.diff(recall, prepend=0.0) * true_pos / (ends + 1)))
    if false_pos[-1] == 0:
        return np.nan, average_precision
    fpr, tpr = np.append(0.0, false_pos / false_pos[-1]), np.append(0.0, recall)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)), average_precision


def precision_at_k(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Expected precision among the ``k`` highest scores under random tie-breaking.

    With ``s_k`` the k-th highest score, the pairs scored above ``s_k`` are all taken and the remaining
    ``m = k - (number above)`` are drawn at random from the ``n_tie`` pairs scored exactly ``s_k``, which
    contributes ``m * (positives among the ties) / n_tie`` expected positives.
    """
    s, y = _check_scored(scores, labels)
    if not 1 <= k <= s.size:
        raise ValueError(f"k={k} must be between 1 and the number of pairs ({s.size}).")
    kth = np.partition(s, s.size - k)[s.size - k]
    above, tie = s > kth, s == kth
    n_above, n_tie = int(above.sum()), int(tie.sum())
    expected = y[above].sum() + (k - n_above) * y[tie].sum() / n_tie
    return float(expected / k)


def edge_report(method_scores: Mapping[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """One row of :func:`edge_metrics` per method (index ``method``), in the order given."""
    rows = {name: edge_metrics(scores, labels) for name, scores in method_scores.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(EDGE_METRICS))
    frame.index.name = "method"
    return frame.astype({"n_pairs": np.int64, "n_positives": np.int64})


def _check_scored(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels; give one score per labelled pair.")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite; score every pair.")
    return s, y.astype(bool)


# ----------------------------------------------------------------------------------------------------
# Edge baselines


def random_scores(src: np.ndarray, dst: np.ndarray, seed: int = 0) -> np.ndarray:
    """Uniform random scores, one per pair (``numpy.random.default_rng(seed).random``)."""
    _check_pairs(src, dst)
    return np.random.default_rng(seed).random(len(src))


def degree_scores(train_edges: np.ndarray, n_genes: int, n_tfs: int, src: np.ndarray,
                  dst: np.ndarray) -> np.ndarray:
    """The degree baseline: out-degree of ``t`` + in-degree of ``g`` / ``n_tfs``, in the train positives.

    Parameters
    ----------
    train_edges
        ``(2, n)`` gene indices of the train positives (duplicates are counted once).
    n_genes, n_tfs
        Number of genes and of TFs (``|T|``).
    src, dst
        Gene indices of the pairs to score.
    """
    _check_pairs(src, dst)
    edges = np.asarray(train_edges, dtype=np.int64).reshape(2, -1)
    if edges.size:
        edges = np.unique(edges[0] * n_genes + edges[1])
        edges = np.stack([edges // n_genes, edges % n_genes])
    out_deg = np.bincount(edges[0], minlength=n_genes).astype(np.float64)
    in_deg = np.bincount(edges[1], minlength=n_genes).astype(np.float64)
    return out_deg[np.asarray(src)] + in_deg[np.asarray(dst)] / max(int(n_tfs), 1)


def reverse_edge_scores(train_edges: np.ndarray, n_genes: int, n_tfs: int, src: np.ndarray,
                        dst: np.ndarray) -> np.ndarray:
    """The reciprocity baseline: 1 when the reverse pair ``g -> t`` is a train positive, ties broken by
    :func:`degree_scores`.

    Ground truths built from undirected associations (STRING) list most TF-TF edges in both directions, so
    under the edge hold-out a test edge's reverse is often a train edge. A supervised method that beats
    degree there may only have learned this; the table shows how far it goes.
    """
    degree = degree_scores(train_edges, n_genes, n_tfs, src, dst)
    edges = np.asarray(train_edges, dtype=np.int64).reshape(2, -1)
    known = np.isin(np.asarray(dst, dtype=np.int64) * n_genes + np.asarray(src, dtype=np.int64),
                    edges[0] * n_genes + edges[1])
    return known + degree / (degree.max() + 1.0 if degree.size else 1.0)


def pearson_scores(expression: np.ndarray, src: np.ndarray, dst: np.ndarray, *,
                   block: int = 128) -> np.ndarray:
    """Absolute Pearson correlation of the two genes' expression profiles.

    Rows are standardised once (:func:`mtlgrn_core.features.standardise_rows`, the matrix the model reads,
    whose row products averaged over samples are Pearson r: the model's co-expression evidence is this
    same number); pairs are scored in blocks of ``block`` regulators (default 128) against the targets they
    are paired with, so memory stays ``block x n_genes``.
    """
    from .features import standardise_rows

    _check_pairs(src, dst)
    z = standardise_rows(np.asarray(expression, dtype=np.float64), dtype=np.float64)
    r = _pair_dots(z, np.asarray(src), np.asarray(dst), block=block) / max(z.shape[1], 1)
    return np.clip(np.abs(r), 0.0, 1.0)


def genie3_scores(expression: np.ndarray, tfs: Sequence[int] | np.ndarray, src: np.ndarray, dst: np.ndarray,
                  *, seed: int = 0, n_trees: int = 100, max_features: str | float | int = "sqrt",
                  tree_method: str = "rf") -> np.ndarray:
    """GENIE3-style tree-ensemble scores (Huynh-Thu et al. 2010).

    For each target ``g`` in ``dst``, a forest predicts ``g``'s expression, scaled to unit variance, from the
    TFs other than ``g``; the score of ``(t, g)`` is ``t``'s impurity importance (unnormalised, averaged
    over trees, as GENIE3 does so that scores compare across targets). Pairs whose source is not a TF
    score 0.

    Parameters
    ----------
    expression
        ``(n_genes, n_samples)``.
    tfs
        Gene indices of the candidate regulators.
    src, dst
        Gene indices of the pairs to score.
    seed
        Seed (default 0); target ``g``'s forest uses ``SeedSequence([seed, g])``, so a score does not depend
        on which other pairs are asked for.
    n_trees
        Trees per target (default 100).
    max_features
        Features tried per split (default ``"sqrt"``, GENIE3's K).
    tree_method
        ``"rf"`` (random forest, default) or ``"et"`` (extra trees).
    """
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    _check_pairs(src, dst)
    model_cls = {"rf": RandomForestRegressor, "et": ExtraTreesRegressor}.get(tree_method)
    if model_cls is None:
        raise ValueError(f"tree_method={tree_method!r}; use 'rf' or 'et'.")
    x = np.asarray(expression, dtype=np.float32)
    tf_idx = np.unique(np.asarray(tfs, dtype=np.int64))
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    out = np.zeros(src.size, dtype=np.float64)
    for g, sel in _group_by(dst):
        inputs = tf_idx[tf_idx != g]
        y = x[g].astype(np.float64)
        if inputs.size == 0 or y.std() == 0:
            continue
        state = int(np.random.SeedSequence([int(seed), int(g)]).generate_state(1)[0])
        forest = model_cls(n_estimators=n_trees, max_features=max_features, random_state=state, n_jobs=1)
        forest.fit(x[inputs].T, y / y.std())
        importance = np.mean([t.tree_.compute_feature_importances(normalize=False)
                              for t in forest.estimators_], axis=0)
        pos = np.searchsorted(inputs, src[sel])
        found = (pos < inputs.size) & (inputs[np.minimum(pos, inputs.size - 1)] == src[sel])
        out[sel[found]] = importance[pos[found]]
    return out


def knockout_zscore_scores(ko_genes: np.ndarray, ko_zscore: np.ndarray, src: np.ndarray,
                           dst: np.ndarray) -> np.ndarray:
    """Knockout z-scores: ``|z|`` of ``dst`` when ``src`` is knocked out (dose 0).

    ``ko_genes`` and ``ko_zscore`` are what :func:`mtlgrn_core.features.knockout_zscores` returns for a
    dataset (and what a run stores as ``inputs.ko_genes`` / ``inputs.ko_zscore``): robust z-scores, each
    gene's reference being its median over the knockouts (one implementation, shared with the model's
    pairwise evidence). Pairs whose regulator was never knocked out score 0, the minimum.
    """
    _check_pairs(src, dst)
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    out = np.zeros(src.size, dtype=np.float64)
    ko_genes = np.asarray(ko_genes, dtype=np.int64)
    if ko_genes.size == 0:
        return out
    n_genes = np.asarray(ko_zscore).shape[-1]
    row = np.full(n_genes, -1, dtype=np.int64)
    row[ko_genes] = np.arange(ko_genes.size)
    has = row[src] >= 0
    out[has] = np.abs(np.asarray(ko_zscore)[row[src[has]], 0, dst[has]])
    return out


def _check_pairs(src, dst) -> None:
    if np.shape(src) != np.shape(dst) or np.ndim(src) != 1:
        raise ValueError(f"src and dst must be 1-D arrays of the same length (got shapes {np.shape(src)} "
                         f"and {np.shape(dst)}).")


def _group_by(keys: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """``(key, positions)`` for each distinct key, keys ascending, positions ascending."""
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    ends = np.append(starts[1:], keys.size)
    for key, lo, hi in zip(uniq, starts, ends):
        yield int(key), order[lo:hi]


def _pair_dots(z: np.ndarray, src: np.ndarray, dst: np.ndarray, *, block: int) -> np.ndarray:
    """``z[src[i]] . z[dst[i]]`` for every pair, computed as small blocked matrix products."""
    out = np.zeros(src.size, dtype=np.float64)
    if src.size == 0:
        return out
    order = np.argsort(src, kind="stable")
    uniq, starts = np.unique(src[order], return_index=True)
    ends = np.append(starts[1:], src.size)
    for b in range(0, uniq.size, block):
        rows = uniq[b:b + block]
        sel = order[starts[b]:ends[min(b + block, uniq.size) - 1]]
        cols, col_pos = np.unique(dst[sel], return_inverse=True)
        prod = z[rows] @ z[cols].T
        out[sel] = prod[np.searchsorted(rows, src[sel]), col_pos]
    return out


# ----------------------------------------------------------------------------------------------------
# Knockout metrics


def knockout_metrics(pred_delta: np.ndarray, true_delta: np.ndarray, ko_gene: int | Sequence[int], *,
                     top: int = 20, zero_is_wrong: bool = False) -> dict[str, float]:
    """Knockout-effect metrics of one knockout (BENCHMARK.md section 2), the knocked-out gene(s) excluded.

    Parameters
    ----------
    pred_delta, true_delta
        Predicted and true change of every gene (length ``n_genes``).
    ko_gene
        The knocked-out gene index (or indices, for a multiple knockout).
    top
        Size of the "top DE" set: the genes with the largest ``|true delta|`` (default 20; ties keep gene
        order).
    zero_is_wrong
        A predicted 0 counts as a wrong sign even where the true change is 0 too (BENCHMARK.md section 5).

    Returns
    -------
    dict
        ``pearson_all`` (Pearson r over all other genes), ``pearson_top`` (over the top DE genes),
        ``sign_acc_top`` (fraction of top DE genes whose predicted sign equals the true sign; a predicted 0
        never matches a non-zero change) and ``rmse`` (over all other genes). A Pearson r with a constant
        vector is undefined and scored 0 (so that the zero-change baseline averages to 0, not NaN).
    """
    pred = np.asarray(pred_delta, dtype=np.float64).ravel()
    true = np.asarray(true_delta, dtype=np.float64).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"pred_delta has {pred.size} genes but true_delta has {true.size}.")
    keep = np.ones(true.size, dtype=bool)
    keep[np.atleast_1d(np.asarray(ko_gene, dtype=np.int64))] = False
    p, t = pred[keep], true[keep]
    top_idx = np.argsort(-np.abs(t), kind="stable")[:top]
    right = np.sign(p[top_idx]) == np.sign(t[top_idx])
    if zero_is_wrong:
        right &= p[top_idx] != 0
    return {"pearson_all": _pearson(p, t), "pearson_top": _pearson(p[top_idx], t[top_idx]),
            "sign_acc_top": float(np.mean(right)) if top_idx.size else np.nan,
            "rmse": float(np.sqrt(np.mean((p - t) ** 2))) if p.size else np.nan}


def summarise(results: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each numeric metric over a list of per-knockout (or per-seed) dicts, NaNs ignored.

    Also returns ``n``, the number of dicts. A metric that is NaN everywhere stays NaN.
    """
    keys: list[str] = []
    for row in results:
        keys += [k for k, v in row.items() if k not in keys and isinstance(v, (int, float, np.number))]
    out: dict[str, float] = {}
    for key in keys:
        values = np.array([row.get(key, np.nan) for row in results], dtype=np.float64)
        out[key] = float(np.mean(values[~np.isnan(values)])) if (~np.isnan(values)).any() else np.nan
    out["n"] = len(results)
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return np.nan
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float(np.clip((a * b).sum() / denom, -1.0, 1.0)) if denom > 0 else 0.0


# ----------------------------------------------------------------------------------------------------
# Knockout baselines


def zero_delta(n_genes: int) -> np.ndarray:
    """The zero-change baseline: no gene moves."""
    return np.zeros(int(n_genes), dtype=np.float64)


def mean_training_delta(train_deltas: np.ndarray, *, ko_genes: Sequence[int] | None = None) -> np.ndarray:
    """The mean change over the training knockouts (rows of ``train_deltas``, shape ``(n_train, n_genes)``).

    With ``ko_genes`` (the gene knocked out in each row), each knockout's own gene is left out of that
    gene's mean, so the knocked-out genes' large self-changes do not leak into the prediction.
    """
    deltas = np.atleast_2d(np.asarray(train_deltas, dtype=np.float64))
    if ko_genes is None:
        return deltas.mean(axis=0)
    weight = np.ones_like(deltas)
    weight[np.arange(deltas.shape[0]), np.asarray(ko_genes, dtype=np.int64)] = 0.0
    total = weight.sum(axis=0)
    return np.divide((deltas * weight).sum(axis=0), total, out=np.zeros(deltas.shape[1]), where=total > 0)


def additive_double(delta_i: np.ndarray, delta_j: np.ndarray) -> np.ndarray:
    """The additive double-knockout baseline: the sum of the two single-knockout changes."""
    return np.asarray(delta_i, dtype=np.float64) + np.asarray(delta_j, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Each gene as a linear function of its known regulators (fitted by :func:`fit_linear_model`).

    Attributes
    ----------
    weights
        Sparse ``(n_genes, n_genes)`` matrix; ``weights[g, r]`` is the effect of regulator ``r`` on ``g``.
    gain
        Factor the weights are multiplied by when propagating: 1, or less when the network's cycles would
        amplify a change without bound (then the spectral radius of ``|weights|`` is brought to
        ``max_gain``).
    """

    weights: sparse.csr_matrix
    gain: float

    def propagate(self, ko_genes: int | Sequence[int], baseline: np.ndarray, *, dose: float | np.ndarray = 0.0,
                  start: np.ndarray | None = None, damping: float = 0.5, max_iter: int = 500,
                  tol: float = 1e-10) -> np.ndarray:
        """Predicted change of every gene when ``ko_genes`` are set to ``dose * baseline``.

        The knocked-out genes are clamped to their change ``(dose - 1) * baseline``; every other gene
        follows ``delta = start + gain * W delta`` by damped fixed-point iteration (``delta <- (1 - damping)
        delta + damping * target``) until the largest step is below ``tol`` (relative) or ``max_iter`` steps.
        ``start`` (default none) is a change put on genes from outside the model and held there, e.g. on the
        targets of a regulator whose own expression is not measured (:mod:`~mtlgrn_core.outside_regulators`);
        ``ko_genes`` may then be empty.
        """
        ko = np.atleast_1d(np.asarray(ko_genes, dtype=np.int64))
        base = np.asarray(baseline, dtype=np.float64).ravel()
        push = np.zeros(base.size) if start is None else np.asarray(start, dtype=np.float64).ravel()
        w = self.weights * self.gain
        delta = push.copy()
        clamp = (np.asarray(dose, dtype=np.float64) - 1.0) * base[ko]  # one dose, or one per perturbed gene
        delta[ko] = clamp
        for _ in range(max_iter):
            target = w @ delta + push
            target[ko] = clamp
            step = damping * (target - delta)
            delta += step
            if np.abs(step).max() <= tol * (1.0 + np.abs(delta).max()):
                break
        return delta

    def propagate_each(self, genes: np.ndarray, doses: np.ndarray, offsets: np.ndarray,
                       baseline: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """:meth:`propagate` for each perturbation ``j`` (it sets ``genes[offsets[j]:offsets[j + 1]]`` to
        ``doses`` times ``baseline``, and holds ``starts[j]`` where given): one row of changes per
        perturbation."""
        out = np.zeros((len(offsets) - 1, np.asarray(baseline).size))
        for j in range(len(offsets) - 1):
            part = slice(offsets[j], offsets[j + 1])
            out[j] = self.propagate(genes[part], baseline, dose=np.asarray(doses[part], dtype=np.float64),
                                    start=None if starts is None else starts[j])
        return out

    def each_alone(self, genes: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """:meth:`propagate` of each of ``genes`` knocked out alone (dose 0): one row per gene."""
        genes = np.asarray(genes, dtype=np.int64)
        return self.propagate_each(genes, np.zeros(genes.size), np.arange(genes.size + 1), baseline)


def fit_linear_model(expression: np.ndarray, regulators: np.ndarray, *, ridge: float = 1e-3,
                     relative: bool = True, max_gain: float = 0.95) -> LinearModel:
    """Regress each gene on its known regulators (least squares with intercept and a small ridge).

    Parameters
    ----------
    expression
        ``(n_genes, n_samples)`` of non-knockout samples.
    regulators
        ``(2, n)`` edges ``source -> target`` (gene indices); self-loops and duplicates are ignored.
    ridge
        Ridge penalty, relative to the mean variance of the regulators (default 1e-3), or as it is with
        ``relative=False`` (BENCHMARK.md section 4: lambda = 1).
    max_gain
        Largest spectral radius allowed for ``|W|`` in propagation (default 0.95; keeps cycles stable).
    """
    x = np.asarray(expression, dtype=np.float64)
    xc = x - x.mean(axis=1, keepdims=True)
    edges = np.asarray(regulators, dtype=np.int64).reshape(2, -1)
    edges = edges[:, edges[0] != edges[1]]
    n = x.shape[0]
    rows, cols, vals = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for g, sel in _group_by(edges[1]):
        regs = np.unique(edges[0, sel])
        a = xc[regs]
        gram = a @ a.T
        lam = ridge * max(float(np.trace(gram)) / regs.size, 1e-12) if relative else ridge
        rows.append(np.full(regs.size, g, dtype=np.int64))
        cols.append(regs)
        vals.append(np.linalg.solve(gram + lam * np.eye(regs.size), a @ xc[g]))
    weights = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                shape=(n, n))
    radius = _spectral_radius_bound(abs(weights))
    return LinearModel(weights=weights, gain=1.0 if radius < max_gain else max_gain / radius)


def fit_observational_model(expression: np.ndarray, regulators: np.ndarray) -> LinearModel:
    """The linear model of BENCHMARK.md section 4 (ridge lambda = 1, not relative): how a knockout is predicted
    from observational data and a known network (the section's baseline, and what a run without a trained
    knockout head uses)."""
    return fit_linear_model(expression, regulators, ridge=1.0, relative=False)


def linear_propagation(expression_non_ko: np.ndarray, regulators: np.ndarray, ko_genes: int | Sequence[int],
                       baseline: np.ndarray, *, dose: float = 0.0, ridge: float = 1e-3) -> np.ndarray:
    """The linear-propagation baseline in one call: :func:`fit_linear_model` then :meth:`LinearModel.propagate`.

    Fit once with :func:`fit_linear_model` when predicting many knockouts from the same data.
    """
    return fit_linear_model(expression_non_ko, regulators, ridge=ridge).propagate(ko_genes, baseline, dose=dose)


def _spectral_radius_bound(a: sparse.csr_matrix, *, n_iter: int = 200) -> float:
    """An upper bound on the spectral radius of a non-negative sparse matrix.

    The radius is the largest over the strongly connected components (an acyclic graph has radius 0).
    For each cyclic component, ``max_i ((I + B) v)_i / v_i - 1`` bounds the radius of its block ``B`` for
    any positive ``v`` (Collatz-Wielandt; ``I + B`` is primitive, so power iteration makes it tight).
    """
    from scipy.sparse.csgraph import connected_components

    if a.nnz == 0:
        return 0.0
    _, comp = connected_components(a, directed=True, connection="strong")
    sizes = np.bincount(comp)
    radius = 0.0
    for c in np.flatnonzero(sizes > 1):
        idx = np.flatnonzero(comp == c)
        block = a[idx][:, idx]
        v = np.ones(idx.size)
        for _ in range(n_iter):
            v = v + block @ v
            v /= v.max()
        radius = max(radius, float(((block @ v) / v).max()))
    return radius
