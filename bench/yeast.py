"""BENCHMARK.md section 5: knockouts of real genes in yeast, leave-deletions-out (issue 25, first step: the
protocol and the baselines that need no model; MTLGRN and linear propagation come with knockouts of regulators whose
own expression is not measured, which most held-out deletions are).

    python bench/yeast.py                       # both sets, seeds 0-9 -> bench/out/yeast/
    python bench/yeast.py --sets tf_knockouts --seeds 0 1

Per data set (``yeast_data.SETS``) and seed: the deleted genes that regulate a measured gene in the motif prior are
split into 5 folds (``numpy.random.default_rng(seed)``); each fold's deletion profiles leave the training data, the
other deletion profiles and the prior are the training data, and every held-out deletion's change of every measured
gene (the deleted gene itself excluded) is predicted and compared with its measured log2 ratio: Pearson r over all
genes and over the 50 with the largest |measured change|, sign accuracy over those 50 (a 0 counts as wrong), and
the AUROC of |predicted change| for the genes with |log2 ratio| >= 1 (deletions without such a gene left out of it).
Baselines: zero; the mean of the training deletions' profiles; the prior's direct targets with the edge sign
(activation down, repression up). Prints one table per set (mean ± sd over seeds of the per-deletion means) and
writes ``yeast.csv`` (per set, seed, method, deletion) and ``tables.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from common import Clock, add_seeds_option, markdown_table  # noqa: E402
from shared_data import shared_data_dir  # noqa: E402
from yeast_data import SETS, DeletionSet, load  # noqa: E402

from mtlgrn_core.evaluate import knockout_metrics, ranking_areas  # noqa: E402

FOLDS = 5
TOP = 50
STRONG = 1.0  # |log2 ratio| of a gene that counts as changed, for the AUROC
METRICS = ("pearson_all", "pearson_top", "sign_acc_top", "auroc_strong")
HEADS = ("Pearson, all genes", f"Pearson, top-{TOP}", f"sign accuracy, top-{TOP}", f"AUROC, |log2| >= {STRONG:g}")

#: ``predictor(data, training columns, deleted gene) -> predicted change of every measured gene``
Predictor = Callable[[DeletionSet, np.ndarray, str], np.ndarray]


def folds(data: DeletionSet, seed: int) -> list[list[str]]:
    """The held-out regulators split into :data:`FOLDS` folds, shuffled by ``seed``."""
    genes = data.regulators_with_targets()
    order = np.random.default_rng(seed).permutation(len(genes))
    return [[genes[i] for i in part] for part in np.array_split(order, FOLDS)]


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


BASELINES: dict[str, Predictor] = {"zero": zero, "mean training deletion": mean_training_deletion,
                                   "prior direct targets, edge sign": prior_direct_sign}


def deletion_metrics(data: DeletionSet, predicted: np.ndarray, column: int) -> dict[str, float]:
    """Section 5's metrics of one held-out deletion (the deleted gene excluded where it is measured)."""
    measured = data.profiles[:, column]
    own = [data.genes.index(data.deleted[column])] if data.deleted[column] in data.genes else []
    out = knockout_metrics(predicted, measured, own, top=TOP, zero_is_wrong=True)
    keep = np.ones(len(data.genes), dtype=bool)
    keep[own] = False
    strong = np.abs(measured[keep]) >= STRONG
    out["auroc_strong"] = ranking_areas(np.abs(predicted[keep]), strong)[0] if strong.any() else np.nan
    del out["rmse"]
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
    per_seed = frame.groupby(["method", "seed"])[list(METRICS)].mean().reset_index()
    n = frame.groupby("seed")["deletion"].nunique().iloc[0]
    title = (f"## {data.name}: {len(data.genes)} measured genes, {len(data.deleted)} deletions, {n} held out "
             f"(deleted regulators with a measured target in the motif prior; {len(data.prior):,} prior edges)")
    return title + "\n\n" + markdown_table(per_seed, list(dict.fromkeys(frame["method"])), METRICS, HEADS, {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    add_seeds_option(parser)
    parser.add_argument("--shared", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "yeast")
    args = parser.parse_args(argv)
    shared = shared_data_dir(args.shared)
    if not (shared / "yeast_deletions").is_dir():
        print(f"no yeast_deletions folder in {shared}: give --shared DIR or set MTLGRN_SHARED_DATA", file=sys.stderr)
        return 2
    clock, frames, parts = Clock(), [], []
    for name in args.sets:
        data = load(name, shared)
        frame = pd.DataFrame(run_set(data, args.seeds, BASELINES, clock))
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
