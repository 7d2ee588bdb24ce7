"""Ensembles on DREAM4 (BENCHMARK.md section 1, edge hold-out): is the mean score of an ensemble of seeds better
than one member, and are the edges most members agree on more often true?

    python bench/ensemble.py                       # nets 1-4, seeds 0-9, 5 members, a local cluster
    python bench/ensemble.py --scheduler tcp://host:8786 --members 10

For each net and protocol seed s: the edge hold-out split of seed s; an ensemble of ``--members`` runs with model
seeds s, s+1, ... on that split (the member of seed s is the protocol's run), every member of every net and seed
trained as one Dask task (:mod:`mtlgrn_core.runs.cluster`). On the split's test pairs: test AUPRC of the member of seed
s, the mean and sd of every member's AUPRC, and the AUPRC of the members' mean score; the knockout z-score
baseline beside them. Stability of a test pair: the share of members ranking it among their best k candidate pairs
(as in the product: every candidate pair ranked, k = the prior's number of edges, at least 100,
:func:`mtlgrn_core.runs.ensemble.default_stability_top`; :func:`mtlgrn_core.runs.ensemble.stability`); precision = share
of true edges among the test pairs of each stability. Prints two markdown tables per seed group (mean ± sd over
the reporting seeds 5-9, then the development seeds 0-4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import BENCH, Clock, add_seeds_option, dream4_module, fmt, seed_groups

from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.methods import KO_ZSCORE
from mtlgrn_core.model.metrics import edge_metrics
from mtlgrn_core.model.splits import EDGE, TEST, candidate_pairs
from mtlgrn_core.model.train import make_split
from mtlgrn_core.runs.cluster import EnsembleJob, dask_client, train_ensembles
from mtlgrn_core.runs.ensemble import default_stability_top, load_ensemble, member_scores, stability

SD_COLUMN = "members' AUPRC sd"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, nargs="+", default=[1, 2, 3, 4])
    add_seeds_option(parser)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="cap each member's training (default TrainConfig's)")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (default: a local cluster)")
    parser.add_argument("--shared", default=None, help="the shared data folder (default ../shared)")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "ensemble")
    return parser.parse_args(argv)


def member_cutoffs(ensemble) -> np.ndarray:
    """Each member's k-th best score over every candidate pair, k as the product sets it (the prior's number of
    edges, at least 100; :func:`mtlgrn_core.runs.ensemble.default_stability_top`): never from the test labels."""
    first = ensemble.first
    src, dst = candidate_pairs(len(first.genes), [first.gene_index[t] for t in first.tfs])
    k = default_stability_top(first, top=src.size)
    return np.sort(member_scores(ensemble, src, dst), axis=1)[:, -k]


def ensemble_rows(ensemble, split) -> tuple[dict, list[dict]]:
    """Test AUPRC of the first member, of every member and of the mean score; precision by stability."""
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    scores = member_scores(ensemble, src, dst)
    auprc = [edge_metrics(s, labels)["auprc"] for s in scores]
    first = ensemble.first
    share = stability(scores, member_cutoffs(ensemble))
    row = {"member of seed s": auprc[0], "members' mean AUPRC": float(np.mean(auprc)),
           SD_COLUMN: float(np.std(auprc, ddof=1)),
           "ensemble mean score": edge_metrics(scores.mean(axis=0), labels)["auprc"],
           KO_ZSCORE: (first.metrics.get("baselines") or {}).get("knockout_zscore", {}).get("auprc", np.nan)}
    bins = [{"stability": level, "pairs": int((share == level).sum()),
             "precision": float(labels[share == level].mean()) if (share == level).any() else np.nan}
            for level in np.unique(share) if level > 0]
    return row, bins


def main(argv=None) -> int:
    args = parse_args(argv)
    dream4_data = dream4_module(args.shared)
    if dream4_data is None:
        return 2
    clock = Clock()
    jobs, splits = [], {}
    for net in args.nets:
        dataset = dream4_data.load_dream4(net, shared=args.shared)
        for seed in args.seeds:
            split = make_split(dataset, EDGE, seed)
            config = TrainConfig(seed=seed, split=EDGE)
            config = config if args.epochs is None else TrainConfig(seed=seed, split=EDGE, epochs=args.epochs)
            splits[net, seed] = split
            jobs.append(EnsembleJob(dataset, config, args.members, args.out / f"net{net}_seed{seed}", split=split))
    clock.log(f"{len(jobs)} ensembles x {args.members} members on {args.scheduler or 'a local cluster'}")
    with dask_client(args.scheduler) as client:
        outcomes = train_ensembles(jobs, client, on_event=clock.log)
    rows, bins = [], []
    for job, outcome in zip(jobs, outcomes):
        net, seed = int(job.out.name[3]), job.config.seed
        if outcome.out is None:
            continue
        row, levels = ensemble_rows(load_ensemble(outcome.out), splits[net, seed])
        rows.append({"net": net, "seed": seed, "members": len(outcome.trained), **row})
        bins += [{"net": net, "seed": seed, **level} for level in levels]
    frame, by_bin = pd.DataFrame(rows), pd.DataFrame(bins)
    frame.to_csv(args.out / "ensemble.csv", index=False)
    by_bin.to_csv(args.out / "stability.csv", index=False)
    print(f"Ensembles of {args.members} seeds, DREAM4 edge hold-out ({clock.elapsed:.0f} s)")
    for label, rows in seed_groups(frame):
        print(f"\nTest AUPRC, mean ± sd over the {label}\n")
        print(auprc_table(rows, args.nets))
        print(f"\nPrecision (share of true edges) of the test pairs by stability (share of members ranking the pair "
              f"among their best k candidate pairs, k = the prior's number of edges, at least 100, as in the "
              f"product); mean ± sd over the {label}, test pairs per seed in brackets\n")
        print(stability_table(by_bin[by_bin["seed"].isin(rows["seed"])], args.nets))
    return 0


def auprc_table(frame: pd.DataFrame, nets: list[int]) -> str:
    columns = ["member of seed s", "members' mean AUPRC", "ensemble mean score", KO_ZSCORE]
    lines = ["| | " + " | ".join(f"net {n}" for n in nets) + " |", "|---|" + "---|" * len(nets)]
    for column in columns:
        cells = [fmt(frame.loc[frame["net"] == n, column], 3) for n in nets]
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    spread = [f"{frame.loc[frame['net'] == n, SD_COLUMN].mean():.3f}" for n in nets]
    lines.append("| sd between the members of one seed (mean) | " + " | ".join(spread) + " |")
    return "\n".join(lines)


def stability_table(by_bin: pd.DataFrame, nets: list[int]) -> str:
    levels = sorted(by_bin["stability"].unique())
    lines = ["| stability | " + " | ".join(f"net {n}" for n in nets) + " |", "|---|" + "---|" * len(nets)]
    for level in levels:
        cells = []
        for n in nets:
            part = by_bin[(by_bin["net"] == n) & np.isclose(by_bin["stability"], level)]
            cells.append(f"{fmt(part['precision'], 3)} ({part['pairs'].mean():.0f})" if len(part) else "n/a")
        lines.append(f"| {level:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
