"""The figures every result is measured by (numpy / pandas only; no torch): training's validation and the
evaluation alike.

Edge prediction
    :func:`edge_metrics` (AUROC, AUPRC, AUPRC ratio, EPR with expected tie handling), :func:`ranking_areas`,
    :func:`precision_at_k`, :func:`edge_report`.

Knockout effects
    :func:`knockout_metrics` (Pearson over all genes and the most changed ones, sign accuracy, RMSE) and
    :func:`summarise`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

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
    """``np.corrcoef`` of two vectors; 0 where one is constant (no linear relation to measure), NaN for fewer than
    two values."""
    if a.size < 2:
        return np.nan
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant vector: 0 below, not numpy's warning
        r = np.corrcoef(a, b)[0, 1]
    return float(np.clip(r, -1.0, 1.0)) if np.isfinite(r) else 0.0


