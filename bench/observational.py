"""BENCHMARK.md section 4: knockouts from observational data (DREAM4 size 100, networks 1-4).

Per network and seed: every knockout and knockdown sample is removed (what remains: wild type, multifactorial and
time-series samples); the prior is the train positives of the section-1 edge split of that seed (60 % of the
gold edges); every regulator of the prior is knocked out (dose 0) and the predicted change is compared with the
measured knockout - wild type, the knocked-out gene excluded: Pearson r over the 20 genes that change most
("top-20"), sign accuracy over the knocked-out gene's targets in the prior (a predicted 0 is a wrong sign), RMSE
over all other genes.

Methods: zero (no change); linear propagation with the prior
(``mtlgrn_core.model.linear_model.fit_observational_model``: ridge, lambda 1, over the remaining samples, centred,
clamped to minus the wild-type level, propagated until the change settles; the same model as section 2's baseline, its
gain lowered only where a cycle would amplify); the same with the full gold network (a reference: what the linear model
reaches knowing every edge); and MTLGRN trained on the remaining samples with that prior (``--no-model`` skips it).

Prints one markdown table per network (mean ± sd over seeds of the per-knockout means) and writes
``observational.csv`` (per net, seed, method, knocked-out gene) and ``tables.md`` under ``--out``.

    python bench/observational.py                 # nets 1-4, seeds 0-9 -> bench/out/observational
    python bench/observational.py --nets 1 --seeds 0 --no-model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from common import Clock, add_seeds_option, markdown_table, with_epochs  # noqa: E402
from dream4_data import NETS, dream4_knockout_truth, load_dream4  # noqa: E402

from mtlgrn_core.evaluation.knockout_evaluation import knockout_delta
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.linear_model import fit_observational_model
from mtlgrn_core.model.metrics import knockout_metrics
from mtlgrn_core.model.splits import EDGE, TRAIN
from mtlgrn_core.model.train import fit, make_split

ZERO, LINEAR, LINEAR_GOLD, MODEL = "zero", "linear propagation", "linear propagation, full gold network", "MTLGRN"
METRICS = ("pearson_top", "sign_acc_targets", "rmse")
HEADS = ("top-20 Pearson", "sign accuracy (prior targets)", "RMSE")


def observational(dataset: Dataset) -> Dataset:
    """The dataset without any perturbed sample (knockouts, knockdowns): what a user without perturbation
    data has."""
    return dataset.without_samples({dataset.samples[p.sample] for p in dataset.perturbations()})


def knockout_rows(predict, regulators: np.ndarray, prior: np.ndarray, measured: np.ndarray) -> list[dict]:
    """Section-4 metrics of ``predict(gene) -> change of every gene`` for each regulator of the prior."""
    rows = []
    for gene in regulators:
        pred = predict(int(gene))
        true = measured[gene]
        metrics = knockout_metrics(pred, true, int(gene))
        targets = prior[1][(prior[0] == gene) & (prior[1] != gene)]
        metrics["sign_acc_targets"] = float(np.mean(np.sign(pred[targets]) == np.sign(true[targets])))
        rows.append({"gene": int(gene), **{k: metrics[k] for k in METRICS}})
    return rows


def model_predictor(dataset: Dataset, prior: np.ndarray, seed: int, epochs: int | None):
    """MTLGRN trained on ``dataset`` (observational samples only) with ``prior`` as its known network."""
    edges = pd.DataFrame({"source": [dataset.genes[i] for i in prior[0]],
                          "target": [dataset.genes[i] for i in prior[1]], "sign": 0})
    run = fit(dataset.with_prior(edges), with_epochs(TrainConfig(seed=seed, split=EDGE), epochs))
    return lambda gene: knockout_delta(run, [dataset.genes[gene]])  # run.genes are the dataset's, in its order


def run_net(net: int, seeds, *, model: bool, epochs: int | None, shared, clock: Clock) -> list[dict]:
    full = load_dream4(net, shared=shared, promoters=False)
    truth = dream4_knockout_truth(net, shared=shared)
    wildtype = truth["wildtype"]
    measured = truth["knockouts"] - wildtype  # row i: knockout of gene i - wild type
    data = observational(full)
    gold = full.edge_indices()
    reference = fit_observational_model(data.expression, gold)
    rows = []
    for seed in seeds:
        prior = make_split(full, EDGE, seed).positives(TRAIN)
        regulators = np.unique(prior[0])
        linear = fit_observational_model(data.expression, prior)
        methods = {ZERO: lambda g: np.zeros(full.n_genes),
                   LINEAR: lambda g: linear.propagate([g], wildtype),
                   LINEAR_GOLD: lambda g: reference.propagate([g], wildtype)}
        if model:
            methods[MODEL] = model_predictor(data, prior, seed, epochs)
        for method, predict in methods.items():
            for row in knockout_rows(predict, regulators, prior, measured):
                rows.append({"net": net, "seed": seed, "method": method, **row})
        done = pd.DataFrame([r for r in rows if r["seed"] == seed]).groupby("method")["pearson_top"].mean()
        clock.log(f"net {net} seed {seed}: {len(regulators)} regulators knocked out; top-20 Pearson "
                  + ", ".join(f"{m} {v:.3f}" for m, v in done.items()))
    return rows


def table(frame: pd.DataFrame, net: int) -> str:
    per_seed = frame[frame["net"] == net].groupby(["method", "seed"])[list(METRICS)].mean().reset_index()
    return f"## Net {net}\n\n" + markdown_table(per_seed, list(dict.fromkeys(frame["method"])), METRICS, HEADS, {})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="BENCHMARK.md section 4: knockouts from observational data.")
    parser.add_argument("--nets", type=int, nargs="+", default=list(NETS), choices=list(NETS))
    add_seeds_option(parser)
    parser.add_argument("--no-model", dest="model", action="store_false", help="baselines only")
    parser.add_argument("--epochs", type=int, default=None, help="MTLGRN epochs (default: TrainConfig's)")
    parser.add_argument("--shared", type=Path, default=None,
                        help="shared data folder (default: $MTLGRN_SHARED_DATA or <repo>/../shared/data)")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "observational")
    args = parser.parse_args(argv)
    clock = Clock()
    rows = []
    for net in args.nets:
        rows += run_net(net, args.seeds, model=args.model, epochs=args.epochs, shared=args.shared, clock=clock)
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "observational.csv", index=False)
    text = "\n\n".join(["# Knockouts from observational data (BENCHMARK.md section 4)",
                        f"Seeds {', '.join(map(str, args.seeds))}: mean ± sd over seeds of the mean over the "
                        f"knocked-out regulators. Total time {clock.elapsed:.0f} s."]
                       + [table(frame, net) for net in args.nets])
    (args.out / "tables.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
