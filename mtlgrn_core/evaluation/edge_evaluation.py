"""Edge-prediction evaluation of a run (BENCHMARK.md section 1), from the run alone.

A run stores its split and its inputs, so everything here needs no dataset: :func:`test_split_scores` scores
the run's test pairs with the model and the baselines (:func:`baseline_scores`, which also fill
``metrics.json``); :func:`truth_scores` scores every candidate pair outside the training graph (a pair and its
reverse counted as one) against a separate ground truth; :func:`genie3_pair_scores` adds GENIE3 with progress;
:class:`PairTable` looks up scores computed once; :func:`curve_points` gives ROC and precision-recall points;
:func:`stored_metrics_table` reads the metrics saved with a run; :func:`reciprocal_share` says how much of a
network is listed both ways.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.baselines import baseline_scores, genie3_scores
from mtlgrn_core.model.methods import BASELINE_KEYS, MODEL
from mtlgrn_core.model.metrics import EDGE_METRICS, edge_report
from mtlgrn_core.model.pair_scoring import score_pairs
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import SPLIT_NAMES, TEST, TRAIN, candidate_pairs
from mtlgrn_core.progress import Progress, TaskStopped

MAX_TRUTH_PAIRS = 2_000_000  # above this, the truth evaluation scores a seeded random sample of the pairs


@dataclass
class ScoredPairs:
    """Labelled gene pairs with each method's scores.

    Attributes
    ----------
    src, dst
        Gene indices of the regulator and the target of each pair.
    labels
        ``True`` where the pair is an edge of the reference (test positives or the ground truth).
    scores
        Method name -> one score per pair (higher = more likely an edge), in display order.
    description
        What the pairs are and what the labels mean, in one sentence.
    notes
        Anything the reader should know (sampled pairs, methods left out).
    """

    src: np.ndarray
    dst: np.ndarray
    labels: np.ndarray
    scores: dict[str, np.ndarray]
    description: str
    notes: list[str] = field(default_factory=list)

    @property
    def density(self) -> float:
        """Share of the pairs that are edges (the precision of random guessing)."""
        return float(self.labels.mean()) if self.labels.size else float("nan")

    def metrics(self) -> pd.DataFrame:
        """One row of :func:`mtlgrn_core.model.metrics.edge_metrics` per method (index ``method``)."""
        return edge_report(self.scores, self.labels)

    def with_method(self, name: str, scores: np.ndarray) -> ScoredPairs:
        """A copy with one more method's scores."""
        return replace(self, scores={**self.scores, name: np.asarray(scores, dtype=np.float64)},
                       notes=list(self.notes))


def model_pair_scores(run: Run, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The run's edge probabilities for the pairs ``src -> dst`` (gene indices)."""
    import torch

    return score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src),
                       torch.as_tensor(dst)).astype(np.float64)


def _scored(run: Run, train_edges: np.ndarray, src: np.ndarray, dst: np.ndarray, labels: np.ndarray,
            description: str, notes: list[str] | None = None) -> ScoredPairs:
    scores = {MODEL: model_pair_scores(run, src, dst)}
    scores.update({BASELINE_KEYS[k]: v for k, v in baseline_scores(run, train_edges, src, dst).items()})
    return ScoredPairs(src, dst, labels, scores, description, list(notes or []))


def test_split_scores(run: Run) -> ScoredPairs:
    """The run's test pairs (of the split stored with it) scored by the model and the baselines.

    The same pairs, scores and baselines as the run's ``metrics.json``; GENIE3 is left to
    :func:`genie3_pair_scores` (slow).

    Raises
    ------
    DataValidationError
        When the test split holds no known edge.
    """
    split = run.split
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    if not labels.any():
        raise DataValidationError("the test split holds no known edge, so there is nothing to score. Give a "
                                  "prior network (network.csv) with more edges among the TFs.")
    seed = f"seed {split.seed}" if split.seed >= 0 else "read from a split file"
    description = (f"{len(labels):,} test pairs ({int(labels.sum()):,} known edges) of the prior network's "
                   f"split ({SPLIT_NAMES[split.kind]}, {seed}); the model never saw them.")
    return _scored(run, split.positives(TRAIN), src, dst, labels, description)


def truth_scores(run: Run, truth: pd.DataFrame, *, max_pairs: int = MAX_TRUTH_PAIRS, seed: int = 0) -> ScoredPairs:
    """Every candidate pair outside the run's training graph, labelled by a ground truth.

    Candidate pairs are (TF, gene) with TF != gene. A pair and its reverse count as one, as in the grouped
    edge split (:func:`~mtlgrn_core.model.splits.grouped_edge_split`, where a test edge's reverse is never a training
    edge): every pair that is, or whose reverse is, an edge of the message-passing graph the run was trained
    with (its train positives) is left out, so that no scored pair can be answered by reading its reverse in
    the training graph (the reverse-edge shortcut; ground truths built from undirected associations list most
    TF-TF edges both ways). The validation and test pairs of the prior, and every pair absent from the prior,
    stay unless their reverse is a training edge. ``notes`` says how many pairs the reverse rule left out. With
    more than ``max_pairs`` candidates (default 2,000,000), a seeded random sample of that many is scored (and
    said so in ``notes``).

    Parameters
    ----------
    truth
        Ground-truth edges, columns ``source, target`` (gene names; edges naming other genes are ignored,
        with a note).

    Raises
    ------
    DataValidationError
        When the truth has no edge among the pairs.
    """
    n_genes = len(run.genes)
    src, dst = candidate_pairs(n_genes, run.split.tfs)
    notes = []
    if src.size > max_pairs:
        pick = np.unique(np.random.default_rng(seed).integers(0, src.size, size=max_pairs))
        notes.append(f"{src.size:,} candidate pairs: a random sample of {pick.size:,} of them is scored (seed {seed}).")
        src, dst = src[pick], dst[pick]
    graph = run.split.positives(TRAIN)
    graph_ids = graph[0] * n_genes + graph[1]
    in_graph = np.isin(src * n_genes + dst, graph_ids)
    reverse_in_graph = np.isin(dst * n_genes + src, graph_ids) & ~in_graph
    notes.append(f"{int(reverse_in_graph.sum()):,} pairs whose reverse is a training edge are left out with the "
                 "training edges: a pair and its reverse count as one (as in the grouped edge split), so no pair "
                 "is scored that the reverse-edge shortcut could answer (the reverse-edge baseline is the degree "
                 "baseline here).")
    keep = ~(in_graph | reverse_in_graph)
    src, dst = src[keep], dst[keep]
    known_src = truth["source"].map(run.gene_index)
    known_dst = truth["target"].map(run.gene_index)
    found = known_src.notna() & known_dst.notna()
    if not found.all():
        notes.append(f"{int((~found).sum()):,} ground-truth edges name genes this run does not have; they are "
                     "left out.")
    truth_ids = known_src[found].to_numpy(dtype=np.int64) * n_genes + known_dst[found].to_numpy(dtype=np.int64)
    labels = np.isin(src * n_genes + dst, truth_ids)
    if not labels.any():
        raise DataValidationError("the ground truth has no edge among the candidate pairs outside the training "
                                  "graph (pairs whose reverse is a training edge are left out too; are its "
                                  "regulators in the TF list?).")
    description = (f"{len(labels):,} candidate TF → gene pairs not in the run's training graph and whose reverse "
                   f"is not in it either, of which {int(labels.sum()):,} are edges of the ground truth. This "
                   "includes the prior's validation and test edges and every edge the prior does not know.")
    return _scored(run, graph, src, dst, labels, description, notes)


def genie3_pair_scores(run: Run, src: np.ndarray, dst: np.ndarray, *, seed: int = 0, n_trees: int = 100,
                       steps: int = 20, on_step: Progress | None = None,
                       stop: threading.Event | None = None) -> np.ndarray:
    """GENIE3 scores of the pairs on the run's expression, in ``steps`` groups of targets (for progress).

    Same scores as :func:`mtlgrn_core.model.baselines.genie3_scores` on all pairs at once (each target's forest is
    seeded by ``seed`` and the target alone). The run keeps its expression standardised per gene, as GENIE3
    scales every gene to unit variance before its forests.
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    out = np.zeros(src.size, dtype=np.float64)
    targets = np.unique(dst)
    groups = [g for g in np.array_split(targets, max(1, min(steps, targets.size))) if g.size]
    for k, group in enumerate(groups):
        if stop is not None and stop.is_set():
            raise TaskStopped()
        if on_step is not None:
            on_step(k, len(groups), f"{k * 100 // len(groups)} % of the target genes done")
        sel = np.flatnonzero(np.isin(dst, group))
        out[sel] = genie3_scores(run.inputs.expression, run.split.tfs, src[sel], dst[sel], seed=seed,
                                          n_trees=n_trees)
    if on_step is not None:
        on_step(len(groups), len(groups), "done")
    return out


@dataclass
class PairTable:
    """Scores of a set of pairs, looked up for any subset (e.g. one GENIE3 run shared by several evaluations)."""

    n_genes: int
    ids: np.ndarray  # sorted ``src * n_genes + dst``
    scores: np.ndarray

    @classmethod
    def compute(cls, n_genes: int, pair_sets: Sequence[tuple[np.ndarray, np.ndarray]],
                score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> PairTable:
        """Score the union of ``pair_sets`` (each a ``(src, dst)``) once with ``score(src, dst)``."""
        ids = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) * n_genes + np.asarray(d, dtype=np.int64)
                                        for s, d in pair_sets]))
        return cls(n_genes, ids, np.asarray(score(ids // n_genes, ids % n_genes), dtype=np.float64))

    def lookup(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """The scores of the pairs ``src -> dst``; every pair must be in the table."""
        wanted = np.asarray(src, dtype=np.int64) * self.n_genes + np.asarray(dst, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, wanted), max(self.ids.size - 1, 0))
        if self.ids.size == 0 or (self.ids[pos] != wanted).any():
            raise ValueError("a pair that was not scored was asked for.")
        return self.scores[pos]


def curve_points(scored: ScoredPairs, *, max_points: int = 400) -> dict[str, dict[str, pd.DataFrame]]:
    """ROC and precision-recall points of each method, thinned to at most ``max_points`` per curve.

    Returns
    -------
    dict
        Method -> ``{"roc": DataFrame(fpr, tpr), "pr": DataFrame(recall, precision)}``.
    """
    out = {}
    for name, scores in scored.scores.items():
        fpr, tpr, _ = roc_curve(scored.labels, scores)
        precision, recall, _ = precision_recall_curve(scored.labels, scores)
        out[name] = {"roc": _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}), max_points),
                     "pr": _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}), max_points)}
    return out


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(np.int64))
    return frame.iloc[keep].reset_index(drop=True)


def stored_metrics_table(metrics: dict) -> pd.DataFrame:
    """The test metrics saved with a run (``run.metrics``) as a table like :meth:`ScoredPairs.metrics`."""
    rows = {}
    if metrics.get("test"):
        rows[MODEL] = metrics["test"]
    for key, values in (metrics.get("baselines") or {}).items():
        rows[BASELINE_KEYS.get(key, key)] = values
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(EDGE_METRICS))
    frame.index.name = "method"
    return frame


def metrics_csv(frame: pd.DataFrame) -> bytes:
    """A metrics table as CSV bytes (index included)."""
    return frame.to_csv().encode()


def reciprocal_share(edges: np.ndarray) -> float:
    """Share of the edges ``(2, n)`` whose reverse is an edge too (``networkx.reciprocity``; NaN without edges)."""
    import networkx as nx

    pairs = np.asarray(edges, dtype=np.int64).reshape(2, -1).T
    return float(nx.reciprocity(nx.DiGraph(pairs.tolist()))) if len(pairs) else float("nan")

