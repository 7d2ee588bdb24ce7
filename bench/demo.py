"""The built-in demo as the Evaluate page shows it, over seeds (BENCHMARK.md section 1).

The demo dataset (``mtlgrn_core.inputs.upload.demo_dataset``: 150 simulated genes with knockouts and knockdowns, the
first thing every user trains) on the edge hold-out and the same with reciprocal pairs grouped, seeds 0-9
(development 0-4, reporting 5-9):
MTLGRN with the default settings beside every baseline of the Evaluate page (random, degree, reverse edge,
|Pearson|, knockout z-score, and GENIE3-style trees), all on the same test pairs. Prints one markdown table per
split (mean ± sd over seeds) and writes ``edge.csv`` and ``tables.md`` under ``--out``.

    python bench/demo.py                          # seeds 0-9 -> bench/out/demo
    python bench/demo.py --seeds 0 --set edge_decoder=full
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from common import (  # noqa: E402
    EDGE_COLS,
    EDGE_DIGITS,
    EDGE_HEAD,
    Clock,
    add_seeds_option,
    add_settings_option,
    bench_config,
    edge_rows,
    fit_variants,
    markdown_table,
    ordered_methods,
    publish_tables,
)

from mtlgrn_core.evaluation.edge_evaluation import PairTable
from mtlgrn_core.inputs.upload import demo_dataset
from mtlgrn_core.model.baselines import genie3_scores
from mtlgrn_core.model.methods import DEGREE, GENIE3, KO_ZSCORE, MODEL, PEARSON, RANDOM, REVERSE
from mtlgrn_core.model.splits import EDGE, EDGE_GROUPED, SPLIT_NAMES, candidate_pairs
from mtlgrn_core.model.train import make_split

METHODS = (MODEL, RANDOM, DEGREE, REVERSE, PEARSON, GENIE3, KO_ZSCORE)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The built-in demo against the Evaluate page's baselines.")
    add_seeds_option(parser)
    parser.add_argument("--splits", nargs="+", default=[EDGE, EDGE_GROUPED], choices=[EDGE, EDGE_GROUPED])
    parser.add_argument("--epochs", type=int, default=None, help="MTLGRN epochs (default: TrainConfig's)")
    parser.add_argument("--genie3-trees", type=int, default=100, help="trees per target (default 100)")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "demo")
    add_settings_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    clock = Clock()
    dataset = demo_dataset()
    genie3 = PairTable.compute(dataset.n_genes, [candidate_pairs(dataset.n_genes, dataset.tf_indices)],
                               lambda src, dst: genie3_scores(dataset.expression, dataset.tf_indices,
                                                                       src, dst, seed=0, n_trees=args.genie3_trees))
    clock.log(f"{dataset.name}: GENIE3 done")
    rows = []
    for seed in args.seeds:
        for kind in args.splits:
            split = make_split(dataset, kind, seed)
            runs, _ = fit_variants(dataset, bench_config(args, seed=seed, split=kind), split, ablation=False,
                                   clock=clock, label=f"seed {seed}")
            rows += [{"seed": seed, "split": kind, **row} for row in edge_rows(split, runs, {GENIE3: genie3})]
    edge = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    edge.to_csv(args.out / "edge.csv", index=False)
    parts = [f"# The built-in demo ({dataset.name}), seeds {', '.join(map(str, args.seeds))}\n"]
    for kind in args.splits:
        sub = edge[edge["split"] == kind]
        parts.append(f"## {SPLIT_NAMES[kind]}\n\n"
                     + markdown_table(sub, ordered_methods(sub, METHODS), EDGE_COLS, EDGE_HEAD, EDGE_DIGITS) + "\n")
    publish_tables(parts, args.out, f"Total time: {clock.elapsed:.0f} s. CSV and tables.md in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
