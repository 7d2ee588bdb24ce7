"""The computations behind the Evaluate and Knockout pages (no UI).

Edge prediction (BENCHMARK.md section 1)
    :func:`test_split_scores` rebuilds a run's test split and scores its pairs with the model and the
    baselines; :func:`truth_scores` scores every candidate pair outside the run's training graph against a
    separate ground truth; :func:`genie3_pair_scores` adds GENIE3 with progress; :func:`curve_points` gives
    ROC and precision-recall points; :func:`stored_metrics_table` reads the metrics saved with a run.

Knockout effects (BENCHMARK.md section 2)
    :func:`knockout_cross_validation`: k-fold cross-validation over the measured knockouts, the model against
    the zero, mean-training-delta and linear-propagation baselines.

Ablation
    :func:`ablation`: the run's settings retrained with each task switched off and each gene-feature modality
    removed, test AUPRC / AUROC per variant.

Knockout queries
    :func:`knockout_query` (``predict_knockout`` with its warnings captured), :func:`comparison_matrix`,
    :func:`measured_knockout` / :func:`compare_with_measured`, :func:`knockout_neighbourhood`.

The long computations take a :data:`~mtlgrn_core.jobs.Progress` callback and a stop event, so that
:class:`mtlgrn_core.jobs.BackgroundTask` can run them in a daemon thread with progress a page can poll.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from . import evaluate
from .config import TASKS, TrainConfig
from .data import Dataset
from .errors import DataValidationError
from .infer import dose_warnings, predict_knockout, score_pairs
from .jobs import Progress, TaskStopped
from .runstore import Run
from .splits import TEST, TRAIN, EdgeSplit, knockout_folds

MODEL = "MTLGRN"
RANDOM, DEGREE, PEARSON, KO_ZSCORE, GENIE3 = "random", "degree", "|Pearson|", "knockout z-score", "GENIE3"
ZERO, MEAN_DELTA, LINEAR = "zero change", "mean training delta", "linear propagation"
METHOD_HELP = {
    MODEL: "this run's model",
    RANDOM: "random scores: the floor any method must beat",
    DEGREE: "out-degree of the regulator + in-degree of the target in the training edges (hub knowledge only)",
    PEARSON: "absolute Pearson correlation of the two genes' expression",
    KO_ZSCORE: "how far the target moves when the regulator is knocked out, in standard deviations",
    GENIE3: "GENIE3 tree ensembles (Huynh-Thu et al. 2010)",
    ZERO: "predicts no change at all",
    MEAN_DELTA: "the average change over the training knockouts",
    LINEAR: "each gene regressed on its known regulators, the knockout propagated through that linear model",
}
MAX_TRUTH_PAIRS = 2_000_000  # above this, the truth evaluation scores a seeded random sample of the pairs
TOP_DE = 20
_UNTRAINED_MARK = "untrained"  # predict_knockout's note when the run has no knockout task


# ----------------------------------------------------------------------------------------------------
# Edge prediction


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
        """One row of :func:`mtlgrn_core.evaluate.edge_metrics` per method (index ``method``)."""
        return evaluate.edge_report(self.scores, self.labels)

    def with_method(self, name: str, scores: np.ndarray) -> ScoredPairs:
        """A copy with one more method's scores."""
        return replace(self, scores={**self.scores, name: np.asarray(scores, dtype=np.float64)},
                       notes=list(self.notes))


def _check_same_genes(run: Run, dataset: Dataset) -> None:
    if tuple(run.genes) != tuple(dataset.genes) or tuple(run.tfs) != tuple(dataset.tfs):
        raise DataValidationError("this run was trained on other genes or TFs than the dataset given. Select the "
                                  "dataset the run was trained on (its name is shown with the run).")


def run_split(run: Run, dataset: Dataset) -> EdgeSplit:
    """The run's BENCHMARK.md section 1 split, rebuilt from its dataset, split kind and seed."""
    from .train import make_split  # torch-heavy training code loads only when needed

    _check_same_genes(run, dataset)
    return make_split(dataset, run.config.split, run.config.seed)


def model_pair_scores(run: Run, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The run's edge probabilities for the pairs ``src -> dst`` (gene indices)."""
    import torch

    return score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src),
                       torch.as_tensor(dst)).astype(np.float64)


def has_knockouts(dataset: Dataset) -> bool:
    """Whether the dataset holds at least one single-gene knockout (dose 0)."""
    return any(len(p.genes) == 1 and p.dose == 0.0 for p in dataset.perturbations())


def _baseline_scores(run: Run, dataset: Dataset, graph: np.ndarray, src: np.ndarray,
                     dst: np.ndarray) -> dict[str, np.ndarray]:
    scores = {
        MODEL: model_pair_scores(run, src, dst),
        RANDOM: evaluate.random_scores(src, dst, seed=run.config.seed),
        DEGREE: evaluate.degree_scores(graph, dataset.n_genes, len(dataset.tfs), src, dst),
        PEARSON: evaluate.pearson_scores(dataset.expression, src, dst),
    }
    if has_knockouts(dataset):
        scores[KO_ZSCORE] = evaluate.knockout_zscore_scores(dataset, src, dst)
    return scores


def test_split_scores(run: Run, dataset: Dataset) -> ScoredPairs:
    """The run's test pairs scored by the model and the baselines (BENCHMARK.md section 1).

    The split is rebuilt with ``make_split(dataset, run.config.split, run.config.seed)``: the reference is the
    held-out part of the dataset's prior network. Methods: the model, random (seeded with the run's seed, as
    in the run's own metrics), degree (on the train positives), |Pearson| and, when the dataset has
    single-gene knockouts, knockout z-scores. GENIE3 is left to :func:`genie3_pair_scores` (slow).

    Raises
    ------
    DataValidationError
        When the run does not belong to ``dataset`` or the test split holds no known edge.
    """
    split = run_split(run, dataset)
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    if not labels.any():
        raise DataValidationError("the test split holds no known edge, so there is nothing to score. Give a "
                                  "prior network (network.csv) with more edges among the TFs.")
    kind = "whole TFs held out" if split.kind == "tf" else "edges held out at random"
    description = (f"{len(labels):,} test pairs ({int(labels.sum()):,} known edges) of the prior network's "
                   f"split ({kind}, seed {run.config.seed}); the model never saw them.")
    return ScoredPairs(src, dst, labels, _baseline_scores(run, dataset, split.positives(TRAIN), src, dst),
                       description)


def truth_scores(run: Run, dataset: Dataset, *, max_pairs: int = MAX_TRUTH_PAIRS, seed: int = 0) -> ScoredPairs:
    """Every candidate pair outside the run's training graph, labelled by the dataset's ground truth.

    Candidate pairs are (TF, gene) with TF != gene; the pairs of the message-passing graph the run was trained
    with (its train positives) are removed; the validation and test pairs of the prior, and every pair absent
    from the prior, stay. With more than ``max_pairs`` candidates (default 2,000,000), a seeded random sample
    of that many is scored (and said so in ``notes``).

    Raises
    ------
    DataValidationError
        When the dataset has no ground truth (truth.csv), or the truth has no edge among the pairs.
    """
    if dataset.truth is None:
        raise DataValidationError("this dataset has no ground truth (truth.csv); only the prior's test split "
                                  "can be evaluated.")
    _check_same_genes(run, dataset)
    n_genes, tfs = dataset.n_genes, np.sort(dataset.tf_indices)
    n_pairs = len(tfs) * n_genes
    notes = []
    if n_pairs > max_pairs:
        ids = np.unique(np.random.default_rng(seed).integers(0, n_pairs, size=max_pairs))
        notes.append(f"{n_pairs:,} candidate pairs: a random sample of {len(ids):,} of them is scored (seed {seed}).")
    else:
        ids = np.arange(n_pairs, dtype=np.int64)
    src, dst = tfs[ids // n_genes], ids % n_genes
    graph = np.asarray(run.inputs.graph, dtype=np.int64).reshape(2, -1)
    keep = (src != dst) & ~np.isin(src * n_genes + dst, graph[0] * n_genes + graph[1])
    src, dst = src[keep], dst[keep]
    truth = _name_pairs(dataset, dataset.truth)
    labels = np.isin(src * n_genes + dst, truth[0] * n_genes + truth[1])
    if not labels.any():
        raise DataValidationError("the ground truth has no edge among the candidate pairs outside the training "
                                  "graph (are its regulators in the TF list?).")
    description = (f"{len(labels):,} candidate TF → gene pairs not in the run's training graph, of which "
                   f"{int(labels.sum()):,} are edges of the ground truth (truth.csv). This includes the prior's "
                   "validation and test edges and every edge the prior does not know.")
    return ScoredPairs(src, dst, labels, _baseline_scores(run, dataset, graph, src, dst), description, notes)


def _name_pairs(dataset: Dataset, edges: pd.DataFrame) -> np.ndarray:
    """``(2, n)`` gene indices of the edges whose two genes are in the dataset."""
    src = edges["source"].map(dataset.gene_index)
    dst = edges["target"].map(dataset.gene_index)
    ok = src.notna() & dst.notna()
    return np.stack([src[ok].to_numpy(dtype=np.int64), dst[ok].to_numpy(dtype=np.int64)])


def genie3_pair_scores(dataset: Dataset, src: np.ndarray, dst: np.ndarray, *, seed: int = 0, n_trees: int = 100,
                       steps: int = 20, on_step: Progress | None = None,
                       stop: threading.Event | None = None) -> np.ndarray:
    """GENIE3 scores of the pairs, computed in ``steps`` groups of targets so that progress can be shown.

    Same scores as :func:`mtlgrn_core.evaluate.genie3_scores` on all pairs at once (each target's forest is
    seeded by ``seed`` and the target alone).
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    out = np.zeros(src.size, dtype=np.float64)
    targets = np.unique(dst)
    groups = [g for g in np.array_split(targets, max(1, min(steps, targets.size))) if g.size]
    for k, group in enumerate(groups):
        _check_stop(stop)
        if on_step is not None:
            on_step(k, len(groups), f"{k * 100 // len(groups)} % of the target genes done")
        sel = np.flatnonzero(np.isin(dst, group))
        out[sel] = evaluate.genie3_scores(dataset.expression, dataset.tf_indices, src[sel], dst[sel], seed=seed,
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
    names = {"random": RANDOM, "degree": DEGREE, "pearson": PEARSON}
    for key, values in (metrics.get("baselines") or {}).items():
        rows[names.get(key, key)] = values
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(evaluate.EDGE_METRICS))
    frame.index.name = "method"
    return frame


def metrics_csv(frame: pd.DataFrame) -> bytes:
    """A metrics table as CSV bytes (index included)."""
    return frame.to_csv().encode()


# ----------------------------------------------------------------------------------------------------
# Knockout cross-validation (BENCHMARK.md section 2)


def measured_knockouts(dataset: Dataset) -> dict[int, np.ndarray]:
    """Gene index -> expression columns of its single-gene knockouts (dose 0), genes ascending."""
    found: dict[int, list[int]] = {}
    for p in dataset.perturbations():
        if len(p.genes) == 1 and p.dose == 0.0:
            found.setdefault(p.genes[0], []).append(p.sample)
    return {g: np.array(found[g], dtype=np.int64) for g in sorted(found)}


def train_prior(dataset: Dataset, split: EdgeSplit) -> pd.DataFrame:
    """The train positives of ``split`` as a prior table ``source, target, sign`` (signs from the prior)."""
    src, dst = split.positives(TRAIN)
    names = np.asarray(dataset.genes, dtype=object)
    sign = dict(zip(zip(dataset.prior["source"], dataset.prior["target"]), dataset.prior["sign"]))
    frame = pd.DataFrame({"source": names[src], "target": names[dst]})
    frame["sign"] = [int(sign.get((s, t), 0)) for s, t in zip(frame["source"], frame["target"])]
    return frame


def knockout_cross_validation(dataset: Dataset, config: TrainConfig, *, folds: int = 5, seed: int = 0,
                              top: int = TOP_DE, on_fold: Progress | None = None,
                              stop: threading.Event | None = None) -> pd.DataFrame:
    """k-fold cross-validation of knockout-effect prediction over the measured knockouts.

    Follows BENCHMARK.md section 2 on any dataset: the genes with a single-gene knockout (dose 0) are cut
    into ``folds`` seeded folds (:func:`mtlgrn_core.splits.knockout_folds`). For each fold, the knockout
    samples of its genes (and any multi-gene knockout involving them) are removed, the prior is the train
    positives of the run's edge split (``config.split``, ``config.seed``), the model is trained with
    ``config`` and predicts each held-out knockout. True change = mean of the knockout samples - the control
    baseline. Baselines on the same folds: zero change, the mean change of the training knockouts, and
    linear propagation (fitted once on the samples that are not knockouts, along the train positives).

    Parameters
    ----------
    dataset
        The data (at least ``folds`` genes with a measured knockout).
    config
        Training settings (use a small epoch budget: this trains ``folds`` models).
    folds
        Number of folds (default 5).
    seed
        Seed of the folds (default 0); the edge split uses ``config.seed``.
    top
        Size of the top-DE gene set (default 20).
    on_fold
        Called as ``on_fold(fold, folds, message)`` before each fold and once at the end.
    stop
        When set, the computation ends before the next fold (:class:`TaskStopped`).

    Returns
    -------
    pandas.DataFrame
        Index ``method`` (model first, then the baselines); columns ``pearson_all``, ``pearson_top``,
        ``sign_acc_top``, ``rmse`` (means over the held-out knockouts) and ``n`` (knockouts).
        ``attrs["per_knockout"]`` holds one dict per method and knockout (``method, fold, gene`` and the metrics).
    """
    from .train import fit, make_split

    kos = measured_knockouts(dataset)
    if len(kos) < max(folds, 2):
        raise DataValidationError(f"knockout cross-validation needs at least {max(folds, 2)} genes with a measured "
                                  f"knockout (a samples.csv row with that gene alone and dose 0); this dataset has "
                                  f"{len(kos)}.")
    genes = np.array(list(kos), dtype=np.int64)
    baseline = dataset.baseline().astype(np.float64)
    x = dataset.expression.astype(np.float64)
    deltas = np.stack([x[:, kos[g]].mean(axis=1) - baseline for g in genes])  # row k: knockout of genes[k]
    row_of = {int(g): k for k, g in enumerate(genes)}
    split = make_split(dataset, config.split, config.seed)
    prior = train_prior(dataset, split)
    knocked_out = {p.sample for p in dataset.perturbations() if p.dose == 0.0}
    non_ko = np.array([j for j in range(len(dataset.samples)) if j not in knocked_out], dtype=np.int64)
    linear = evaluate.fit_linear_model(x[:, non_ko], split.positives(TRAIN))
    rows: list[dict] = []
    fold_genes = knockout_folds(genes, n_folds=folds, seed=seed)
    for k, held in enumerate(fold_genes):
        _check_stop(stop)
        if on_fold is not None:
            on_fold(k, folds, f"fold {k + 1} of {folds}: training without {len(held)} knockouts")
        held_set = {int(g) for g in held}
        drop = {dataset.samples[p.sample] for p in dataset.perturbations()
                if p.dose == 0.0 and held_set & set(p.genes)}
        run = fit(dataset.without_samples(drop).with_prior(prior), config, split=split, stop=stop)
        train_rows = [row_of[int(g)] for g in genes if int(g) not in held_set]
        mean_delta = evaluate.mean_training_delta(deltas[train_rows], ko_genes=genes[train_rows])
        for g in held:
            g = int(g)
            predictions = {MODEL: knockout_delta(run, [dataset.genes[g]]), ZERO: evaluate.zero_delta(dataset.n_genes),
                           MEAN_DELTA: mean_delta, LINEAR: linear.propagate(g, baseline, dose=0.0)}
            for method, pred in predictions.items():
                rows.append({"method": method, "fold": k, "gene": dataset.genes[g],
                             **evaluate.knockout_metrics(pred, deltas[row_of[g]], g, top=top)})
    if on_fold is not None:
        on_fold(folds, folds, "done")
    frame = pd.DataFrame(rows)
    summary = {m: evaluate.summarise(frame[frame["method"] == m].to_dict("records")) for m in (MODEL, ZERO,
                                                                                               MEAN_DELTA, LINEAR)}
    table = pd.DataFrame.from_dict(summary, orient="index")[[*evaluate.KNOCKOUT_METRICS, "n"]]
    table.index.name = "method"
    table["n"] = table["n"].astype(np.int64)
    table.attrs["per_knockout"] = rows
    return table


def knockout_delta(run: Run, genes: Sequence[str], dose: float = 0.0) -> np.ndarray:
    """The run's predicted change of every gene (run gene order) after perturbing ``genes``; no warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = predict_knockout(run, list(genes), dose=dose)
    return table.set_index("gene")["delta"].reindex(list(run.genes)).to_numpy(dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# Ablation


def ablation_variants(dataset: Dataset, config: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """The full settings, then one variant per task switched off and per gene-feature modality removed.

    Only tasks with a positive weight and the data they need (a switched-off task without data would refit
    the same model) and modalities the dataset has (and ``config`` uses) are varied; a modality is not
    removed when it is the only one left.
    """
    variants = [("full model", config)]
    for task in TASKS:
        if config.task_weights[task] > 0 and _has_task_data(dataset, task):
            weights = {**config.task_weights, task: 0.0}
            if any(w > 0 for w in weights.values()):
                variants.append((f"without the {task} task", replace(config, task_weights=weights)))
    present = [m for m in config.modalities if _has_modality(dataset, m)]
    if len(present) > 1:
        for modality in present:
            rest = tuple(m for m in config.modalities if m != modality)
            variants.append((f"without {modality} features", replace(config, modalities=rest)))
    return variants


def _has_task_data(dataset: Dataset, task: str) -> bool:
    return {"edge": len(dataset.prior) > 0, "knockout": bool(dataset.perturbations()),
            "expression": True}[task]


def _has_modality(dataset: Dataset, modality: str) -> bool:
    return {"expression": True, "promoter": bool(dataset.promoters),
            "annotation": dataset.annotations is not None and dataset.annotations.shape[1] > 0,
            "knockout": any(len(p.genes) == 1 for p in dataset.perturbations())}[modality]


def ablation(dataset: Dataset, config: TrainConfig, *, on_step: Progress | None = None,
             stop: threading.Event | None = None) -> pd.DataFrame:
    """Retrain ``config`` with each task switched off and each modality removed (:func:`ablation_variants`).

    Every variant uses the same split and seed, so its test pairs are those of the full model.

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``variant, tasks, features, auroc, auprc, auprc_ratio, epr, auprc_change``
        (AUPRC minus the full model's), ``epochs_run``, ``seconds`` and ``note`` (why a variant could not
        train, or empty).
    """
    from .train import fit

    variants = ablation_variants(dataset, config)
    rows = []
    for k, (name, variant) in enumerate(variants):
        _check_stop(stop)
        if on_step is not None:
            on_step(k, len(variants), f"training {name} ({k + 1} of {len(variants)})")
        started = time.perf_counter()
        row = {"variant": name, "tasks": "", "features": "", "auroc": np.nan, "auprc": np.nan,
               "auprc_ratio": np.nan, "epr": np.nan, "epochs_run": 0, "seconds": 0.0, "note": ""}
        try:
            run = fit(dataset, variant, stop=stop)
        except DataValidationError as exc:
            row["note"] = str(exc)
        else:
            test = (run.metrics or {}).get("test") or {}
            row.update({"tasks": ", ".join(run.tasks), "features": ", ".join(run.info.get("modalities", [])),
                        **{m: test.get(m, np.nan) for m in ("auroc", "auprc", "auprc_ratio", "epr")},
                        "epochs_run": int(run.info.get("epochs_run", 0))})
            if not test:
                row["note"] = "no test edges to score"
        row["seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
    if on_step is not None:
        on_step(len(variants), len(variants), "done")
    frame = pd.DataFrame(rows)
    frame.insert(frame.columns.get_loc("epr") + 1, "auprc_change", frame["auprc"] - frame["auprc"].iloc[0])
    return frame


# ----------------------------------------------------------------------------------------------------
# Knockout queries


def dose_notes(run: Run, dose: float) -> list[str]:
    """What to be careful about at this dose (outside the doses seen in training, overexpression)."""
    return dose_warnings(run, np.array([float(dose)], dtype=np.float32))


def query_label(genes: Sequence[str], dose: float) -> str:
    """A short name for a query: ``G001+G002 knockout``, ``G001 at dose 0.5``."""
    what = "knockout" if dose == 0 else f"at dose {dose:g}"
    return f"{'+'.join(genes)} {what}"


def knockout_query(run: Run, genes: Sequence[str], dose: float) -> pd.DataFrame:
    """:func:`mtlgrn_core.infer.predict_knockout` with its warnings captured, plus a standardised change.

    Returns
    -------
    pandas.DataFrame
        ``gene, baseline, predicted, delta, log2fc, z, perturbed`` sorted by decreasing ``|delta|``; ``z`` is
        the change in units of the gene's standard deviation over all samples (``delta / scale``).
        ``attrs["warnings"]`` lists the dose / extrapolation warnings; ``attrs["untrained"]`` is True when the
        run's knockout task was not trained (its own warning is then left out of ``warnings``).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = predict_knockout(run, list(genes), dose=float(dose))
    untrained = "knockout" not in run.tasks
    notes = [str(w.message) for w in caught]
    notes = [n for n in dict.fromkeys(notes) if not (untrained and _UNTRAINED_MARK in n)]
    scale = pd.Series(np.asarray(run.inputs.scale, dtype=np.float64), index=list(run.genes))
    table.insert(table.columns.get_loc("log2fc") + 1, "z", table["delta"].to_numpy() / scale[table["gene"]].to_numpy())
    table.attrs = {"warnings": notes, "untrained": untrained}
    return table


def table_csv(table: pd.DataFrame) -> bytes:
    """A knockout table as CSV bytes (no index)."""
    return table.to_csv(index=False).encode()


def comparison_matrix(tables: dict[str, pd.DataFrame], *, top: int = 30, value: str = "delta") -> pd.DataFrame:
    """Genes x queries of predicted change, for a heatmap comparing several knockouts.

    Parameters
    ----------
    tables
        Query label -> :func:`knockout_query` table.
    top
        Keep the ``top`` genes with the largest ``|value|`` in any query (perturbed genes excluded, since
        their change is set by the dose). Default 30.
    value
        Column to compare (default ``"delta"``; ``"z"`` for standard-deviation units).
    """
    if not tables:
        return pd.DataFrame()
    matrix = pd.concat({label: t.set_index("gene")[value] for label, t in tables.items()}, axis=1)
    perturbed = set().union(*(t.loc[t["perturbed"], "gene"] for t in tables.values()))
    matrix = matrix.drop(index=[g for g in perturbed if g in matrix.index])
    order = matrix.abs().max(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    return matrix.loc[order]


@dataclass
class MeasuredKnockout:
    """Measured change after a perturbation found in the dataset's sample sheet.

    Attributes
    ----------
    samples
        Names of the samples averaged.
    delta
        Mean of those samples minus the control baseline, per gene (dataset gene order).
    dose
        Dose of those samples.
    """

    samples: list[str]
    delta: np.ndarray
    dose: float

    def seen_in_training(self, run: Run) -> bool:
        """Whether ``run`` was trained on these samples with its knockout task (then it is no test)."""
        return "knockout" in run.tasks and set(self.samples) <= set(run.samples)


def measured_knockout(dataset: Dataset, genes: Sequence[str], dose: float, *,
                      tol: float = 1e-6) -> MeasuredKnockout | None:
    """The measured perturbation of exactly ``genes`` at ``dose`` in the dataset, or ``None``.

    Samples whose sample-sheet perturbation is exactly this set of genes at this dose are averaged (for
    ``dose`` 0: knockout samples).
    """
    wanted = {dataset.gene_index[g] for g in genes if g in dataset.gene_index}
    if len(wanted) != len(set(genes)):
        return None
    cols = [p.sample for p in dataset.perturbations() if set(p.genes) == wanted and abs(p.dose - dose) <= tol]
    if not cols:
        return None
    x = dataset.expression[:, cols].astype(np.float64).mean(axis=1)
    return MeasuredKnockout([dataset.samples[j] for j in cols], x - dataset.baseline().astype(np.float64),
                            float(dose))


def compare_with_measured(table: pd.DataFrame, measured: MeasuredKnockout, dataset_genes: Sequence[str],
                          *, top: int = TOP_DE) -> tuple[pd.DataFrame, dict[str, float]]:
    """Predicted against measured change of every gene (the perturbed genes left out).

    Returns
    -------
    (pandas.DataFrame, dict)
        ``gene, predicted, measured`` for every gene not perturbed; and the BENCHMARK.md section 2 metrics
        (``pearson_all`` = Pearson r over those genes, ``pearson_top``, ``sign_acc_top``, ``rmse``).
    """
    measured_delta = pd.Series(measured.delta, index=list(dataset_genes))
    frame = table.loc[~table["perturbed"], ["gene", "delta"]].rename(columns={"delta": "predicted"})
    frame = frame[frame["gene"].isin(measured_delta.index)].reset_index(drop=True)
    frame["measured"] = measured_delta[frame["gene"]].to_numpy()
    metrics = evaluate.knockout_metrics(frame["predicted"].to_numpy(), frame["measured"].to_numpy(),
                                        np.zeros(0, dtype=np.int64), top=top)
    return frame, metrics


def knockout_neighbourhood(run: Run, table: pd.DataFrame, genes: Sequence[str], *, max_targets: int = 25,
                           min_score: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The knocked-out genes and their targets (known from the prior, or predicted by the model).

    For each perturbed gene that is a regulator, its targets are its prior targets and the genes the model
    scores at least ``min_score`` as its targets; at most ``max_targets`` are kept per gene, the most changed
    first.

    Returns
    -------
    (nodes, edges)
        ``nodes``: ``gene, delta, z, perturbed``; ``edges``: ``source, target, score, known`` (``known``: in the
        prior the run was given).
    """
    delta = table.set_index("gene")
    prior = run.prior
    edges = []
    for gene in dict.fromkeys(genes):
        known = set(prior.loc[prior["source"] == gene, "target"])
        scores = pd.Series(dtype=np.float64)
        if gene in run.tfs:
            others = np.array([i for i in range(len(run.genes)) if i != run.gene_index[gene]], dtype=np.int64)
            values = model_pair_scores(run, np.full(others.size, run.gene_index[gene]), others)
            scores = pd.Series(values, index=np.asarray(run.genes, dtype=object)[others])
        chosen = known | set(scores.index[scores.to_numpy() >= min_score])
        chosen.discard(gene)
        ranked = sorted(chosen, key=lambda g: (g not in known, -abs(float(delta.at[g, "delta"])), g))
        ranked = sorted(ranked[:max_targets], key=lambda g: -abs(float(delta.at[g, "delta"])))
        edges += [{"source": gene, "target": t, "score": float(scores.get(t, np.nan)), "known": t in known}
                  for t in ranked]
    edge_frame = pd.DataFrame(edges, columns=["source", "target", "score", "known"])
    names = list(dict.fromkeys([*genes, *edge_frame["target"]]))
    nodes = delta.loc[names, ["delta", "z", "perturbed"]].reset_index()
    return nodes, edge_frame


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise TaskStopped()
