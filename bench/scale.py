"""BENCHMARK.md section 3: how MTLGRN scales with the number of genes on one machine.

    python bench/scale.py                          # 1,000, 5,000 and 20,000 genes x 500 samples
    python bench/scale.py --genes 1000 --epochs 20 # one size, a capped training

Each size runs in a fresh process (so that its peak memory is its own): synthetic data from a linear structural
model (a random sparse network over 7.5 % regulators, 0.36 prior edges per gene, expression = (I - W)^-1 noise;
the project's simulator is too slow beyond a few thousand genes), one training with the defaults (or
``--epochs``), then: scoring every regulator x gene pair keeping the best 100,000 (``score_edges``), what the
Network page then computes for its first view (signs, top 500 edges with hubs and communities, the top 150
drawn), a knockout query (``predict_knockout``, median of 5), and GENIE3 timed on ``--genie3-targets`` targets and
extrapolated to every gene. Prints one markdown table (seconds unless said; peak resident memory of the process in GiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlgrn_core.answers import analysis
from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockout, score_edges
from mtlgrn_core.inputs.data import Dataset, build_dataset
from mtlgrn_core.model.baselines import genie3_scores
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.viz.network import MAX_NODES, layout, network_html

TF_SHARE = 0.075  # 1,500 regulators at 20,000 genes
EDGES_PER_GENE = 0.36  # 7,200 prior edges at 20,000 genes
COLUMNS = {"genes": "genes", "pairs": "TF x gene pairs", "epoch_s": "epoch", "epochs": "epochs run",
           "train_s": "training (end to end)", "score_s": "score all pairs, keep 100,000",
           "view_s": "Network page first view, scores cached",
           "knockout_ms": "knockout query (ms)", "genie3_s": "GENIE3, all targets (extrapolated)",
           "genie3_ratio": "GENIE3 / MTLGRN training", "peak_gib": "peak memory (GiB)"}


def linear_dataset(n_genes: int, n_samples: int = 500, seed: int = 0) -> Dataset:
    """A random sparse regulatory network and expression from it, with the network as prior."""
    genes, tfs, pairs, weights, x = _linear_network(n_genes, n_samples, seed)
    return build_dataset(genes=genes, samples=[f"s{j:04d}" for j in range(n_samples)], expression=x,
                         prior=_prior(genes, pairs, weights), tfs=tfs, name=f"linear-{n_genes}")


def knockout_dataset(n_genes: int, knockouts: int, n_samples: int = 500, seed: int = 0) -> Dataset:
    """:func:`linear_dataset`'s network at levels around 10, plus one measured knockout of each of its first
    ``knockouts`` regulators (a sample whose regulator is held at 0 while the network settles), with a sample sheet:
    a run of it trains its knockout head."""
    genes, tfs, pairs, weights, x = _linear_network(n_genes, n_samples, seed)
    noise = np.random.default_rng(seed + 1).normal(size=(n_genes, knockouts))
    held = noise.copy()
    columns = np.arange(knockouts)
    for _ in range(30):  # as the wild type, with each knocked-out regulator held at level 0 (-10 around 10)
        held = noise + _spread(pairs, weights, held, n_genes)
        held[columns, columns] = -10.0
    expression = np.concatenate([x, held], axis=1) + 10.0
    samples = [f"s{j:04d}" for j in range(n_samples)] + [f"ko_{genes[k]}" for k in range(knockouts)]
    sheet = pd.DataFrame({"sample": samples, "perturbation": ["control"] * n_samples + genes[:knockouts],
                          "dose": [1.0] * n_samples + [0.0] * knockouts})
    return build_dataset(genes=genes, samples=samples, expression=expression, prior=_prior(genes, pairs, weights),
                         tfs=tfs, sample_sheet=sheet, log_transform=False, name=f"linear-{n_genes}-ko{knockouts}")


def _linear_network(n_genes: int, n_samples: int, seed: int):
    """Genes, regulators (7.5 %), edges with their weights, and expression ``x = noise + W x`` (centred)."""
    rng = np.random.default_rng(seed)
    n_tfs = max(2, int(round(TF_SHARE * n_genes)))
    n_edges = int(round(EDGES_PER_GENE * n_genes))
    src = rng.integers(0, n_tfs, n_edges)
    dst = rng.integers(0, n_genes, n_edges)
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]]), axis=1)
    weights = rng.choice([-1.0, 1.0], pairs.shape[1]) * rng.uniform(0.3, 0.8, pairs.shape[1])
    noise = rng.normal(size=(n_genes, n_samples))
    x = noise.copy()
    for _ in range(30):  # x = noise + W x, to convergence (the TFs regulate only genes, a shallow network)
        x = noise + _spread(pairs, weights, x, n_genes)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    return genes, genes[:n_tfs], pairs, weights, x


def _prior(genes: list[str], pairs: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"source": [genes[i] for i in pairs[0]], "target": [genes[i] for i in pairs[1]],
                         "sign": np.sign(weights).astype(int)})


def curated_dataset(n_genes: int = 4000, n_samples: int = 200, n_edges: int = 7000, n_regulators: int = 300,
                    seed: int = 0) -> Dataset:
    """A bulk compendium as labs bring it: ``n_samples`` log-expression profiles from a sparse signed network whose
    regulators' out-degrees are heavy-tailed (a few hubs with hundreds of targets, most with a handful, as in
    curated databases), with a curated prior of ``n_edges`` signed edges: 85 % of them true (the rest of the true
    network unknown) and 15 % wrong, as curation misses and misattributes edges."""
    rng = np.random.default_rng(seed)
    hubness = 1.0 / np.arange(1, n_regulators + 1)  # Zipf-like out-degrees
    n_true = int(round(n_edges * 0.85 / 0.8))  # the prior knows 80 % of the true network
    src = rng.choice(n_regulators, n_true, p=hubness / hubness.sum())
    dst = rng.integers(0, n_genes, n_true)
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]]), axis=1)
    weights = rng.choice([-1.0, 1.0], pairs.shape[1], p=[0.35, 0.65]) * rng.uniform(0.3, 0.9, pairs.shape[1])
    noise = rng.normal(size=(n_genes, n_samples))
    x = noise.copy()
    for _ in range(30):
        x = noise + _spread(pairs, weights, x, n_genes)
    level = (rng.normal(7.0, 1.5, n_genes)[:, None]
             + rng.uniform(0.3, 1.0, n_genes)[:, None] * x / x.std(1, keepdims=True))
    known = rng.permutation(pairs.shape[1])[:int(round(n_edges * 0.85))]
    wrong = np.stack([rng.integers(0, n_regulators, n_edges - known.size),
                      rng.integers(0, n_genes, n_edges - known.size)])
    genes = [f"G{i:05d}" for i in range(n_genes)]
    prior = pd.DataFrame({"source": [genes[i] for i in np.concatenate([pairs[0, known], wrong[0]])],
                          "target": [genes[i] for i in np.concatenate([pairs[1, known], wrong[1]])],
                          "sign": np.concatenate([np.sign(weights[known]),
                                                  rng.choice([-1, 1], wrong.shape[1])]).astype(int)})
    prior = prior[prior["source"] != prior["target"]].drop_duplicates(["source", "target"])
    return build_dataset(genes=genes, samples=[f"s{j:04d}" for j in range(n_samples)], expression=level,
                         prior=prior, tfs=genes[:n_regulators], name=f"curated-{n_genes}")


def _spread(pairs: np.ndarray, weights: np.ndarray, x: np.ndarray, n_genes: int) -> np.ndarray:
    out = np.zeros_like(x)
    np.add.at(out, pairs[1], weights[:, None] * x[pairs[0]])
    return out / np.sqrt(1.0 + np.bincount(pairs[1], minlength=n_genes))[:, None]


def measure(n_genes: int, epochs: int | None, genie3_targets: int) -> dict:
    """One size, in this process."""
    dataset = linear_dataset(n_genes)
    config = TrainConfig() if epochs is None else TrainConfig(epochs=epochs, patience=epochs)
    start = time.perf_counter()
    run = fit(dataset, config)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    edges = score_edges(run, top=100_000)
    score_s = time.perf_counter() - start
    view_s = _network_first_view_seconds(run, edges)
    tfs = list(dataset.tfs[:5])
    latencies = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        for gene in tfs:
            t0 = time.perf_counter()
            predict_knockout(run, [gene])
            latencies.append((time.perf_counter() - t0) * 1000)
    genie3_s = _genie3_seconds(dataset, genie3_targets)
    epochs_run = run.info["epochs_run"]
    return {"genes": n_genes, "pairs": len(dataset.tfs) * (n_genes - 1),
            "epoch_s": run.info["train_seconds"] / max(epochs_run, 1), "epochs": epochs_run, "train_s": train_s,
            "score_s": score_s, "view_s": view_s, "knockout_ms": statistics.median(latencies), "genie3_s": genie3_s,
            "genie3_ratio": genie3_s / train_s,
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def _network_first_view_seconds(run, edges: pd.DataFrame) -> float:
    """What the Network page computes once the ranked edges are there (its defaults: signs and correlations of
    the kept edges, the top 500 as a network with hubs and communities, the top 150 drawn)."""
    start = time.perf_counter()
    table = analysis.annotate_edges(edges, run.prior, expression=run.inputs.expression, genes=run.genes)
    result = analysis.analyse_network(analysis.select_edges(table, top_k=500), run.tfs)
    view = analysis.top_subgraph(result.graph, max_edges=150, max_nodes=MAX_NODES)
    network_html(view, layout(view))
    return time.perf_counter() - start


def _genie3_seconds(dataset: Dataset, n_targets: int) -> float:
    """GENIE3 (100 trees per target) on ``n_targets`` targets, extrapolated to every gene."""
    targets = np.arange(min(n_targets, dataset.n_genes))
    tfs = dataset.tf_indices
    src = np.repeat(tfs, targets.size)
    dst = np.tile(targets, tfs.size)
    start = time.perf_counter()
    genie3_scores(dataset.expression, tfs, src, dst)
    return (time.perf_counter() - start) * dataset.n_genes / targets.size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="BENCHMARK.md section 3: scale with the number of genes.")
    parser.add_argument("--genes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--epochs", type=int, default=None, help="cap the training (default: TrainConfig's)")
    parser.add_argument("--genie3-targets", type=int, default=20, help="GENIE3 targets timed (default 20)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a child process's size
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.epochs, args.genie3_targets)))
        return 0
    rows = []
    for n_genes in args.genes:
        command = [sys.executable, __file__, "--one", str(n_genes), "--genie3-targets", str(args.genie3_targets)]
        command += [] if args.epochs is None else ["--epochs", str(args.epochs)]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode != 0:
            print(f"{n_genes} genes failed:\n{child.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"{n_genes} genes done: {rows[-1]}", file=sys.stderr)
    print(table(rows))
    return 0


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [f"{row[k]:,}" if k in ("genes", "pairs", "epochs") else f"{row[k]:.2f}" for k in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
