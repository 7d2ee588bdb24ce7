"""Pieces shared by the benchmark scripts (``dream4.py``, ``beeline.py``): BENCHMARK.md section 1 scoring of
every method on one split, the ablation fits, the split files, progress and markdown tables.

Kept in ``bench/`` (not the library): it is the measuring harness, not the product.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _p in (str(ROOT), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation.ablation import PARTS, ablation_variants, fit_each
from mtlgrn_core.evaluation.edge_evaluation import PairTable
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.methods import BASELINE_KEYS, MODEL, variant_method
from mtlgrn_core.model.metrics import edge_metrics
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import EDGE, SPLIT_NAMES, TEST, TF, EdgeSplit, write_split
from mtlgrn_core.model.train import edge_decoder

EDGE_COLS = ("auroc", "auprc", "auprc_ratio", "epr")
# Settings are chosen on the development seeds; figures are reported on the reporting seeds (new splits that no
# choice of a default has seen). Every bench runs both by default and publishes both.
DEVELOPMENT_SEEDS = (0, 1, 2, 3, 4)
REPORTING_SEEDS = (5, 6, 7, 8, 9)
SEED_GROUPS = (("reporting", REPORTING_SEEDS), ("development", DEVELOPMENT_SEEDS))
EDGE_HEAD = ("AUROC", "AUPRC", "AUPRC ratio", "EPR")
EDGE_DIGITS = {"auroc": 3, "auprc": 3, "auprc_ratio": 1, "epr": 1}


class Clock:
    """Elapsed time and progress lines on stderr."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def dream4_module(shared):
    """``bench/dream4_data`` when the shared folder holds DREAM4; else None, having said why on stderr."""
    import dream4_data  # bench/dream4_data.py (on sys.path through this module)

    try:
        dream4_data.dream4_dir(shared)
    except FileNotFoundError as exc:
        print(f"error: the shared data folder is missing or incomplete: {exc}", file=sys.stderr)
        return None
    return dream4_data


def fit_variants(dataset: Dataset, config: TrainConfig, split: EdgeSplit, *, ablation: bool,
                 clock: Clock | None = None, label: str = "", parts: tuple[str, ...] = PARTS
                 ) -> tuple[dict[str, Run], list[dict]]:
    """Fit MTLGRN (and, with ``ablation``, every variant of ``mtlgrn_core.evaluation.ablation.ablation_variants`` of the
    kinds in ``parts``: each task, each modality and each part of the network switched off) on ``split``.

    Returns ``({method: run}, timing rows)``; the full model is under ``MTLGRN``.
    """
    variants = ablation_variants(dataset, config, parts=parts) if ablation else [("full model", config)]
    variants += dashboard_variant(config, split)
    runs, timing = {}, []
    for fitted in fit_each(dataset, variants, split):
        if fitted.run is None:
            raise DataValidationError(f"{fitted.name}: {fitted.error}")
        method, run, seconds = variant_method(fitted.name), fitted.run, fitted.seconds
        runs[method] = run
        timing.append({"step": f"fit {split.kind}: {method}", "seconds": seconds,
                       "epochs_run": run.info["epochs_run"], "best_epoch": run.info["best_epoch"]})
        if clock is not None:
            clock.log(f"{label} {SPLIT_NAMES[split.kind]}: {method} {seconds:.1f}s "
                      f"({run.info['epochs_run']} epochs, best {run.info['best_epoch']})")
    return runs, timing


AS_DASHBOARD = "as the dashboard trains (validated decoder)"


def dashboard_variant(config: TrainConfig, split: EdgeSplit) -> list[tuple[str, TrainConfig]]:
    """Under the TF hold-out, the run a user gets beside the protocol's: ``edge_decoder="auto"`` resolves to the
    linear evidence decoder only when a run is trained with ``split="tf"``; the dashboard and ``train`` train on
    the edge split, whose decoder then scores a regulator without any known edge. Measured on the same TF
    split, so that the TF hold-out figure of what users get is published too. Nothing when the decoder is set."""
    if split.kind != TF or config.edge_decoder != "auto":
        return []
    as_trained = edge_decoder(replace(config, split=EDGE))
    protocol = edge_decoder(replace(config, split=split.kind))
    return [(AS_DASHBOARD, replace(config, edge_decoder=as_trained))] if as_trained != protocol else []


def edge_rows(split: EdgeSplit, runs: dict[str, Run], unsupervised: dict[str, PairTable]) -> list[dict]:
    """Section-1 metrics of every fitted run, of the baselines the library scores with each run (its
    ``metrics.json``: random, degree, reverse edge, |Pearson|, knockout z-score where there are knockouts) and
    of each unsupervised method looked up from its table, all on the split's test pairs."""
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    undefined = edge_metrics(np.zeros(labels.size), labels)  # NaN metrics: no test positive
    results = {method: run.metrics["test"] or undefined for method, run in runs.items()}
    baselines = runs[MODEL].metrics.get("baselines") or {key: undefined for key in BASELINE_KEYS}
    results.update({BASELINE_KEYS[key]: m for key, m in baselines.items()})
    results.update({name: edge_metrics(table.lookup(src, dst), labels)
                    for name, table in unsupervised.items()})
    return [{"method": method, **{k: m[k] for k in EDGE_COLS}, "n_pairs": m["n_pairs"],
             "n_positives": m["n_positives"]} for method, m in results.items()]


def save_split(split: EdgeSplit, dataset: Dataset, folder: Path, name: str) -> Path:
    """Write the split (pair, role) so that any other method can be scored on exactly these pairs.

    ``python -m mtlgrn_core train --split-file`` reads it back.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return write_split(split, folder / f"{name}_{split.kind}_seed{split.seed}.csv", dataset.genes)


def with_epochs(config: TrainConfig, epochs: int | None) -> TrainConfig:
    return config if epochs is None else replace(config, epochs=epochs)


def add_ablation_parts_option(parser: argparse.ArgumentParser) -> None:
    """``--ablation-parts``: which kinds of part the ablation switches off (default all)."""
    parser.add_argument("--ablation-parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="kinds of part the ablation varies (default: all of " + " ".join(PARTS) + ")")


def add_seeds_option(parser: argparse.ArgumentParser) -> None:
    """``--seeds``: default the development seeds 0-4 and the reporting seeds 5-9."""
    parser.add_argument("--seeds", type=int, nargs="+", default=[*DEVELOPMENT_SEEDS, *REPORTING_SEEDS],
                        help="seeds (default 0-9: settings are chosen on 0-4, the development seeds; 5-9, the "
                             "reporting seeds, are the figures to publish; tables show each group apart)")


def seed_group(seed: int) -> str:
    """``reporting`` (5-9), ``development`` (0-4) or ``other``."""
    return next((name for name, seeds in SEED_GROUPS if int(seed) in seeds), "other")


def seeds_text(seeds) -> str:
    """``0-4``, ``5, 7`` ...: the seeds as a short text."""
    seeds = sorted({int(s) for s in seeds})
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def seed_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows)`` per seed group present in ``frame`` (column ``seed``): reporting first, then development,
    then any other seed; one group labelled by its seeds alone."""
    if "seed" not in frame.columns or frame.empty:
        return [("", frame)]
    groups = frame["seed"].map(seed_group)
    present = [name for name in ("reporting", "development", "other") if (groups == name).any()]
    out = []
    for name in present:
        rows = frame[groups == name]
        out.append((f"{name} seeds {seeds_text(rows['seed'].unique())}" if name != "other"
                    else f"seeds {seeds_text(rows['seed'].unique())}", rows))
    return out


def mean_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and sd (ddof 1; 0 for one value) of the non-NaN values (NaN, NaN when none)."""
    v = values.to_numpy(dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def beyond_one_sd(a: pd.Series, b: pd.Series) -> int:
    """+1 where ``a``'s mean exceeds ``b``'s by more than the larger of their sds over seeds, -1 where it falls
    below by that much, 0 (a tie) otherwise: the rule by which a win is counted."""
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    if np.isnan(ma) or np.isnan(mb):
        return 0
    margin = max(sa, sb)
    return 1 if ma - mb > margin else -1 if mb - ma > margin else 0


def add_settings_option(parser: argparse.ArgumentParser) -> None:
    """``--set NAME=VALUE`` (repeatable): a :class:`TrainConfig` setting for every fit of the run."""
    parser.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="a TrainConfig setting for every fit, e.g. --set negative_sampling=degree "
                             "(VALUE is read as JSON where it parses, else as text); repeatable")


def _setting(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    known = {f.name for f in fields(TrainConfig)} - {"seed", "split"}
    if not sep or name.strip() not in known:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE with NAME one of {', '.join(sorted(known))}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


def bench_config(args: argparse.Namespace, **fixed) -> TrainConfig:
    """The run's :class:`TrainConfig`: ``fixed`` (seed, split) with the ``--set`` settings and ``--epochs``."""
    return with_epochs(TrainConfig(**dict(args.settings), **fixed), args.epochs)


def fmt(values: pd.Series, digits: int) -> str:
    """``mean ± sd`` (ddof 1) of the non-NaN values (:func:`mean_sd`); one value alone; ``n/a`` when none."""
    n = int(values.notna().sum())
    mean, sd = mean_sd(values)
    if n == 0:
        return "n/a"
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def ordered_methods(frame: pd.DataFrame, first: tuple[str, ...]) -> list[str]:
    """``first`` (those present), then the ablation variants and any other method, in order of appearance."""
    present = list(dict.fromkeys(frame["method"]))
    return [m for m in first if m in present] + [m for m in present if m not in first]


def publish_tables(parts: list[str], folder: Path, footer: str) -> None:
    """Write the markdown ``parts`` to ``folder/tables.md`` and print them, then ``footer``."""
    text = "\n".join(parts)
    (folder / "tables.md").write_text(text)
    print(text)
    print(footer)


def markdown_table(frame: pd.DataFrame, methods, cols, heads, digits) -> str:
    """One table (mean ± sd over seeds) per seed group of ``frame`` (reporting seeds first), and the cells where
    the development and the reporting seeds differ by more than one sd."""
    groups = seed_groups(frame)
    if len(groups) == 1:
        return _one_table(groups[0][1], methods, cols, heads, digits)
    text = "\n\n".join(f"{label.capitalize()}:\n\n" + _one_table(rows, methods, cols, heads, digits)
                        for label, rows in groups)
    return text + "\n\n" + group_disagreements(frame, methods, cols, heads)


def group_disagreements(frame: pd.DataFrame, methods, cols, heads) -> str:
    """A sentence naming every method and metric whose development and reporting means differ by more than one
    sd (the larger of the two groups' sds)."""
    groups = frame["seed"].map(seed_group)
    dev, rep = frame[groups == "development"], frame[groups == "reporting"]
    if dev.empty or rep.empty:
        return ""
    if min(dev["seed"].nunique(), rep["seed"].nunique()) < 2:
        return "One seed in a group: no sd to compare the development and reporting seeds by."
    apart = []
    for method in methods:
        for col, head in zip(cols, heads):
            a, b = rep.loc[rep["method"] == method, col], dev.loc[dev["method"] == method, col]
            if a.empty or b.empty or beyond_one_sd(a, b) == 0:
                continue
            apart.append(f"{method} {head} {mean_sd(b)[0]:.3f} -> {mean_sd(a)[0]:.3f}")
    if not apart:
        return "Development and reporting seeds agree within one sd everywhere."
    return ("Development -> reporting seeds, where the two differ by more than one sd: " + "; ".join(apart) + ".")


def _one_table(frame: pd.DataFrame, methods, cols, heads, digits) -> str:
    lines = ["| method | " + " | ".join(heads) + " |", "|---|" + "---|" * len(cols)]
    for method in methods:
        rows = frame[frame["method"] == method]
        if rows.empty:
            continue
        cells = [fmt(rows[c], digits.get(c, 3)) for c in cols]
        lines.append(f"| {method.replace('|', chr(92) + '|')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
