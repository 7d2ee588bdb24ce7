"""Knockout-effect evaluation (BENCHMARK.md section 2): k-fold cross-validation over the measured knockouts.

A held-out gene is unseen in the strict sense: every sample that perturbs it (knockout, knockdown,
overexpression, alone or with other genes) leaves the training data of its fold, for the model and for every
baseline fitted on data. One implementation, used by the Evaluate page and by ``bench/dream4.py``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from mtlgrn_core.answers.infer import predict_knockout
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.baselines import mean_training_delta, zero_delta
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.linear_model import LinearModel, fit_linear_model
from mtlgrn_core.model.methods import LINEAR, MEAN_DELTA, MEAN_PLUS_LINEAR, ZERO, variant_method
from mtlgrn_core.model.metrics import KNOCKOUT_METRICS, knockout_metrics, summarise
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import TRAIN, EdgeSplit, knockout_folds
from mtlgrn_core.progress import Progress, TaskStopped

TOP_DE = 20
BASELINES = (ZERO, MEAN_DELTA, LINEAR, MEAN_PLUS_LINEAR)


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


def knockout_delta(run: Run, genes: Sequence[str], dose: float = 0.0) -> np.ndarray:
    """The run's predicted change of every gene (run gene order) after perturbing ``genes``; no warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = predict_knockout(run, list(genes), dose=dose)
    return table.set_index("gene")["delta"].reindex(list(run.genes)).to_numpy(dtype=np.float64)


def knockout_cross_validation(dataset: Dataset, config: TrainConfig, *, split: EdgeSplit | None = None,
                              folds: int = 5, seed: int = 0, top: int = TOP_DE,
                              variants: Sequence[tuple[str, TrainConfig]] | None = None,
                              on_fold: Progress | None = None, stop: threading.Event | None = None) -> pd.DataFrame:
    """k-fold cross-validation of knockout-effect prediction over the measured knockouts.

    The genes with a single-gene knockout (dose 0) are cut into ``folds`` seeded folds
    (:func:`mtlgrn_core.model.splits.knockout_folds`). For each fold, every sample that perturbs one of its genes is
    removed (:meth:`Dataset.samples_perturbing`); the prior is the train positives of ``split``; the model is
    trained and predicts each held-out knockout. True change = mean of the knockout samples - the control
    baseline. Baselines on the same folds and the same remaining samples: zero change, the mean change of the
    fold's training knockouts, linear propagation (fitted per fold on its samples that are not knockouts,
    along the train positives), and the sum of these two.

    Parameters
    ----------
    dataset
        The data (at least ``folds`` genes with a measured knockout).
    config
        Training settings (use a small epoch budget: this trains ``folds`` models per variant).
    split
        The edge split whose train positives are the prior (default: drawn with ``config.split`` and
        ``config.seed``); it is handed to every fit.
    folds, seed
        Number of folds (default 5) and their seed (default 0).
    top
        Size of the top-DE gene set (default 20).
    variants
        ``(name, config)`` of the models to train per fold (default: ``[("full model", config)]``; an
        ablation's variants, :func:`mtlgrn_core.evaluation.ablation.ablation_variants`, also work). Rows are labelled
        ``MTLGRN`` and ``MTLGRN <name>``.
    on_fold
        Called as ``on_fold(fold, folds, message)`` before each fold and once at the end.
    stop
        When set, the computation ends before the next fold (:class:`TaskStopped`).

    Returns
    -------
    pandas.DataFrame
        Index ``method`` (the models first, then the baselines); columns ``pearson_all``, ``pearson_top``,
        ``sign_acc_top``, ``rmse`` (means over the held-out knockouts) and ``n`` (knockouts).
        ``attrs["per_knockout"]`` holds one dict per method and knockout (``method, fold, gene`` and the
        metrics); ``attrs["fits"]`` one dict per fit (``method, fold, seconds, epochs_run, best_epoch``).
    """
    from mtlgrn_core.model.train import fit, make_split

    kos = measured_knockouts(dataset)
    if len(kos) < max(folds, 2):
        raise DataValidationError(f"knockout cross-validation needs at least {max(folds, 2)} genes with a measured "
                                  f"knockout (a samples.csv row with that gene alone and dose 0); this dataset has "
                                  f"{len(kos)}.")
    genes = np.array(list(kos), dtype=np.int64)
    baseline = dataset.baseline().astype(np.float64)
    x = dataset.expression.astype(np.float64)
    deltas = {int(g): x[:, kos[g]].mean(axis=1) - baseline for g in genes}
    split = split or make_split(dataset, config.split, config.seed)
    prior = train_prior(dataset, split)
    variants = list(variants or [("full model", config)])
    rows: list[dict] = []
    fits: list[dict] = []
    for k, (held, fold_data) in enumerate(fold_datasets(dataset, prior, genes, folds=folds, seed=seed)):
        if stop is not None and stop.is_set():
            raise TaskStopped()
        if on_fold is not None:
            on_fold(k, folds, f"fold {k + 1} of {folds}: training without {len(held)} knocked-out genes")
        predictors = {}
        for name, variant in variants:
            run = fit(fold_data, variant, split=split, stop=stop)
            method = variant_method(name)
            fits.append({"method": method, "fold": k, "seconds": run.info["train_seconds"],
                         "epochs_run": run.info["epochs_run"], "best_epoch": run.info["best_epoch"]})
            predictors[method] = lambda g, run=run: knockout_delta(run, [dataset.genes[g]])
        predictors.update(_fold_baselines(fold_data, split, baseline, genes, held, deltas))
        for g in held:
            g = int(g)
            for method, predict in predictors.items():
                rows.append({"method": method, "fold": k, "gene": dataset.genes[g],
                             **knockout_metrics(predict(g), deltas[g], g, top=top)})
    if on_fold is not None:
        on_fold(folds, folds, "done")
    return _summary(rows, [variant_method(name) for name, _ in variants], fits)


def fold_datasets(dataset: Dataset, prior: pd.DataFrame, genes: np.ndarray, *, folds: int = 5, seed: int = 0
                  ) -> Iterator[tuple[np.ndarray, Dataset]]:
    """The folds of the knockout cross-validation: each fold's held-out genes (:func:`knockout_folds`) and the data
    without any sample that perturbs one of them, with ``prior`` as its known network."""
    for held in knockout_folds(genes, n_folds=folds, seed=seed):
        yield held, dataset.without_samples(dataset.samples_perturbing(held)).with_prior(prior)


def fold_linear_model(fold_data: Dataset, split: EdgeSplit) -> LinearModel:
    """The linear-propagation baseline of one fold: fitted on its samples that are not knockouts, along the train
    positives of ``split``."""
    non_ko = fold_data.samples_without_knockout()
    return fit_linear_model(fold_data.expression[:, non_ko].astype(np.float64), split.positives(TRAIN))


def _fold_baselines(fold_data: Dataset, split: EdgeSplit, baseline: np.ndarray, genes: np.ndarray,
                    held: np.ndarray, deltas: dict[int, np.ndarray]) -> dict:
    """The baselines' predictors of one fold, fitted on what the fold leaves (never the held-out genes)."""
    train_genes = np.setdiff1d(genes, held)
    mean_delta = mean_training_delta(np.stack([deltas[int(g)] for g in train_genes]), ko_genes=train_genes)
    linear = fold_linear_model(fold_data, split)
    n_genes = fold_data.n_genes
    return {ZERO: lambda g: zero_delta(n_genes), MEAN_DELTA: lambda g: mean_delta,
            LINEAR: lambda g: linear.propagate(g, baseline, dose=0.0),
            MEAN_PLUS_LINEAR: lambda g: mean_delta + linear.propagate(g, baseline, dose=0.0)}


def _summary(rows: list[dict], models: list[str], fits: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    methods = [*models, *BASELINES]
    summary = {m: summarise(frame[frame["method"] == m].to_dict("records")) for m in methods}
    table = pd.DataFrame.from_dict(summary, orient="index")[[*KNOCKOUT_METRICS, "n"]]
    table.index.name = "method"
    table["n"] = table["n"].astype(np.int64)
    table.attrs["per_knockout"] = rows
    table.attrs["fits"] = fits
    return table
