"""BENCHMARK.md section 5: knockouts of real genes in yeast, leave-deletions-out (issue 25).

    python bench/yeast.py                       # both sets, seeds 0-9 -> bench/out/yeast/ (90 s)
    python bench/yeast.py --sets tf_knockouts --seeds 0 1 --no-ranges

Per data set (``yeast_data.SETS``) and seed: the deleted genes that regulate a measured gene in the motif prior are
split into 5 folds (``numpy.random.default_rng(seed)``); each fold's deletion profiles leave the training data, the
other deletion profiles and the prior are the training data, and every held-out deletion's change of every measured
gene (the deleted gene itself excluded) is predicted and compared with its measured log2 ratio: Pearson r over all
genes and over the 50 with the largest |measured change|, sign accuracy over those 50 (a 0 counts as wrong), and
the AUROC of |predicted change| for the genes with |log2 ratio| >= 1 (deletions without such a gene left out of it).
Baselines: zero; the mean of the training deletions' profiles; the prior's direct targets with the edge sign
(activation down, repression up); linear propagation through the prior. MTLGRN: the product's knockout of a
regulator through its prior targets with what the training deletions teach (:func:`fold_dataset` makes each fold's
training data a product dataset; ``mtlgrn_core.model.outside_regulators`` predicts). With ranges (default): the
range the training deletions' changes fell in around MTLGRN's prediction, and bootstrap ensembles of
:data:`MEMBERS`, scored by how often their range holds the measured change of the top-50 genes. Prints one table per
set (mean ± sd over seeds of the per-deletion means) and writes ``yeast.csv`` (per set, seed, method, deletion) and
``tables.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from common import Clock, add_seeds_option, markdown_table  # noqa: E402
from shared_data import shared_data_dir  # noqa: E402
from yeast_data import SETS, DeletionSet, load  # noqa: E402

from mtlgrn_core.inputs.bootstrap import bootstrap_dataset
from mtlgrn_core.inputs.data import Dataset, build_dataset
from mtlgrn_core.model.features import build_inputs
from mtlgrn_core.model.linear_model import fit_observational_model
from mtlgrn_core.model.metrics import knockout_metrics, ranking_areas
from mtlgrn_core.model.outside_regulators import DEFAULT_STEP, TransferResponse, dataset_transfer, outside_knockout
from mtlgrn_core.model.splits import knockout_folds
from mtlgrn_core.runs.ensemble import INTERVAL

FOLDS = 5
TOP = 50
STRONG = 1.0  # |log2 ratio| of a gene that counts as changed, for the AUROC
METRICS = ("pearson_all", "pearson_top", "sign_acc_top", "auroc_strong")
HEADS = ("Pearson, all genes", f"Pearson, top-{TOP}", f"sign accuracy, top-{TOP}", f"AUROC, |log2| >= {STRONG:g}")

#: ``predictor(data, training columns, deleted gene) -> predicted change of every measured gene``
Predictor = Callable[[DeletionSet, np.ndarray, str], np.ndarray]


def folds(data: DeletionSet, seed: int) -> list[list[str]]:
    """The held-out regulators split into :data:`FOLDS` folds, shuffled by ``seed``
    (:func:`~mtlgrn_core.model.splits.knockout_folds` over their positions)."""
    genes = data.regulators_with_targets()
    return [[genes[i] for i in part] for part in knockout_folds(np.arange(len(genes)), min(FOLDS, len(genes)), seed)]


def zero(data: DeletionSet, train: np.ndarray, gene: str) -> np.ndarray:
    return np.zeros(len(data.genes))


def mean_training_deletion(data: DeletionSet, train: np.ndarray, gene: str) -> np.ndarray:
    return data.profiles[:, train].mean(axis=1)


def prior_direct_sign(data: DeletionSet, train: np.ndarray, gene: str) -> np.ndarray:
    """-1 for the deleted gene's activated targets, +1 for its repressed ones, 0 elsewhere."""
    index = {g: i for i, g in enumerate(data.genes)}
    edges = data.prior[data.prior["source"] == gene]
    out = np.zeros(len(data.genes))
    out[[index[t] for t in edges["target"]]] = -edges["sign"].to_numpy(dtype=np.float64)
    return out


class FittedOnTraining:
    """A predictor that fits something on the training columns once per fold: ``fit(data, train)`` returns
    ``gene -> predicted change``."""

    def __init__(self, fit: Callable[[DeletionSet, np.ndarray], Callable[[str], np.ndarray]]):
        self.fit, self.key, self.predict = fit, None, None

    def __call__(self, data: DeletionSet, train: np.ndarray, gene: str) -> np.ndarray:
        if self.key != (data.name, train.tobytes()):
            self.key, self.predict = (data.name, train.tobytes()), self.fit(data, train)
        return self.predict(gene)


def fold_dataset(data: DeletionSet, train: np.ndarray) -> Dataset:
    """The training data of one fold as a user would bring them to the product: the training deletion profiles
    and the reference (``data.controls``, the zero log ratio) as samples, a sample sheet naming each deletion
    (``other`` where the deleted gene is neither measured nor a regulator of the prior: the product cannot name
    it) and the reference as control, the motif prior with its edges from unmeasured regulators."""
    nameable = set(data.genes) | set(data.prior["source"])
    samples = [f"{data.deleted[j]}#{j}" for j in train] + [f"reference#{k}" for k in range(data.controls.shape[1])]
    perturbation = [data.deleted[j] if data.deleted[j] in nameable else "other" for j in train]
    sheet = pd.DataFrame({"sample": samples, "perturbation": perturbation + ["control"] * data.controls.shape[1],
                          "dose": [0.0] * len(train) + [1.0] * data.controls.shape[1]})
    return build_dataset(genes=list(data.genes), samples=samples, sample_sheet=sheet, prior=data.prior,
                         expression=np.concatenate([data.profiles[:, train], data.controls], axis=1),
                         log_transform=False, name=data.name)


def _propagation(data: DeletionSet, train: np.ndarray, with_deletions: bool) -> Callable[[str], np.ndarray]:
    """The product's knockout of a regulator through its prior targets (:mod:`mtlgrn_core.model.outside_regulators`,
    as :func:`mtlgrn_core.answers.infer.predict_knockout` computes it for a regulator the run does not measure) on
    :func:`fold_dataset`: its direct targets move against the edge sign and the run's linear responses (section
    4's ridge along the prior's edges between measured genes) carry it on. ``with_deletions``: the step and the
    common response learned from the training deletions; else the default step alone (observational)."""
    return _dataset_predictor(fold_dataset(data, train), data.genes, with_deletions)


def _dataset_predictor(dataset: Dataset, genes: list[str], with_deletions: bool,
                       ranged: bool = False) -> Callable[[str], np.ndarray | Ranged]:
    """:func:`_propagation` on ``dataset``; ``ranged``: with the range the training deletions' changes fell in
    around the prediction (``TransferResponse.spread``, as the Knockout page shows it)."""
    inputs = build_inputs(dataset, dataset.edge_indices(), modalities=("expression",))
    responses = fit_observational_model(inputs.expression, dataset.edge_indices())
    transfer = dataset_transfer(dataset, inputs) if with_deletions else \
        TransferResponse(np.zeros(len(genes)), DEFAULT_STEP, 0, 0)
    edges = pd.concat([dataset.prior, dataset.outside_prior], ignore_index=True)

    def in_genes(values: np.ndarray) -> np.ndarray:
        return pd.Series(values * inputs.scale, index=dataset.genes).reindex(genes).to_numpy()

    def predict(gene: str) -> np.ndarray | Ranged:
        change = outside_knockout(responses, transfer, [gene], [0.0], edges, dataset.gene_index)
        if not ranged:
            return in_genes(change)
        low, high = change + transfer.spread_or_zero()
        return Ranged(in_genes(change), in_genes(low), in_genes(high))
    return predict


@dataclass
class Ranged:
    """A prediction with a range: a bootstrap ensemble's members' mean and the central 95 % of their predictions,
    or a prediction and the range real deletions fell in around it."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _bootstrap(data: DeletionSet, train: np.ndarray, with_deletions: bool) -> Callable[[str], Ranged]:
    """:func:`_propagation` of :data:`MEMBERS` bootstrap members (``mtlgrn_core.inputs.bootstrap``: each fits on its
    resample of the fold's samples, drawn within each kind, member seeds 0, 1, ...), as ``train --seeds 5
    --bootstrap`` trains them."""
    dataset = fold_dataset(data, train)
    members = [_dataset_predictor(bootstrap_dataset(dataset, seed), data.genes, with_deletions)
               for seed in range(MEMBERS)]

    def predict(gene: str) -> Ranged:
        each = np.stack([member(gene) for member in members])
        low, high = np.quantile(each, INTERVAL, axis=0)
        return Ranged(each.mean(axis=0), low, high)
    return predict


BASELINES: dict[str, Predictor] = {
    "zero": zero, "mean training deletion": mean_training_deletion,
    "prior direct targets, edge sign": prior_direct_sign,
    "linear propagation through the prior": FittedOnTraining(lambda d, t: _propagation(d, t, False))}
MODEL = "MTLGRN: deletions' common response + learned target step, propagated"
METHODS: dict[str, Predictor] = {**BASELINES, MODEL: FittedOnTraining(lambda d, t: _propagation(d, t, True))}
MEMBERS = 5
SPREAD = "MTLGRN, range of the training deletions' changes"
RANGED: dict[str, Predictor] = {
    SPREAD: FittedOnTraining(lambda d, t: _dataset_predictor(fold_dataset(d, t), d.genes, True, ranged=True)),
    f"linear propagation, {MEMBERS} bootstrap members": FittedOnTraining(lambda d, t: _bootstrap(d, t, False)),
    f"MTLGRN, {MEMBERS} bootstrap members": FittedOnTraining(lambda d, t: _bootstrap(d, t, True))}


def deletion_metrics(data: DeletionSet, predicted: np.ndarray | Ranged, column: int) -> dict[str, float]:
    """Section 5's metrics of one held-out deletion (the deleted gene excluded where it is measured); for a
    bootstrap ensemble (:class:`Ranged`) those of the members' mean, and ``range_top``: the share of the top-50
    genes whose measured change lies in the members' central 95 %."""
    ranged = predicted if isinstance(predicted, Ranged) else None
    predicted = ranged.mean if ranged is not None else predicted
    measured = data.profiles[:, column]
    own = [data.genes.index(data.deleted[column])] if data.deleted[column] in data.genes else []
    out = knockout_metrics(predicted, measured, own, top=TOP, zero_is_wrong=True)
    keep = np.ones(len(data.genes), dtype=bool)
    keep[own] = False
    strong = np.abs(measured[keep]) >= STRONG
    out["auroc_strong"] = ranking_areas(np.abs(predicted[keep]), strong)[0] if strong.any() else np.nan
    del out["rmse"]
    if ranged is not None:
        top = np.flatnonzero(keep)[np.argsort(-np.abs(measured[keep]), kind="stable")[:TOP]]
        out["range_top"] = float(np.mean((ranged.low[top] <= measured[top]) & (measured[top] <= ranged.high[top])))
    return out


def run_set(data: DeletionSet, seeds, methods: dict[str, Predictor], clock: Clock) -> list[dict]:
    rows = []
    for seed in seeds:
        parts = folds(data, seed)
        for fold in parts:
            held = np.isin(data.deleted, fold)
            train = np.flatnonzero(~held)
            for column in np.flatnonzero(held):
                gene = data.deleted[column]
                for method, predict in methods.items():
                    row = deletion_metrics(data, predict(data, train, gene), column)
                    rows.append({"set": data.name, "seed": seed, "method": method, "deletion": gene, **row})
        clock.log(f"{data.name} seed {seed}: {sum(len(f) for f in parts)} deletions held out")
    return rows


def table(frame: pd.DataFrame, data: DeletionSet) -> str:
    """The set's table of :data:`METHODS`, then that of the bootstrap ensembles (with their range's coverage)."""
    n = frame.groupby("seed")["deletion"].nunique().iloc[0]
    title = (f"## {data.name}: {len(data.genes)} measured genes, {len(data.deleted)} deletions, {n} held out "
             f"(deleted regulators with a measured target in the motif prior; {len(data.prior):,} prior edges)")
    single = frame[frame["method"].isin(METHODS)]
    ensembles = frame[frame["method"].isin(RANGED)]
    text = title + "\n\n" + _seed_table(single, METRICS, HEADS)
    if len(ensembles):
        text += (f"\n\nPredictions with a range (coverage: share of the top-{TOP} genes whose measured change lies in "
                 f"it): the range the training deletions' changes fell in around the prediction (central 95 %), and "
                 f"bootstrap ensembles of {MEMBERS} members (their mean; the central 95 % of the members):\n\n"
                 + _seed_table(ensembles, (*METRICS, "range_top"), (*HEADS, f"coverage, top-{TOP}")))
    return text


def _seed_table(frame: pd.DataFrame, metrics, heads) -> str:
    per_seed = frame.groupby(["method", "seed"])[list(metrics)].mean().reset_index()
    return markdown_table(per_seed, list(dict.fromkeys(frame["method"])), list(metrics), list(heads), {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    add_seeds_option(parser)
    parser.add_argument("--shared", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "yeast")
    parser.add_argument("--no-ranges", dest="ranges", action="store_false",
                        help=f"leave out the predictions with a range (the bootstrap ensembles fit {MEMBERS} members)")
    args = parser.parse_args(argv)
    shared = shared_data_dir(args.shared)
    if not (shared / "yeast_deletions").is_dir():
        print(f"no yeast_deletions folder in {shared}: give --shared DIR or set MTLGRN_SHARED_DATA", file=sys.stderr)
        return 2
    clock, frames, parts = Clock(), [], []
    for name in args.sets:
        data = load(name, shared)
        methods = {**METHODS, **(RANGED if args.ranges else {})}
        frame = pd.DataFrame(run_set(data, args.seeds, methods, clock))
        frames.append(frame)
        parts.append(table(frame, data))
    args.out.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(args.out / "yeast.csv", index=False)
    text = "\n\n".join(parts)
    (args.out / "tables.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
