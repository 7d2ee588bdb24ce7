"""Pieces shared by the benchmark scripts (``dream4.py``, ``beeline.py``): BENCHMARK.md section 1 scoring of
every method on one split, the ablation fits, the split files, progress and markdown tables.

Kept in ``bench/`` (not the library): it is the measuring harness, not the product.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _p in (str(ROOT), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from mtlgrn_core import evaluate  # noqa: E402
from mtlgrn_core.config import TrainConfig  # noqa: E402
from mtlgrn_core.data import Dataset  # noqa: E402
from mtlgrn_core.infer import score_pairs  # noqa: E402
from mtlgrn_core.report import ablation_variants  # noqa: E402
from mtlgrn_core.runstore import Run  # noqa: E402
from mtlgrn_core.splits import TEST, TRAIN, EdgeSplit, write_split  # noqa: E402
from mtlgrn_core.train import fit  # noqa: E402

EDGE_COLS = ("auroc", "auprc", "auprc_ratio", "epr")
EDGE_HEAD = ("AUROC", "AUPRC", "AUPRC ratio", "EPR")
EDGE_DIGITS = {"auroc": 3, "auprc": 3, "auprc_ratio": 1, "epr": 1}
MODEL = "MTLGRN"
REVERSE = "reverse edge (extra)"  # 1 when g -> t is a train edge, then degree: reciprocity in the truth
SPLIT_NAMES = {"edge": "edge hold-out", "tf": "TF hold-out"}


class Clock:
    """Elapsed time and progress lines on stderr."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def candidate_pairs(dataset: Dataset, tf_indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate (TF, gene) pair, t != g, TF-major (BENCHMARK.md section 1); the TFs are the
    dataset's unless ``tf_indices`` are given."""
    tfs = np.sort(dataset.tf_indices if tf_indices is None else np.asarray(tf_indices, dtype=np.int64))
    src = np.repeat(tfs, dataset.n_genes)
    dst = np.tile(np.arange(dataset.n_genes, dtype=np.int64), len(tfs))
    keep = src != dst
    return src[keep], dst[keep]


class PairScores:
    """Scores of all candidate pairs of an unsupervised method, looked up for any pair subset."""

    def __init__(self, n_genes: int, src: np.ndarray, dst: np.ndarray, scores: np.ndarray):
        self.n_genes = n_genes
        self.table = np.full(n_genes * n_genes, np.nan)
        self.table[src * n_genes + dst] = scores

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        out = self.table[np.asarray(src) * self.n_genes + np.asarray(dst)]
        if np.isnan(out).any():
            raise ValueError("a pair outside the candidate set was asked for")
        return out


def model_scores(run: Run, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src), torch.as_tensor(dst))


def variant_method(name: str) -> str:
    """Table label of an ablation variant: ``MTLGRN`` for the full model, else ``MTLGRN without ...``."""
    return MODEL if name == "full model" else f"{MODEL} {name}"


def fit_variants(dataset: Dataset, config: TrainConfig, split: EdgeSplit, *, ablation: bool,
                 clock: Clock | None = None, label: str = "") -> tuple[dict[str, Run], list[dict]]:
    """Fit MTLGRN (and, with ``ablation``, one variant per task and per modality switched off) on ``split``.

    Returns ``({method: run}, timing rows)``; the full model is under ``MTLGRN``.
    """
    variants = ablation_variants(dataset, config) if ablation else [("full model", config)]
    runs, timing = {}, []
    for name, variant in variants:
        method = variant_method(name)
        t0 = time.perf_counter()
        run = fit(dataset, variant, split=split)
        seconds = time.perf_counter() - t0
        runs[method] = run
        timing.append({"step": f"fit {split.kind}: {method}", "seconds": seconds,
                       "epochs_run": run.info["epochs_run"], "best_epoch": run.info["best_epoch"]})
        if clock is not None:
            clock.log(f"{label} {SPLIT_NAMES[split.kind]}: {method} {seconds:.1f}s "
                      f"({run.info['epochs_run']} epochs, best {run.info['best_epoch']})")
    return runs, timing


def edge_rows(dataset: Dataset, split: EdgeSplit, runs: dict[str, Run], unsupervised: dict[str, PairScores],
              seed: int) -> list[dict]:
    """Section-1 metrics of every fitted run, random, degree and each unsupervised method on the test pairs."""
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    scores = {method: model_scores(run, src, dst) for method, run in runs.items()}
    scores["random"] = evaluate.random_scores(src, dst, seed=seed)
    scores["degree"] = evaluate.degree_scores(split.positives(TRAIN), dataset.n_genes, len(dataset.tfs), src, dst)
    scores[REVERSE] = evaluate.reverse_edge_scores(split.positives(TRAIN), dataset.n_genes, len(dataset.tfs),
                                                   src, dst)
    scores.update({name: table(src, dst) for name, table in unsupervised.items()})
    rows = []
    for method, s in scores.items():
        m = evaluate.edge_metrics(s, labels)
        rows.append({"method": method, **{k: m[k] for k in EDGE_COLS}, "n_pairs": m["n_pairs"],
                     "n_positives": m["n_positives"]})
    _check_library_metrics(runs.get(MODEL), rows)
    return rows


def _check_library_metrics(run: Run | None, rows: list[dict]) -> None:
    """The library's own test metrics of the run must agree with the scores computed here."""
    lib = ((run.metrics or {}).get("test") or {}) if run is not None else {}
    if lib and abs(lib["auprc"] - rows[0]["auprc"]) > 1e-4:
        print(f"warning: run.metrics test AUPRC {lib['auprc']} != recomputed {rows[0]['auprc']:.5f}",
              file=sys.stderr)


def save_split(split: EdgeSplit, dataset: Dataset, folder: Path, name: str) -> Path:
    """Write the split (pair, role) so that any other method can be scored on exactly these pairs.

    ``python -m mtlgrn_core train --split-file`` reads it back.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return write_split(split, folder / f"{name}_{split.kind}_seed{split.seed}.csv", dataset.genes)


def with_epochs(config: TrainConfig, epochs: int | None) -> TrainConfig:
    return config if epochs is None else replace(config, epochs=epochs)


def fmt(values: pd.Series, digits: int) -> str:
    """``mean ± sd`` (ddof 1) of the non-NaN values; one value alone; ``n/a`` when none."""
    v = values.to_numpy(dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def ordered_methods(frame: pd.DataFrame, first: tuple[str, ...]) -> list[str]:
    """``first`` (those present), then the ablation variants and any other method, in order of appearance."""
    present = list(dict.fromkeys(frame["method"]))
    return [m for m in first if m in present] + [m for m in present if m not in first]


def markdown_table(frame: pd.DataFrame, methods, cols, heads, digits) -> str:
    lines = ["| method | " + " | ".join(heads) + " |", "|---|" + "---|" * len(cols)]
    for method in methods:
        rows = frame[frame["method"] == method]
        if rows.empty:
            continue
        cells = [fmt(rows[c], digits.get(c, 3)) for c in cols]
        lines.append(f"| {method.replace('|', chr(92) + '|')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
