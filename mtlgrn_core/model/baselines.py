"""The simple methods every figure is compared with (numpy / scipy / scikit-learn only; no torch).

Edge baselines score given pair arrays ``(src, dst)`` of gene indices and never build a dense genes x genes float
matrix: :func:`random_scores`, :func:`degree_scores`, :func:`reverse_edge_scores`, :func:`pearson_scores`,
:func:`genie3_scores`, :func:`knockout_zscore_scores`, and :func:`baseline_scores`, all of them for a run's pairs.
Knockout baselines: :func:`zero_delta`, :func:`mean_training_delta`, :func:`additive_double` (and linear
propagation, :mod:`~mtlgrn_core.model.linear_model`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from mtlgrn_core.model.linear_model import group_indices

if TYPE_CHECKING:
    from mtlgrn_core.model.run import Run

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

    Rows are standardised once (:func:`mtlgrn_core.model.features.standardise_rows`, the matrix the model reads,
    whose row products averaged over samples are Pearson r: the model's co-expression evidence is this
    same number); pairs are scored in blocks of ``block`` regulators (default 128) against the targets they
    are paired with, so memory stays ``block x n_genes``.
    """
    from mtlgrn_core.model.features import standardise_rows

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
    for g, sel in group_indices(dst):
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

    ``ko_genes`` and ``ko_zscore`` are what :func:`mtlgrn_core.model.features.knockout_zscores` returns for a
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


def baseline_scores(run: Run, train_edges: np.ndarray, src: np.ndarray, dst: np.ndarray) -> dict[str, np.ndarray]:
    """The baselines' scores of the pairs, keyed as in ``metrics.json`` (:data:`methods.BASELINE_KEYS`).

    Random (seeded with the run's seed), degree and reverse edge (both on ``train_edges``, the training
    graph), |Pearson| on the run's expression, and the knockout z-score when the run's data hold knockouts.
    """
    n_genes, n_tfs = len(run.genes), len(run.tfs)
    scores = {
        "random": random_scores(src, dst, seed=run.config.seed),
        "degree": degree_scores(train_edges, n_genes, n_tfs, src, dst),
        "reverse_edge": reverse_edge_scores(train_edges, n_genes, n_tfs, src, dst),
        "pearson": pearson_scores(run.inputs.expression, src, dst),
    }
    if run.inputs.ko_zscore_has is not None and run.inputs.ko_zscore_has[:, 0].any():
        scores["knockout_zscore"] = knockout_zscore_scores(run.inputs.ko_genes, run.inputs.ko_zscore,
                                                                    src, dst)
    return scores
