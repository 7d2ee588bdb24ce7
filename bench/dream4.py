"""DREAM4 size-100 benchmark of MTLGRN (BENCHMARK.md sections 1 and 2).

For each network (1-4) and seed (0-9: development seeds 0-4, reporting seeds 5-9, tabled apart):

- Section 1, edge hold-out and the same with reciprocal pairs grouped (and, with ``--tf-holdout``, the TF
  hold-out): MTLGRN trained on the seed's split of the gold standard (only the train positives are ever a
  graph; validation pairs drive early stopping), and the random, degree, reverse edge, |Pearson|, GENIE3-style
  trees and knockout z-score baselines, all scored on exactly the same test pairs. Metrics: AUROC, AUPRC,
  AUPRC ratio, EPR. With the ablation (default), every variant of ``mtlgrn_core.evaluation.ablation`` on the edge
  splits.
- Section 2, knockout effects: ``mtlgrn_core.evaluation.knockout_evaluation.knockout_cross_validation``, 5-fold
  cross-validation over the knocked-out genes (``knockout_folds(seed=s)``). Per fold every sample that perturbs
  a held-out gene is dropped (its knockout and its knockdown), the prior is the train positives of the seed's
  section-1 edge split, MTLGRN (and, with the ablation, the three network variants) is fitted and each held-out
  knockout is predicted. Baselines on the same folds and samples: zero change, mean training delta, linear
  propagation. Metrics: Pearson over all other genes, Pearson and sign accuracy over the top-20 DE genes, RMSE.
- Double knockouts: MTLGRN trained on all single knockouts with the train positives of the seed's edge split as
  its whole known network (graph and prior: a knockout prediction propagates along the run's prior, so a run
  with the full gold prior would carry the change along the held-out edges) predicts the 20 double knockouts;
  compared with the true (noise-free) double steady state minus the wildtype. Baselines: additive (sum of the
  two true single deltas), linear propagation along the same train positives, zero.

Prints one markdown table per network and section (mean +- sd over seeds), writes per-seed CSVs (and
per-knockout / per-pair CSVs) and ``tables.md`` under ``--out``, progress to stderr.

Usage::

    python bench/dream4.py                       # nets 1-4, seeds 0-9 -> bench/out/dream4
    python bench/dream4.py --tf-holdout          # also the TF hold-out split
    python bench/dream4.py --quick               # net 1, seed 0 (smoke run)
    python bench/dream4.py --nets 1 3 --seeds 0 1 --epochs 100 --out /tmp/d4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from common import (  # noqa: E402
    EDGE_COLS,
    EDGE_DIGITS,
    EDGE_HEAD,
    Clock,
    add_ablation_parts_option,
    add_seeds_option,
    add_settings_option,
    bench_config,
    dream4_module,
    edge_rows,
    fit_variants,
    markdown_table,
    ordered_methods,
    publish_tables,
    save_split,
    span,
)

from mtlgrn_core.evaluation.ablation import ablation_variants
from mtlgrn_core.evaluation.edge_evaluation import PairTable
from mtlgrn_core.evaluation.knockout_evaluation import TOP_DE, knockout_cross_validation, knockout_delta, train_prior
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.baselines import additive_double, genie3_scores, zero_delta
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.linear_model import fit_linear_model
from mtlgrn_core.model.methods import (
    DEGREE,
    GENIE3,
    KO_ZSCORE,
    LINEAR,
    MEAN_DELTA,
    MEAN_PLUS_LINEAR,
    MODEL,
    PEARSON,
    RANDOM,
    REVERSE,
    ZERO,
)
from mtlgrn_core.model.metrics import knockout_metrics, summarise
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import EDGE, EDGE_GROUPED, SPLIT_NAMES, TF, TRAIN, EdgeSplit, candidate_pairs
from mtlgrn_core.model.train import fit, make_split

KO_COLS = ("pearson_all", "pearson_top", "sign_acc_top", "rmse")
KO_HEAD = ("Pearson all", "Pearson top-20 DE", "sign acc. top-20", "RMSE")
EDGE_METHODS = (MODEL, RANDOM, DEGREE, REVERSE, PEARSON, GENIE3, KO_ZSCORE)
KO_METHODS = (MODEL, ZERO, MEAN_DELTA, LINEAR, MEAN_PLUS_LINEAR)
DOUBLE_METHODS = (MODEL, "additive", LINEAR, ZERO)


# ----------------------------------------------------------------------------------------------------
# Section 2


def noise_ceiling(dataset: Dataset, truth: dict) -> float:
    """Rough upper bound of "Pearson all" that measurement noise leaves to any single-knockout predictor.

    A knockout of a gene without targets in the gold standard changes nothing but itself, so across those
    knockouts each other gene varies by measurement noise alone: its variance there is the noise variance.
    A perfect predictor of the expected delta still misses that noise, so for knockout ``i`` its Pearson r
    is at most ``sqrt(1 - noise variance / var(delta_i))``; the mean over the knockouts is returned. (The
    gold standard is used here only to bound the metric, never by a method.)
    """
    knockouts, wildtype = truth["knockouts"], truth["wildtype"]
    n = dataset.n_genes
    leaves = np.setdiff1d(np.arange(n), dataset.edge_indices()[0])
    if leaves.size < 3:
        return float("nan")
    own = np.zeros((leaves.size, n), dtype=bool)
    own[np.arange(leaves.size), leaves] = True
    noise_var = np.array([knockouts[leaves][~own[:, j], j].var() for j in range(n)])
    bounds = []
    for i in range(n):
        keep = np.arange(n) != i
        delta_var = (knockouts[i] - wildtype)[keep].var()
        bounds.append(np.sqrt(max(0.0, 1.0 - noise_var[keep].mean() / delta_var)) if delta_var > 0 else 0.0)
    return float(np.mean(bounds))


def knockout_section(dataset: Dataset, split: EdgeSplit, config: TrainConfig, seed: int, ablation: bool,
                     clock: Clock, label: str) -> tuple[list[dict], list[dict]]:
    """5-fold CV over the knocked-out genes (the library's); with ``ablation``, also the three network
    variants. Returns (per-knockout rows with each gene's gold out-degree, per-fit timing rows)."""
    variants = ablation_variants(dataset, config, parts=("architecture",)) if ablation else None
    started = time.perf_counter()
    table = knockout_cross_validation(dataset, config, split=split, folds=5, seed=seed, top=TOP_DE,
                                      variants=variants)
    clock.log(f"{label} knockout CV: {time.perf_counter() - started:.1f}s "
              f"({len(table.attrs['fits'])} fits)")
    out_degree = np.bincount(dataset.edge_indices()[0], minlength=dataset.n_genes)
    rows = [{**row, "gold_out_degree": int(out_degree[dataset.gene_index[row["gene"]]])}
            for row in table.attrs["per_knockout"]]
    return rows, table.attrs["fits"]


def double_knockout_run(dataset: Dataset, split: EdgeSplit, config: TrainConfig) -> Run:
    """The run that predicts the double knockouts: trained on every single knockout, with the train positives
    of ``split`` as its whole known network (its graph and its prior, along which every knockout prediction
    propagates), as the linear baseline beside it has them. The section-1 run cannot serve: its prior is the
    full gold network, test and validation edges included."""
    return fit(dataset.with_prior(train_prior(dataset, split)), config, split=split)


def double_section(dataset: Dataset, truth: dict, split: EdgeSplit, run: Run) -> list[dict]:
    """Double knockouts predicted by ``run`` (:func:`double_knockout_run`) and the baselines."""
    genes = list(dataset.genes)
    w = truth["wildtype"]
    deltas = truth["knockouts"] - w[None, :]
    non_ko = dataset.samples_without_knockout()
    linear = fit_linear_model(dataset.expression[:, non_ko], split.positives(TRAIN))
    rows = []
    for p, (i, j) in enumerate(truth["double_index"]):
        i, j = int(i), int(j)
        true = truth["double_states"][p] - w
        preds = {
            MODEL: knockout_delta(run, [genes[i], genes[j]]),
            "additive": additive_double(deltas[i], deltas[j]),
            LINEAR: linear.propagate([i, j], w, dose=0.0),
            ZERO: zero_delta(dataset.n_genes),
        }
        for method, pred in preds.items():
            m = knockout_metrics(pred, true, [i, j], top=TOP_DE)
            rows.append({"method": method, "pair": f"{genes[i]}+{genes[j]}", **m})
    return rows


# ----------------------------------------------------------------------------------------------------
# Driver


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="DREAM4 size-100 benchmark (BENCHMARK.md sections 1 and 2).")
    parser.add_argument("--nets", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    add_seeds_option(parser)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "dream4")
    parser.add_argument("--epochs", type=int, default=None, help="MTLGRN epochs (default: TrainConfig's)")
    parser.add_argument("--tf-holdout", action="store_true", help="also run the TF hold-out split")
    parser.add_argument("--no-grouped", dest="grouped", action="store_false",
                        help="skip the edge hold-out with reciprocal pairs grouped")
    parser.add_argument("--genie3-trees", type=int, default=100, help="trees per target (default 100)")
    parser.add_argument("--shared", type=Path, default=None,
                        help="shared data folder (default: $MTLGRN_SHARED_DATA or <repo>/../shared/data)")
    parser.add_argument("--no-ablation", dest="ablation", action="store_false",
                        help="skip the ablation fits (each task, feature modality and part of the network switched "
                             "off; in section 2 the network parts)")
    parser.add_argument("--tf-ablation", action="store_true",
                        help="also run the ablation on the TF hold-out (there the evidence decoder reads no "
                             "embedding, so every variant scores alike; off to keep the run under 15 minutes)")
    parser.add_argument("--edges-only", action="store_true", help="section 1 only (no knockout sections)")
    add_settings_option(parser)
    add_ablation_parts_option(parser)
    parser.add_argument("--quick", action="store_true", help="net 1, seed 0 only (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.nets, args.seeds = [1], [0]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    d4 = dream4_module(args.shared)
    if d4 is None:
        return 2
    clock = Clock()
    args.out.mkdir(parents=True, exist_ok=True)
    splits = [EDGE] + ([EDGE_GROUPED] if args.grouped else []) + ([TF] if args.tf_holdout else [])
    ceilings: dict[int, float] = {}
    edge_rows_all, ko_rows, ko_gene_rows, double_rows, double_pair_rows, timing_rows = [], [], [], [], [], []

    for net in args.nets:
        dataset = d4.load_dream4(net, shared=args.shared)
        truth = d4.dream4_knockout_truth(net, shared=args.shared)
        if tuple(truth["genes"]) != tuple(dataset.genes):
            raise RuntimeError("knockout truth and dataset disagree on the gene order")
        clock.log(f"net {net}: {dataset.summary()['samples']} samples, {len(dataset.prior)} gold edges")
        ceilings[net] = noise_ceiling(dataset, truth)
        # GENIE3 scores every candidate pair once from the data (it uses no split); the other baselines come
        # with every run's metrics
        t0 = time.perf_counter()
        genie3 = PairTable.compute(dataset.n_genes, [candidate_pairs(dataset.n_genes, dataset.tf_indices)],
                                   lambda src, dst: genie3_scores(dataset.expression, dataset.tf_indices,
                                                                           src, dst, seed=0, n_trees=args.genie3_trees))
        genie3_s = time.perf_counter() - t0
        clock.log(f"net {net}: GENIE3 ({args.genie3_trees} trees x {dataset.n_genes} targets) {genie3_s:.1f}s")
        unsupervised = {GENIE3: genie3}
        timing_rows.append({"net": net, "seed": -1, "step": "genie3", "seconds": genie3_s})

        for seed in args.seeds:
            label = f"net {net} seed {seed}"
            for kind in splits:
                split = make_split(dataset, kind, seed)
                save_split(split, dataset, args.out / "splits", f"net{net}")
                config = bench_config(args, seed=seed, split=kind)
                ablation = args.ablation and (kind != TF or args.tf_ablation)
                runs, timing = fit_variants(dataset, config, split, ablation=ablation, clock=clock, label=label,
                                            parts=tuple(args.ablation_parts))
                timing_rows += [{"net": net, "seed": seed, **t} for t in timing]
                for row in edge_rows(split, runs, unsupervised):
                    edge_rows_all.append({"net": net, "seed": seed, "split": kind, **row})
                if kind == EDGE:
                    edge_split = split

            if args.edges_only:
                continue
            # Section 2: knockouts (prior = train positives of this seed's edge split)
            config = bench_config(args, seed=seed, split=EDGE)
            rows, fits = knockout_section(dataset, edge_split, config, seed, args.ablation, clock, label)
            for row in rows:
                ko_gene_rows.append({"net": net, "seed": seed, **row})
            for t in fits:
                timing_rows.append({"net": net, "seed": seed, "step": f"fit_ko_fold{t['fold']}: {t['method']}",
                                    "seconds": t["seconds"], "epochs_run": t["epochs_run"],
                                    "best_epoch": t["best_epoch"]})
            per_gene = pd.DataFrame(rows)
            for method in dict.fromkeys(per_gene["method"]):
                summary = summarise(per_gene[per_gene["method"] == method][list(KO_COLS)]
                                             .to_dict("records"))
                ko_rows.append({"net": net, "seed": seed, "method": method, **summary})

            # Double knockouts: a run on all single knockouts that knows only the train positives
            started = time.perf_counter()
            double_run = double_knockout_run(dataset, edge_split, config)
            timing_rows.append({"net": net, "seed": seed, "step": "fit double knockouts",
                                "seconds": time.perf_counter() - started,
                                "epochs_run": double_run.info["epochs_run"],
                                "best_epoch": double_run.info["best_epoch"]})
            rows = double_section(dataset, truth, edge_split, double_run)
            for row in rows:
                double_pair_rows.append({"net": net, "seed": seed, **row})
            per_pair = pd.DataFrame(rows)
            for method in DOUBLE_METHODS:
                summary = summarise(per_pair[per_pair["method"] == method][list(KO_COLS)]
                                             .to_dict("records"))
                double_rows.append({"net": net, "seed": seed, "method": method, **summary})
            clock.log(f"{label} done")

    edge = pd.DataFrame(edge_rows_all)
    ko = pd.DataFrame(ko_rows)
    dbl = pd.DataFrame(double_rows)
    edge.to_csv(args.out / "edge.csv", index=False)
    ko.to_csv(args.out / "knockout.csv", index=False)
    pd.DataFrame(ko_gene_rows).to_csv(args.out / "knockout_per_gene.csv", index=False)
    dbl.to_csv(args.out / "double.csv", index=False)
    pd.DataFrame(double_pair_rows).to_csv(args.out / "double_per_pair.csv", index=False)
    pd.DataFrame(timing_rows).to_csv(args.out / "timing.csv", index=False)

    total = clock.elapsed
    seeds_txt = ", ".join(str(s) for s in args.seeds)
    n_s = len(args.seeds)
    spread = f"mean ± sd (ddof 1) over {n_s} seeds" if n_s > 1 else "one seed, no sd"
    ko_digits = {c: 3 for c in KO_COLS}
    parts = [f"# DREAM4 size-100 benchmark\n\nSeeds {seeds_txt} ({spread}). Total time "
             f"{total:.0f} s on {torch.get_num_threads()} torch thread(s).\n"]
    for net in args.nets:
        for kind in splits:
            sub = edge[(edge["net"] == net) & (edge["split"] == kind)]
            parts.append(f"## Net {net} — section 1, {SPLIT_NAMES[kind]} (test positives / pairs: "
                         f"{span(sub['n_positives'])} / {span(sub['n_pairs'])})\n\n"
                         + markdown_table(sub, ordered_methods(sub, EDGE_METHODS), EDGE_COLS, EDGE_HEAD,
                                          EDGE_DIGITS)
                         + f"\n\nGENIE3: random forests, {args.genie3_trees} trees per target, max_features "
                           "sqrt, on all samples, one fit per net (seed 0); it, |Pearson| and knockout "
                           "z-score score from the data alone, so their sd reflects only the test-pair draw.\n")
        if args.edges_only:
            continue
        sub = ko[ko["net"] == net]
        parts.append(f"## Net {net} — section 2, single knockouts (5-fold CV over 100 knocked-out genes)\n\n"
                     + markdown_table(sub, ordered_methods(sub, KO_METHODS), KO_COLS, KO_HEAD, ko_digits)
                     + "\n\nPer seed: mean over the 100 held-out knockouts (gene itself excluded). A held-out gene "
                       "contributes no sample to its fold (neither its knockout nor its knockdown), for every "
                       "method. Noise ceiling of Pearson all (`noise_ceiling`): about "
                       f"{ceilings[net]:.2f}.\n")
        sub = dbl[dbl["net"] == net]
        parts.append(f"## Net {net} — double knockouts (20 pairs, trained on all single knockouts, known "
                     "network = the edge split's train positives)\n\n"
                     + markdown_table(sub, DOUBLE_METHODS, KO_COLS, KO_HEAD, ko_digits)
                     + "\n\nTruth: noise-free double steady state − (noisy) measured wildtype; the two "
                       "knocked-out genes excluded. Additive = sum of the two true single deltas.\n")
    publish_tables(parts, args.out,
                   f"Total time: {total:.0f} s ({total / 60:.1f} min). CSVs and tables.md in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
