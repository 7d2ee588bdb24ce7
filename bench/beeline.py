"""BEELINE benchmark of MTLGRN (BENCHMARK.md section 1 on the BEELINE sets that ship expression).

For each set (hHEP TFs+500 / TFs+1000, mDC TFs+500 / TFs+1000, mESC TFs+500, mHSC-GM TFs+500), ground truth
(STRING, Non-Specific, Specific), seed (0-9: development 0-4, reporting 5-9) and split (edge hold-out and TF hold-out):

- MTLGRN trained on the seed's split of the ground truth (only the train positives are ever a graph;
  validation pairs drive early stopping), with the ablation (one refit per task switched off;
  ``--no-ablation`` skips it). BEELINE has no perturbations, so the knockout task has no data and is not
  varied, and only expression features exist (no promoters / annotations), so no modality is ablated.
- Baselines on exactly the same test pairs: random, degree, |Pearson| and GENIE3-style random forests
  (``genie3_scores``, ``--genie3-trees`` per target, seed 0). The expression of one cell / size is the
  same in its three truth folders (checked), only the TF lists differ by a few genes, so |Pearson| and GENIE3
  score every (TF, gene) pair of the UNION of the TF lists ONCE per cell / size (GENIE3 regresses each target
  on all union TFs) and each dataset looks its pairs up from those tables.
- Metrics: AUROC, AUPRC, AUPRC ratio, EPR (``common.edge_rows``). Each split is written to
  ``OUT/splits/<cell>_TFs<size>_<truth>_<edge|tf>_seed<s>.csv`` so that any other method can be scored on the
  same pairs.

Prints one markdown table per dataset and split (mean +- sd over seeds) and writes ``edge.csv``,
``timing.csv`` and ``tables.md`` under ``--out``; progress (set, truth, seed, split, fit seconds, elapsed and
a rough estimate of the time left) goes to stderr.

Usage::

    python bench/beeline.py                        # everything -> bench/out/beeline
    python bench/beeline.py --quick                # mHSC-GM TFs+500, STRING, seed 0, 30 epochs (smoke run)
    python bench/beeline.py --sets hHEP:500 mDC:1000 --truths STRING --seeds 0 1 --splits edge --no-ablation
"""

from __future__ import annotations

import argparse
import hashlib
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
    edge_rows,
    fit_variants,
    markdown_table,
    ordered_methods,
    publish_tables,
    save_split,
    span,
)

from mtlgrn_core.evaluation.edge_evaluation import PairTable
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.baselines import genie3_scores
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.methods import DEGREE, GENIE3, MODEL, PEARSON, RANDOM, REVERSE
from mtlgrn_core.model.splits import EDGE, EDGE_GROUPED, SPLIT_NAMES, TF, candidate_pairs
from mtlgrn_core.model.train import make_split

EDGE_METHODS = (MODEL, RANDOM, DEGREE, REVERSE, PEARSON, GENIE3)
QUICK_EPOCHS = 30
QUICK_TREES = 10


def _load_data_module():
    import beeline_data  # bench/beeline_data.py (bench/ is on sys.path)

    return beeline_data


# ----------------------------------------------------------------------------------------------------
# Unsupervised baselines: once per expression matrix


def _expression_key(dataset: Dataset) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(dataset.expression).tobytes()).hexdigest()
    return f"{hash((dataset.genes, dataset.samples))}:{digest}"


def unsupervised_tables(datasets: list[Dataset], n_trees: int, clock: Clock, label: str
                        ) -> tuple[dict[str, dict[str, PairTable]], list[dict]]:
    """GENIE3 of every (TF, gene) pair, TF from the union of the datasets' TF lists, computed once per
    distinct expression matrix (once per cell / size: the truth folders share it). (|Pearson| comes with every
    run's metrics.)

    Returns ``({dataset name: {GENIE3: PairTable}}, timing rows)``.
    """
    groups: dict[str, list[Dataset]] = {}
    for ds in datasets:
        groups.setdefault(_expression_key(ds), []).append(ds)
    if len(groups) > 1:
        clock.log(f"{label}: the truth folders' expression differs; baselines computed {len(groups)} times")
    out, timing = {}, []
    for members in groups.values():
        ref = members[0]
        union = sorted(set().union(*(set(ds.tfs) for ds in members)))
        tf_idx = np.array([ref.gene_index[t] for t in union], dtype=np.int64)
        pairs = candidate_pairs(ref.n_genes, tf_idx)
        t0 = time.perf_counter()
        genie3 = PairTable.compute(ref.n_genes, [pairs], lambda src, dst: genie3_scores(
            ref.expression, tf_idx, src, dst, seed=0, n_trees=n_trees))
        genie3_s = time.perf_counter() - t0
        clock.log(f"{label}: GENIE3 ({n_trees} trees x {ref.n_genes} targets, {len(union)} union TFs, "
                  f"{len(ref.samples)} cells) {genie3_s:.1f}s")
        timing.append({"step": "genie3", "seconds": genie3_s, "pairs": int(pairs[0].size), "trees": n_trees})
        for ds in members:
            out[ds.name] = {GENIE3: genie3}
    return out, timing


# ----------------------------------------------------------------------------------------------------
# Progress estimate


class Budget:
    """A rough time-left estimate: fits cost in proportion to candidate pairs x variants, GENIE3 to targets x
    cells x sqrt(TFs); each rate is the one measured so far in this run."""

    def __init__(self) -> None:
        self.todo = {"fit": 0.0, "genie3": 0.0}
        self.done = {"fit": 0.0, "genie3": 0.0}
        self.seconds = {"fit": 0.0, "genie3": 0.0}

    def plan(self, kind: str, work: float) -> None:
        self.todo[kind] += work

    def record(self, kind: str, work: float, seconds: float) -> None:
        self.done[kind] += work
        self.seconds[kind] += seconds

    def left(self) -> str:
        total, known = 0.0, True
        for kind in self.todo:
            remaining = self.todo[kind] - self.done[kind]
            if remaining <= 1e-9:
                continue
            if self.done[kind] <= 0:
                known = False
                continue
            total += self.seconds[kind] / self.done[kind] * remaining
        if total == 0 and not known:
            return "time left: unknown yet"
        return f"~{total / 60:.0f} min left" + ("" if known else " (+ not yet measured steps)")


# ----------------------------------------------------------------------------------------------------
# Driver


def _parse_set(text: str) -> tuple[str, int]:
    cell, sep, size = text.partition(":")
    size = size.strip().removeprefix("TFs+")
    if not sep or not size.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write CELL:SIZE, e.g. hHEP:500")
    return cell.strip(), int(size)


def parse_args(argv=None) -> argparse.Namespace:
    bd = _load_data_module()
    parser = argparse.ArgumentParser(description="BEELINE benchmark (BENCHMARK.md section 1).")
    parser.add_argument("--sets", type=_parse_set, nargs="+", default=None, metavar="CELL:SIZE",
                        help="sets to run (default: all of " + " ".join(f"{c}:{s}" for c, s in bd.BEELINE_SETS)
                             + ")")
    parser.add_argument("--truths", nargs="+", default=list(bd.TRUTHS), choices=bd.TRUTHS)
    add_seeds_option(parser)
    parser.add_argument("--splits", nargs="+", default=[EDGE, EDGE_GROUPED, TF], choices=[EDGE, EDGE_GROUPED, TF])
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "beeline")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"MTLGRN epochs (default: TrainConfig's; {QUICK_EPOCHS} with --quick)")
    parser.add_argument("--genie3-trees", type=int, default=None,
                        help=f"trees per target (default 100; {QUICK_TREES} with --quick)")
    parser.add_argument("--shared", type=Path, default=None,
                        help="shared data folder (default: $MTLGRN_SHARED_DATA or <repo>/../shared/data)")
    parser.add_argument("--no-ablation", dest="ablation", action="store_false",
                        help="skip the ablation fits (each task switched off)")
    add_settings_option(parser)
    add_ablation_parts_option(parser)
    parser.add_argument("--quick", action="store_true",
                        help=f"mHSC-GM TFs+500, STRING, seed 0, {QUICK_EPOCHS} epochs, {QUICK_TREES} GENIE3 trees "
                             "(smoke run; explicit --epochs / --genie3-trees win)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sets, args.truths, args.seeds = [("mHSC-GM", 500)], ["STRING"], [0]
        args.epochs = QUICK_EPOCHS if args.epochs is None else args.epochs
        args.genie3_trees = QUICK_TREES if args.genie3_trees is None else args.genie3_trees
    args.sets = list(dict.fromkeys(args.sets or bd.BEELINE_SETS))
    bad = [f"{c}:{s}" for c, s in args.sets if (c, s) not in bd.BEELINE_SETS]
    if bad:
        parser.error(f"no expression for {', '.join(bad)}; available: "
                     + " ".join(f"{c}:{s}" for c, s in bd.BEELINE_SETS))
    args.truths = list(dict.fromkeys(args.truths))
    args.splits = list(dict.fromkeys(args.splits))
    args.genie3_trees = 100 if args.genie3_trees is None else args.genie3_trees
    return args


def set_label(cell: str, size: int, truth: str | None = None) -> str:
    return f"{cell} TFs+{size}" + (f" {truth}" if truth else "")


def main(argv=None) -> int:
    args = parse_args(argv)
    bd = _load_data_module()
    try:
        bd.beeline_dir(args.shared)
        for cell, size in args.sets:
            for truth in args.truths:
                bd.set_dir(cell, size, truth, shared=args.shared)
    except FileNotFoundError as exc:
        print(f"error: the shared data folder is missing or incomplete: {exc}", file=sys.stderr)
        return 2
    clock = Clock()
    args.out.mkdir(parents=True, exist_ok=True)
    n_variants = 8 if args.ablation else 1  # full, without the edge / expression task, the 5 architecture parts
    budget = Budget()
    for cell, size in args.sets:
        counts = [bd.beeline_counts(cell, size, t, shared=args.shared) for t in args.truths]
        n_genes = counts[0]["genes"]
        budget.plan("genie3", n_genes * counts[0]["cells"] * np.sqrt(max(c["tfs"] for c in counts)))
        for c in counts:
            budget.plan("fit", c["tfs"] * c["genes"] * n_variants * len(args.seeds) * len(args.splits))

    edge_rows_all, timing_rows, dataset_rows = [], [], []
    for cell, size in args.sets:
        datasets = {truth: bd.load_beeline(cell, size, truth, shared=args.shared) for truth in args.truths}
        first = next(iter(datasets.values()))
        for truth, ds in datasets.items():
            n_src = int(ds.prior["source"].nunique())
            n_pairs = len(ds.tfs) * ds.n_genes - len(ds.tfs)
            dataset_rows.append({"cell": cell, "size": size, "truth": truth, "genes": ds.n_genes,
                                 "cells": len(ds.samples), "tfs": len(ds.tfs), "edges": len(ds.prior),
                                 "tfs_with_edges": n_src, "pairs": n_pairs, "density": len(ds.prior) / n_pairs,
                                 "warnings": " ".join(ds.warnings)})
            clock.log(f"{set_label(cell, size, truth)}: {ds.n_genes} genes x {len(ds.samples)} cells, "
                      f"{len(ds.tfs)} TFs ({n_src} with edges), {len(ds.prior)} edges, {n_pairs} candidate pairs")
            for warning in ds.warnings:
                clock.log(f"  warning: {warning}")
        tables, timing = unsupervised_tables(list(datasets.values()), args.genie3_trees, clock,
                                             set_label(cell, size))
        genie3_s = sum(t["seconds"] for t in timing if t["step"] == "genie3")
        budget.record("genie3", first.n_genes * len(first.samples) *
                      np.sqrt(max(len(ds.tfs) for ds in datasets.values())), genie3_s)
        timing_rows += [{"cell": cell, "size": size, "truth": "", "seed": -1, **t} for t in timing]
        clock.log(f"{set_label(cell, size)}: baselines done; {budget.left()}")

        for truth, dataset in datasets.items():
            for seed in args.seeds:
                for kind in args.splits:
                    label = f"{set_label(cell, size, truth)} seed {seed}"
                    t0 = time.perf_counter()
                    split = make_split(dataset, kind, seed)
                    save_split(split, dataset, args.out / "splits", f"{cell}_TFs{size}_{truth}")
                    config = bench_config(args, seed=seed, split=kind)
                    runs, timing = fit_variants(dataset, config, split, ablation=args.ablation, clock=clock,
                                                label=label, parts=tuple(args.ablation_parts))
                    timing_rows += [{"cell": cell, "size": size, "truth": truth, "seed": seed, **t}
                                    for t in timing]
                    rows = edge_rows(split, runs, tables[dataset.name])
                    for row in rows:
                        edge_rows_all.append({"cell": cell, "size": size, "truth": truth, "seed": seed,
                                              "split": kind, **row})
                    del runs
                    seconds = time.perf_counter() - t0
                    budget.record("fit", len(dataset.tfs) * dataset.n_genes * n_variants, seconds)
                    model = rows[0]
                    clock.log(f"{label} {SPLIT_NAMES[kind]}: done in {seconds:.1f}s (MTLGRN test AUPRC "
                              f"{model['auprc']:.3f}, {model['n_positives']} / {model['n_pairs']} test "
                              f"positives / pairs); {budget.left()}")

    edge = pd.DataFrame(edge_rows_all)
    edge.to_csv(args.out / "edge.csv", index=False)
    pd.DataFrame(timing_rows).to_csv(args.out / "timing.csv", index=False)
    text = render_tables(edge, pd.DataFrame(dataset_rows), pd.DataFrame(timing_rows), args, clock.elapsed)
    publish_tables([text], args.out,
                   f"Total time: {clock.elapsed:.0f} s ({clock.elapsed / 60:.1f} min). "
                   f"CSVs and tables.md in {args.out}")
    return 0


def render_tables(edge: pd.DataFrame, datasets: pd.DataFrame, timing: pd.DataFrame, args, total: float) -> str:
    seeds_txt = ", ".join(str(s) for s in args.seeds)
    n_s = len(args.seeds)
    spread = f"mean ± sd (ddof 1) over {n_s} seeds" if n_s > 1 else "one seed, no sd"
    epochs = args.epochs if args.epochs is not None else TrainConfig().epochs
    parts = [(f"# BEELINE benchmark (BENCHMARK.md section 1)\n\nSeeds {seeds_txt} ({spread}); MTLGRN at most "
              f"{epochs} epochs{'' if args.ablation else ', no ablation'}; GENIE3 {args.genie3_trees} trees per "
              f"target. Total time {total:.0f} s on {torch.get_num_threads()} torch thread(s).\n")]
    lines = ["| set | truth | genes x cells | TFs (with edges) | edges | candidate pairs | density |",
             "|---|---|---|---|---|---|---|"]
    for r in datasets.itertuples(index=False):
        lines.append(f"| {set_label(r.cell, r.size)} | {r.truth} | {r.genes} x {r.cells} | {r.tfs} "
                     f"({r.tfs_with_edges}) | {r.edges} | {r.pairs} | {r.density:.4f} |")
    parts.append("## Datasets\n\n" + "\n".join(lines) + "\n\n\"with edges\": TFs that regulate at least one gene "
                 "in the ground truth; the others are candidate regulators without any positive.\n")
    dropped = [f"- {set_label(r.cell, r.size, r.truth)}: {r.warnings}" for r in datasets.itertuples(index=False)
               if r.warnings]
    if dropped:
        parts.append("Loader warnings:\n\n" + "\n".join(dropped) + "\n")
    if not edge.empty:
        heads = [m.replace("|", "\\|") for m in EDGE_METHODS]
        summary = ["| set | truth | split | " + " | ".join(heads) + " |", "|---|---|---|" + "---|" * len(EDGE_METHODS)]
        for r in datasets.itertuples(index=False):
            for kind in args.splits:
                sub = edge[(edge["cell"] == r.cell) & (edge["size"] == r.size) & (edge["truth"] == r.truth)
                           & (edge["split"] == kind)]
                cells = [f"{sub.loc[sub['method'] == m, 'auprc_ratio'].mean():.1f}" for m in EDGE_METHODS]
                summary.append(f"| {set_label(r.cell, r.size)} | {r.truth} | {SPLIT_NAMES[kind]} | "
                               + " | ".join(cells) + " |")
        parts.append("## Summary: AUPRC ratio (mean over seeds)\n\n" + "\n".join(summary) + "\n")
    for r in datasets.itertuples(index=False):
        for kind in args.splits:
            sub = edge[(edge["cell"] == r.cell) & (edge["size"] == r.size) & (edge["truth"] == r.truth)
                       & (edge["split"] == kind)] if not edge.empty else edge
            if sub.empty:
                continue
            note = ""
            if sub["n_positives"].min() == 0:
                note = (f"\n\n{int((sub[sub['method'] == MODEL]['n_positives'] == 0).sum())} seed(s) had no test "
                        "positive (test TFs without any edge); their metrics are undefined and left out.")
            parts.append(f"## {set_label(r.cell, r.size, r.truth)} — {SPLIT_NAMES[kind]} (test positives / pairs: "
                         f"{span(sub['n_positives'])} / {span(sub['n_pairs'])})\n\n"
                         + markdown_table(sub, ordered_methods(sub, EDGE_METHODS), EDGE_COLS, EDGE_HEAD,
                                          EDGE_DIGITS) + note + "\n")
    parts.append("GENIE3: random forests, max_features sqrt, on all cells, one fit per cell / size (seed 0) over the "
                 "union of the three truths' TF lists; it and |Pearson| score all candidate pairs once, so their "
                 "sd reflects only the test-pair draw.\n")
    if not timing.empty:
        steps = timing["step"].astype(str)
        fits = timing[steps.str.startswith("fit") & steps.str.endswith(f": {MODEL}")]
        lines = ["| set | GENIE3 s | \\|Pearson\\| s | MTLGRN fit s, full model (mean, min-max) | epochs run (mean) |",
                 "|---|---|---|---|---|"]
        for (cell, size), sub in timing.groupby(["cell", "size"], sort=False):
            g = sub.loc[sub["step"] == "genie3", "seconds"].sum()
            p = sub.loc[sub["step"] == "pearson", "seconds"].sum()
            f = fits[(fits["cell"] == cell) & (fits["size"] == size)]
            fit_txt = f"{f['seconds'].mean():.1f} ({f['seconds'].min():.1f}-{f['seconds'].max():.1f})" \
                if len(f) else "n/a"
            ep = f"{f['epochs_run'].mean():.0f}" if len(f) else "n/a"
            lines.append(f"| {set_label(cell, size)} | {g:.1f} | {p:.1f} | {fit_txt} | {ep} |")
        parts.append("## Timing\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
