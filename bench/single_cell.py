"""Single-cell data at full size: a sparse counts ``.h5ad`` of 20,000 genes x 20,000 cells with a 7,000-edge
database prior, from the file to scored edges (issue: <= 10 minutes on 2 cores, peak memory <= 6 GiB with the
defaults; with every gene kept, training still completes).

    python bench/single_cell.py [--genes 20000] [--cells 20000] [--density 0.08] [--prior-edges 7000]

The data are generated once into ``--out`` (default ``bench/out/single_cell/``): counts drawn from a
negative-binomial-like model with 8 cell types and 8 % non-zero, Ensembl ids as ``var_names`` with symbols in
``var["gene_symbols"]``, the cell type in ``obs``; and a TRRUST-style prior (``TF, target, mode``) over 600
regulators, a quarter of its genes absent from the cells (as a database prior names genes an experiment did not
measure). Each configuration then runs in a fresh process (so that its peak memory is its own): load (read,
normalise, select genes, aggregate metacells), train with the default settings, score every candidate pair
(keeping the best 100,000), and reports each step's seconds (training split into its epochs, the building of its
inputs and the final evaluation on the test pairs) and the peak resident memory. Prints a markdown table;
``--timeout`` (minutes, default 60) ends a configuration that takes longer and says so.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {  # name -> (max genes, max samples); None keeps all
    "defaults (3,000 genes + prior, 500 metacells)": (3000, 500),
    "every gene, 500 metacells": (None, 500),
}


def generate(folder: Path, n_genes: int, n_cells: int, density: float, prior_edges: int, seed: int = 0) -> None:
    """Write ``expression.h5ad`` and ``network.tsv`` into ``folder`` (skipped when both exist)."""
    import anndata
    import pandas as pd
    from scipy import sparse

    if (folder / "expression.h5ad").exists() and (folder / "network.tsv").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 8, n_cells)
    base = rng.lognormal(-1.0, 1.0, n_genes)
    markers = rng.lognormal(0.0, 0.6, (8, n_genes))
    depth = rng.lognormal(0.0, 0.3, n_cells)
    nnz_per_cell = rng.binomial(n_genes, density, n_cells)
    rows, cols, vals = [], [], []
    weights = base / base.sum()
    for c in range(n_cells):
        genes = np.unique(rng.choice(n_genes, size=nnz_per_cell[c], p=weights))  # about the density
        mean = base[genes] * markers[types[c], genes] * depth[c] * 4.0
        rows.append(np.full(genes.size, c, dtype=np.int32))
        cols.append(genes.astype(np.int32))
        vals.append(1.0 + rng.poisson(mean).astype(np.float32))
    counts = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(n_cells, n_genes), dtype=np.float32)
    symbols = [f"GENE{j:05d}" for j in range(n_genes)]
    adata = anndata.AnnData(X=counts, obs=pd.DataFrame({"cell_type": [f"type{t}" for t in types]},
                                                       index=[f"cell{i}" for i in range(n_cells)]),
                            var=pd.DataFrame({"gene_symbols": symbols},
                                             index=[f"ENSG{j:011d}" for j in range(n_genes)]))
    adata.write_h5ad(folder / "expression.h5ad")
    regulators = rng.choice(n_genes, 600, replace=False)
    source = rng.choice(regulators, prior_edges)
    target = rng.integers(0, int(n_genes * 1.33), prior_edges)  # a quarter of the names are not measured
    names = symbols + [f"UNMEASURED{j:05d}" for j in range(int(n_genes * 0.33) + 1)]
    prior = pd.DataFrame({"TF": [symbols[s] for s in source], "target": [names[t] for t in target],
                          "mode": rng.choice(["Activation", "Repression", "Unknown"], prior_edges)})
    prior = prior[prior["TF"] != prior["target"]].drop_duplicates(["TF", "target"])
    prior.to_csv(folder / "network.tsv", sep="\t", index=False)


def stored_density(folder: Path) -> float:
    """The share of non-zero entries of the generated counts (drawn genes repeat, so below ``--density``)."""
    import h5py

    with h5py.File(folder / "expression.h5ad", "r") as f:
        shape = f["X"].attrs["shape"]
        return float(f["X"]["indptr"][-1]) / (int(shape[0]) * int(shape[1]))


def measure(folder: Path, max_genes: int | None, max_samples: int | None) -> dict:
    """Load, train with the defaults and score, in this process; seconds per step and peak memory."""
    from mtlgrn_core.config import TrainConfig
    from mtlgrn_core.data import load_dataset
    from mtlgrn_core.infer import score_edges
    from mtlgrn_core.single_cell import CellOptions
    from mtlgrn_core.train import fit

    out = {}
    t0 = time.perf_counter()
    dataset = load_dataset(folder, cells=CellOptions(group_column="cell_type", max_genes=max_genes,
                                                     max_samples=max_samples))
    out["load_s"] = time.perf_counter() - t0
    out["genes"], out["samples"], out["regulators"] = dataset.n_genes, len(dataset.samples), len(dataset.tfs)
    out["prior_edges"] = len(dataset.prior)
    t0 = time.perf_counter()
    run = fit(dataset, TrainConfig())
    out["fit_s"] = time.perf_counter() - t0
    out["epochs"] = run.info["epochs_run"]
    out["epoch_s"] = run.info["train_seconds"] / max(out["epochs"], 1)
    out["evaluation_s"] = run.info["evaluation_seconds"]  # test metrics and baselines after training
    out["train_s"] = run.info["train_seconds"]  # the epochs
    out["test_auprc"] = (run.metrics.get("test") or {}).get("auprc")
    t0 = time.perf_counter()
    table = score_edges(run, top=100_000)
    out["score_s"] = time.perf_counter() - t0
    out["pairs_scored"] = len(dataset.tfs) * (dataset.n_genes - 1)
    out["kept"] = len(table)
    out["total_s"] = out["load_s"] + out["fit_s"] + out["score_s"]
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.08)
    parser.add_argument("--prior-edges", type=int, default=7_000)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "single_cell")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--timeout", type=float, default=60, help="minutes one configuration may take")
    parser.add_argument("--measure", nargs=2, default=None, metavar=("MAX_GENES", "MAX_SAMPLES"),
                        help=argparse.SUPPRESS)  # the child process of one configuration
    args = parser.parse_args(argv)
    folder = args.out / f"g{args.genes}_c{args.cells}"
    if args.measure is not None:
        budgets = [int(v) or None for v in args.measure]
        print(json.dumps(measure(folder, *budgets)))
        return 0
    t0 = time.perf_counter()
    generate(folder, args.genes, args.cells, args.density, args.prior_edges)
    print(f"data in {folder} ({time.perf_counter() - t0:.0f} s to make or find)", file=sys.stderr)
    rows = []
    for name in args.configs:
        genes, samples = CONFIGS[name]
        command = [sys.executable, __file__, "--genes", str(args.genes), "--cells", str(args.cells),
                   "--out", str(args.out), "--measure", str(genes or 0), str(samples or 0)]
        try:
            child = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout * 60)
        except subprocess.TimeoutExpired:
            print(f"{name}: did not finish within {args.timeout:g} minutes", file=sys.stderr)
            rows.append((name, None))
            continue
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            return child.returncode
        rows.append((name, json.loads(child.stdout.strip().splitlines()[-1])))
        print(f"{name}: {rows[-1][1]}", file=sys.stderr)
    print(f"\n{args.genes:,} genes x {args.cells:,} cells, {stored_density(folder):.1%} non-zero, prior of "
          f"{args.prior_edges:,} edges; default training settings.\n")
    print("| configuration | genes x samples kept | regulators / prior edges kept | load s | train s (epochs, s each) "
          "| of which epochs s / final evaluation s | score all pairs s (pairs) | total s | peak GiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        if r is None:
            print(f"| {name} | did not finish within {args.timeout:g} minutes |||||||| ")
            continue
        print(f"| {name} | {r['genes']:,} x {r['samples']:,} | {r['regulators']:,} / {r['prior_edges']:,} | "
              f"{r['load_s']:.0f} | {r['fit_s']:.0f} ({r['epochs']}, {r['epoch_s']:.2f}) | "
              f"{r['train_s']:.0f} / {r['evaluation_s']:.0f} | "
              f"{r['score_s']:.0f} ({r['pairs_scored']:,}) | {r['total_s']:.0f} | {r['peak_gib']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
