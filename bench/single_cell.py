"""Single-cell data at full size: a sparse counts ``.h5ad`` of 20,000 genes x 20,000 cells with a 7,000-edge
database prior, from the file to scored edges, with the time split into its parts, alone and beside a second
training (issue 24: a file with a prior that carries signal took 398 s alone against the bench's 52 s on a random
one, and did not finish in 15 minutes beside other jobs).

    python bench/single_cell.py [--prior signal random] [--beside training] [--configs ...]
                                [--genes 20000] [--cells 20000] [--density 0.08] [--prior-edges 7000]

The data are generated once per prior kind into a folder of ``--out`` (default ``bench/out/single_cell/``) named
after the kind and the sizes: Ensembl ids as ``var_names`` with symbols in ``var["gene_symbols"]``, 8 cell types in
``obs``, about ``--density`` non-zero; a TRRUST-style prior (``TF, target, mode``) over 600 regulators, a quarter
of its target names absent from the cells (as a database prior names genes an experiment did not measure).

* ``--prior signal`` (the case users bring): each cell has a log-activity per regulator (12 continuous programs
  shared by the regulators, a cell-type offset and noise); a regulator's own expression follows its activity and
  each measured target's log-mean is its base, its cell type's marker level and the sum of its regulators'
  activities weighted by the prior's edges (Activation > 0, Repression < 0, a fifth of them labelled Unknown
  whatever their sign); counts are Poisson draws of that mean, scaled to the density. The prior's held-out edges
  can be learnt, as with a lab's data, so early stopping comes later.
* ``--prior random``: the earlier bench's data (the same draws): counts of 8 cell types with no regulation, and a
  prior drawn at random (its modes too): nothing to learn, so validation stops training early.

Both kinds run by default, each as its own rows: the signal rows are what a lab's data cost, and the random rows
show how much shorter a prior that teaches nothing makes a run (the gap the issue found).

Each configuration runs in a fresh process (so that its peak memory is its own): load, train with the defaults,
score every candidate pair (keeping the best 100,000). The table gives one column per part: reading the file,
normalising, selecting genes, metacells (choosing their cells and averaging them), building the model's inputs
(graph and features), the epochs, the final evaluation (test metrics and baselines), scoring, and the rest
(loading the libraries, reading the prior, aligning the inputs, the split). ``--beside training`` adds, for each
configuration, a row measured while a second MTLGRN training runs in its own process: the command-line training
of a simulated 500-gene dataset (another user's mid-size job on the same server), over and over until the
measurement ends, then stopped (also on a timeout or Ctrl-C); the row says how many of them finished meanwhile.
``--timeout`` (minutes, default 60) ends a configuration that takes longer and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {  # name -> (max genes, max samples); None keeps all
    "defaults (3,000 genes + prior, 500 metacells)": (3000, 500),
    "every gene, 500 metacells": (None, 500),
}
PRIORS = ("signal", "random")
N_TYPES = 8
N_PROGRAMS = 12  # continuous cell states that drive the regulators' activities
UNKNOWN_MODE_SHARE = 0.2  # of the signal prior's edges, labelled Unknown (the database does not know the sign)
CELLS_PER_CHUNK = 500  # the signal counts are drawn this many cells at a time (bounded memory)
BESIDE_GENES = 500
LOAD_PARTS = ("read", "normalise", "select_genes", "metacells", "aggregate")


# ----------------------------------------------------------------------------------------------------
# The data


def data_folder(out: Path, prior: str, n_genes: int, n_cells: int, density: float, prior_edges: int) -> Path:
    """The folder of one generated dataset: every generation parameter in its name, so none is reused stale."""
    return out / f"{prior}_g{n_genes}_c{n_cells}_d{density:g}_e{prior_edges}"


def generate(folder: Path, prior: str, n_genes: int, n_cells: int, density: float, prior_edges: int,
             seed: int = 0) -> None:
    """Write ``expression.h5ad`` and ``network.tsv`` into ``folder`` (skipped when both exist)."""
    if (folder / "expression.h5ad").exists() and (folder / "network.tsv").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    make = signal_data if prior == "signal" else random_data
    adata, network = make(n_genes, n_cells, density, prior_edges, seed)
    adata.write_h5ad(folder / "expression.h5ad")
    network.to_csv(folder / "network.tsv", sep="\t", index=False)  # last: its presence says the data are whole


def n_regulators(n_genes: int) -> int:
    """600 regulators (a quarter of the genes in a tiny test)."""
    return min(600, max(2, n_genes // 4))


def symbols(n_genes: int) -> list[str]:
    return [f"GENE{j:05d}" for j in range(n_genes)]


def target_names(n_genes: int) -> list[str]:
    """The measured symbols, then a third as many that the cells lack (prior targets are drawn from the first
    :func:`n_targets`): a quarter of the prior's target names are not measured."""
    return symbols(n_genes) + [f"UNMEASURED{j:05d}" for j in range(int(n_genes * 0.33) + 1)]


def n_targets(n_genes: int) -> int:
    return int(n_genes * 1.33)


def cells_anndata(counts, types: np.ndarray):
    """AnnData of ``counts`` (cells x genes, sparse): Ensembl ids as ``var_names``, symbols in a column, the cell
    type in ``obs``."""
    import anndata
    import pandas as pd

    n_cells, n_genes = counts.shape
    return anndata.AnnData(X=counts, obs=pd.DataFrame({"cell_type": [f"type{t}" for t in types]},
                                                      index=[f"cell{i}" for i in range(n_cells)]),
                           var=pd.DataFrame({"gene_symbols": symbols(n_genes)},
                                            index=[f"ENSG{j:011d}" for j in range(n_genes)]))


def random_data(n_genes: int, n_cells: int, density: float, prior_edges: int, seed: int = 0):
    """The earlier bench's data (same draws): cell-type counts with no regulation, and a prior drawn at random."""
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    types = rng.integers(0, N_TYPES, n_cells)
    base = rng.lognormal(-1.0, 1.0, n_genes)
    markers = rng.lognormal(0.0, 0.6, (N_TYPES, n_genes))
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
    names, measured = target_names(n_genes), symbols(n_genes)
    regulators = rng.choice(n_genes, n_regulators(n_genes), replace=False)
    source = rng.choice(regulators, prior_edges)
    target = rng.integers(0, n_targets(n_genes), prior_edges)
    network = pd.DataFrame({"TF": [measured[s] for s in source], "target": [names[t] for t in target],
                            "mode": rng.choice(["Activation", "Repression", "Unknown"], prior_edges)})
    network = network[network["TF"] != network["target"]].drop_duplicates(["TF", "target"])
    return cells_anndata(counts, types), network


def signal_data(n_genes: int, n_cells: int, density: float, prior_edges: int, seed: int = 0):
    """Counts in which each measured prior target follows its regulators' activities (module docstring)."""
    rng = np.random.default_rng(seed)
    network, effects = signal_prior(rng, n_genes, prior_edges)
    types = rng.integers(0, N_TYPES, n_cells)
    activity = regulator_activity(rng, types, effects.shape[0])
    gene_level = rng.normal(-1.0, 1.0, n_genes).astype(np.float32)  # log base, as the random data's lognormal
    type_level = rng.normal(0.0, 0.6, (N_TYPES, n_genes)).astype(np.float32)  # log marker level per cell type
    depth = rng.normal(0.0, 0.3, n_cells).astype(np.float32)  # log sequencing depth per cell

    def log_mean(cells: np.ndarray) -> np.ndarray:
        regulated = np.asarray((effects.T @ activity[cells].T).T, dtype=np.float32)
        return gene_level + type_level[types[cells]] + depth[cells, None] + regulated

    counts = poisson_counts(rng, log_mean, n_cells, density)
    return cells_anndata(counts, types), network


def signal_prior(rng: np.random.Generator, n_genes: int, prior_edges: int):
    """The TRRUST-style prior and what it does: ``effects`` (regulators x genes, sparse) holds each regulator's
    signed weight on its measured targets, and 1 on its own gene (its expression follows its activity)."""
    import pandas as pd
    from scipy import sparse

    names, measured = target_names(n_genes), symbols(n_genes)
    regulators = rng.choice(n_genes, n_regulators(n_genes), replace=False)
    slot = rng.integers(0, regulators.size, prior_edges)
    target = rng.integers(0, n_targets(n_genes), prior_edges)
    weight = np.where(rng.random(prior_edges) < 0.6, 1.0, -1.0) * rng.uniform(0.5, 1.0, prior_edges)
    mode = np.where(weight > 0, "Activation", "Repression")
    mode[rng.random(prior_edges) < UNKNOWN_MODE_SHARE] = "Unknown"
    network = pd.DataFrame({"TF": [measured[s] for s in regulators[slot]], "target": [names[t] for t in target],
                            "mode": mode})
    keep = ((network["TF"] != network["target"]) & ~network.duplicated(["TF", "target"])).to_numpy()
    network, slot, target, weight = network[keep], slot[keep], target[keep], weight[keep]
    acts = target < n_genes
    own = np.arange(regulators.size)
    effects = sparse.csr_matrix((np.concatenate([weight[acts], np.ones(own.size)]),
                                 (np.concatenate([slot[acts], own]), np.concatenate([target[acts], regulators]))),
                                shape=(regulators.size, n_genes), dtype=np.float32)
    return network, effects


def regulator_activity(rng: np.random.Generator, types: np.ndarray, n_reg: int) -> np.ndarray:
    """Per cell, each regulator's log-activity (cells x regulators, standard deviation about 1.2): continuous
    programs shared by the regulators (which metacells of similar cells keep), a cell-type offset and the cell's
    own noise. At 40 cells a metacell, an activating edge's two genes then correlate at about r = 0.3 across the
    metacells (two genes at random: |r| about 0.12, from the cell types)."""
    programs = rng.standard_normal((types.size, N_PROGRAMS)).astype(np.float32)
    loadings = rng.normal(0.0, 1.0 / np.sqrt(N_PROGRAMS), (N_PROGRAMS, n_reg)).astype(np.float32)
    type_offset = rng.normal(0.0, 0.6, (N_TYPES, n_reg)).astype(np.float32)
    noise = rng.normal(0.0, 0.4, (types.size, n_reg)).astype(np.float32)
    return programs @ loadings + type_offset[types] + noise


def poisson_counts(rng: np.random.Generator, log_mean, n_cells: int, density: float):
    """Poisson counts (cells x genes, sparse float32) of ``exp(log_mean(cells) + shift)``, drawn a chunk of cells
    at a time, ``shift`` chosen so that about ``density`` of the entries are non-zero."""
    from scipy import sparse

    shift = density_shift(log_mean(rng.choice(n_cells, min(n_cells, 300), replace=False)), density)
    chunks = []
    for start in range(0, n_cells, CELLS_PER_CHUNK):
        cells = np.arange(start, min(start + CELLS_PER_CHUNK, n_cells))
        drawn = rng.poisson(np.exp(log_mean(cells) + shift, dtype=np.float64))
        chunks.append(sparse.csr_matrix(drawn.astype(np.float32)))
    return sparse.vstack(chunks, format="csr")


def density_shift(log_mean: np.ndarray, density: float) -> float:
    """The shift of ``log_mean`` at which Poisson draws are non-zero with probability ``density`` on average
    (bisection: the share grows with the shift)."""
    low, high = -30.0, 30.0
    for _ in range(50):
        mid = (low + high) / 2
        share = float(np.mean(-np.expm1(-np.exp(log_mean + mid))))
        low, high = (mid, high) if share < density else (low, mid)
    return (low + high) / 2


def stored_density(folder: Path) -> float:
    """The share of non-zero entries of the generated counts."""
    import h5py

    with h5py.File(folder / "expression.h5ad", "r") as f:
        shape = f["X"].attrs["shape"]
        return float(f["X"]["indptr"][-1]) / (int(shape[0]) * int(shape[1]))


# ----------------------------------------------------------------------------------------------------
# One configuration, in its own process


def measure(folder: Path, max_genes: int | None, max_samples: int | None) -> dict:
    """Load, train with the defaults and score, in this process: seconds per part and peak memory. The libraries
    are loaded first (counted in ``other_s``), so that no part is charged with the import of the ones it uses."""
    start = time.perf_counter()
    import anndata  # noqa: F401  (the readers import them on first use)
    import scanpy  # noqa: F401

    from mtlgrn_core.answers.infer import score_edges
    from mtlgrn_core.inputs.data import load_dataset
    from mtlgrn_core.inputs.single_cell import CellOptions
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    dataset = load_dataset(folder, cells=CellOptions(group_column="cell_type", max_genes=max_genes,
                                                     max_samples=max_samples))
    out = {f"{part}_s": dataset.timings.get(part, 0.0) for part in LOAD_PARTS}
    out["genes"], out["samples"], out["regulators"] = dataset.n_genes, len(dataset.samples), len(dataset.tfs)
    out["prior_edges"] = len(dataset.prior)
    run = fit(dataset, TrainConfig())
    out["inputs_s"] = run.info["input_seconds"]  # graph and features, before the epochs
    out["epochs"] = run.info["epochs_run"]
    out["train_s"] = run.info["train_seconds"]  # the epochs
    out["epoch_s"] = out["train_s"] / max(out["epochs"], 1)
    out["evaluation_s"] = run.info["evaluation_seconds"]  # test metrics and baselines after training
    out["test_auprc"] = (run.metrics.get("test") or {}).get("auprc")
    t0 = time.perf_counter()
    table = score_edges(run, top=100_000)
    out["score_s"] = time.perf_counter() - t0
    out["pairs_scored"] = len(dataset.tfs) * (dataset.n_genes - 1)
    out["kept"] = len(table)
    out["total_s"] = time.perf_counter() - start
    parts = LOAD_PARTS + ("inputs", "train", "evaluation", "score")
    out["other_s"] = out["total_s"] - sum(out[f"{p}_s"] for p in parts)  # libraries, other inputs, the split
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux
    return out


def run_configuration(folder: Path, budgets: tuple, timeout_s: float) -> dict | None:
    """:func:`measure` in a fresh process; ``None`` when it took longer than ``timeout_s`` (it is ended)."""
    genes, samples = budgets
    command = [sys.executable, __file__, "--measure", str(folder), str(genes or 0), str(samples or 0)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    if child.returncode != 0:
        raise RuntimeError(f"the measurement of {folder.name} {budgets} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------
# The second job


def beside_data(out: Path) -> Path:
    """The second job's dataset: ``python -m mtlgrn_core simulate --genes 500 --seed 1`` (made once)."""
    folder = out / f"beside_simulated_{BESIDE_GENES}"
    if not (folder / "network.csv").exists():
        subprocess.run([sys.executable, "-m", "mtlgrn_core", "simulate", "--genes", str(BESIDE_GENES), "--seed", "1",
                        "--out", str(folder)], check=True, capture_output=True, cwd=ROOT)
    return folder


def train_again_and_again(data: Path, runs: Path) -> None:
    """The second job's process: the command line's training of ``data``, over and over until it is stopped;
    prints ``ready`` once its libraries are loaded, then each training's seconds (what the command line prints
    goes to stderr)."""
    from mtlgrn_core.cli import main as cli

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds: a half-saved run folder is removed
    print("ready", flush=True)
    while True:
        start = time.perf_counter()
        with redirect_stdout(sys.stderr):
            code = cli(["train", "--data", str(data), "--out", str(runs), "--quiet"])
        if code != 0:
            raise SystemExit("the second training failed (its error above)")
        print(f"{time.perf_counter() - start:.2f}", flush=True)


@dataclass
class SecondJob:
    """The running second job: its process and the file where it writes each training's seconds."""

    process: subprocess.Popen
    log: Path

    def finished(self) -> list[float]:
        """The seconds of each training it finished so far."""
        return [float(line) for line in self.log.read_text().split()[1:]]


@contextmanager
def second_training(data: Path, folder: Path, start_timeout_s: float = 120.0):
    """Run :func:`train_again_and_again` of ``data`` in its own process group for the duration of the block (its
    runs, output and errors in ``folder``), and stop it, with anything it started, after, however the block ends
    (an error, a timeout, Ctrl-C). Yields the :class:`SecondJob`."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "seconds.txt"
    with open(log, "w") as sink, open(folder / "stderr.txt", "w") as errors:
        process = subprocess.Popen([sys.executable, __file__, "--beside-worker", str(data), str(folder / "run")],
                                   stdout=sink, stderr=errors, start_new_session=True, cwd=ROOT)
    try:
        wait_until_ready(process, log, start_timeout_s)
        yield SecondJob(process, log)
    finally:
        stop_group(process)


def wait_until_ready(process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait until the second job says it is ready (so that it competes from the measurement's start)."""
    deadline = time.monotonic() + timeout_s
    while not log.read_text().startswith("ready"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the second training did not start (exit code {process.poll()})")
        time.sleep(0.2)


def stop_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """End ``process`` and its process group: SIGTERM, then SIGKILL after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


# ----------------------------------------------------------------------------------------------------
# The table


def measure_all(args) -> list[dict]:
    """Every prior kind x configuration, alone and (with ``--beside``) beside the second job: one row each."""
    rows = []
    second = beside_data(args.out) if args.beside else None
    for prior in args.prior:
        folder = data_folder(args.out, prior, args.genes, args.cells, args.density, args.prior_edges)
        t0 = time.perf_counter()
        generate(folder, prior, args.genes, args.cells, args.density, args.prior_edges)
        print(f"{prior} data in {folder} ({time.perf_counter() - t0:.0f} s to make or find)", file=sys.stderr)
        for name in args.configs:
            for beside in [None] + ([args.beside] if args.beside else []):
                row = {"prior": prior, "config": name, "beside": beside, "density": stored_density(folder)}
                if beside is None:
                    row["result"] = run_configuration(folder, CONFIGS[name], args.timeout * 60)
                else:
                    with second_training(second, args.out / "beside_job") as job:
                        row["result"] = run_configuration(folder, CONFIGS[name], args.timeout * 60)
                        row["beside_trainings"] = job.finished()
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    return rows


HEADER = ("| prior | configuration | beside | genes x samples kept | regulators / prior edges kept | read s "
          "| normalise s | select genes s | metacells s | features s | epochs (n x s each) | final evaluation s "
          "| score all pairs s (pairs) | other s | total s | test AUPRC | peak GiB |")


def table_row(row: dict, timeout_min: float) -> str:
    """One markdown row: the seconds of each part (metacells: choosing their cells + averaging them)."""
    beside = f"{row['beside']} ({len(row.get('beside_trainings', []))} done)" if row["beside"] else "alone"
    head = f"| {row['prior']} | {row['config']} | {beside} |"
    r = row["result"]
    if r is None:
        return head + f" did not finish within {timeout_min:g} minutes |" + " |" * 13
    auprc = "n/a" if r["test_auprc"] is None else f"{r['test_auprc']:.3f}"
    return (head + f" {r['genes']:,} x {r['samples']:,} | {r['regulators']:,} / {r['prior_edges']:,} | "
            f"{r['read_s']:.1f} | {r['normalise_s']:.1f} | {r['select_genes_s']:.1f} | "
            f"{r['metacells_s'] + r['aggregate_s']:.1f} | {r['inputs_s']:.1f} | "
            f"{r['train_s']:.0f} ({r['epochs']} x {r['epoch_s']:.2f}) | {r['evaluation_s']:.1f} | "
            f"{r['score_s']:.1f} ({r['pairs_scored']:,}) | {r['other_s']:.1f} | {r['total_s']:.0f} | {auprc} | "
            f"{r['peak_gib']:.1f} |")


def table(rows: list[dict], args) -> str:
    densities = ", ".join(sorted({f"{row['prior']} {row['density']:.1%}" for row in rows}))
    lines = [f"{args.genes:,} genes x {args.cells:,} cells (non-zero: {densities}), prior of {args.prior_edges:,} "
             "edges; default training settings. Beside: a second training (the command line's, of a simulated "
             f"{BESIDE_GENES}-gene dataset) ran over and over during the measurement, in its own process.", "",
             HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    lines += [table_row(row, args.timeout) for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.08)
    parser.add_argument("--prior-edges", type=int, default=7_000)
    parser.add_argument("--prior", nargs="+", default=list(PRIORS), choices=PRIORS,
                        help="signal: targets follow their regulators; random: the earlier bench's (default both)")
    parser.add_argument("--beside", choices=("training",), default=None,
                        help="also measure each configuration beside a second training (default: alone only)")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "single_cell")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--timeout", type=float, default=60, help="minutes one configuration may take")
    parser.add_argument("--measure", nargs=3, default=None, metavar=("FOLDER", "MAX_GENES", "MAX_SAMPLES"),
                        help=argparse.SUPPRESS)  # the child process of one configuration
    parser.add_argument("--beside-worker", nargs=2, type=Path, default=None, metavar=("DATA", "RUNS"),
                        help=argparse.SUPPRESS)  # the second job's process
    args = parser.parse_args(argv)
    if args.measure is not None:
        budgets = [int(v) or None for v in args.measure[1:]]
        print(json.dumps(measure(Path(args.measure[0]), *budgets)))
        return 0
    if args.beside_worker is not None:
        train_again_and_again(*args.beside_worker)
        return 0
    print("\n" + table(measure_all(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
