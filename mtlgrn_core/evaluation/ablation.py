"""Ablation: a run's settings retrained with one part switched off, each variant on the same split.

Three kinds of part (:data:`PARTS`):

- ``tasks``: each task with a positive weight and the data it needs, switched off;
- ``modalities``: each gene-feature modality the data have, removed (never the last one);
- ``architecture``: what the graph neural network adds to the edge question: no pair evidence (gene
  embeddings only, the closest to the published method), evidence only (the pairwise evidence through the
  decoder's network, no embedding: no GNN), the full decoder always (where validation would choose between
  it and the evidence's own network), no regulator similarity (the pair evidence without who else regulates
  the target) and no message passing (the encoders without the GAT layers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TASKS, TrainConfig
from mtlgrn_core.model.splits import EdgeSplit
from mtlgrn_core.progress import Progress, TaskStopped

if TYPE_CHECKING:
    from mtlgrn_core.model.run import Run

PARTS = ("tasks", "modalities", "architecture")
NO_PAIR_EVIDENCE = "without pair evidence (embeddings only)"
EVIDENCE_ONLY = "evidence only (no GNN)"
FULL_DECODER = "full decoder always (no validated choice)"
NO_SIMILARITY = "without who else regulates the target (regulator similarity)"
NO_GRAPH = "without message passing (no graph)"


def ablation_variants(dataset: Dataset, config: TrainConfig, *,
                      parts: tuple[str, ...] = PARTS) -> list[tuple[str, TrainConfig]]:
    """The full settings, then one variant per part switched off (of the kinds in ``parts``).

    Only tasks with a positive weight and the data they need (a switched-off task without data would refit
    the same model) and modalities the dataset has (and ``config`` uses) are varied; a modality is not
    removed when it is the only one left; the pair-evidence variants need the edge task's data and pair
    evidence on, the no-graph variant GAT layers.
    """
    variants = [("full model", config)]
    if "tasks" in parts:
        for task in TASKS:
            if config.task_weights[task] > 0 and _has_task_data(dataset, task):
                weights = {**config.task_weights, task: 0.0}
                if any(w > 0 for w in weights.values()):
                    variants.append((f"without the {task} task", replace(config, task_weights=weights)))
    if "modalities" in parts:
        present = [m for m in config.modalities if _has_modality(dataset, m)]
        if len(present) > 1:
            for modality in present:
                rest = tuple(m for m in config.modalities if m != modality)
                variants.append((f"without {modality} features", replace(config, modalities=rest)))
    if "architecture" in parts:
        if config.pair_evidence and config.task_weights["edge"] > 0 and _has_task_data(dataset, "edge"):
            variants.append((NO_PAIR_EVIDENCE, replace(config, pair_evidence=False, edge_decoder="full")))
            variants.append((EVIDENCE_ONLY, replace(config, edge_decoder="evidence_mlp")))
            if config.edge_decoder in ("auto", "validated"):
                variants.append((FULL_DECODER, replace(config, edge_decoder="full")))
            if config.regulator_similarity:
                variants.append((NO_SIMILARITY, replace(config, regulator_similarity=False)))
        if config.layers > 0:
            variants.append((NO_GRAPH, replace(config, layers=0)))
    return variants


def _has_task_data(dataset: Dataset, task: str) -> bool:
    return {"edge": len(dataset.prior) > 0, "knockout": bool(dataset.perturbations()),
            "expression": True}[task]


def _has_modality(dataset: Dataset, modality: str) -> bool:
    return {"expression": True, "promoter": bool(dataset.promoters),
            "annotation": dataset.annotations is not None and dataset.annotations.shape[1] > 0,
            "knockout": any(len(p.genes) == 1 for p in dataset.perturbations())}[modality]


@dataclass
class Fitted:
    """One variant fitted by :func:`fit_each`: its run, or the message of why it could not train."""

    name: str
    run: "Run | None"
    error: str
    seconds: float


def fit_each(dataset: Dataset, variants: Sequence[tuple[str, TrainConfig]], split: EdgeSplit, *,
             on_step: Progress | None = None, stop: threading.Event | None = None) -> Iterator[Fitted]:
    """Fit every ``(name, settings)`` of ``variants`` on the one ``split``, in turn (the ablation's and the
    benchmarks' loop); a variant that cannot train (``DataValidationError``) comes back with its message.
    ``on_step`` hears of each start and the end; ``stop`` ends the loop with :class:`TaskStopped`."""
    from mtlgrn_core.model.train import fit

    for k, (name, variant) in enumerate(variants):
        if stop is not None and stop.is_set():
            raise TaskStopped()
        if on_step is not None:
            on_step(k, len(variants), f"training {name} ({k + 1} of {len(variants)})")
        started = time.perf_counter()
        try:
            run, error = fit(dataset, variant, split=split, stop=stop), ""
        except DataValidationError as exc:
            run, error = None, str(exc)
        yield Fitted(name, run, error, time.perf_counter() - started)
    if on_step is not None:
        on_step(len(variants), len(variants), "done")


def ablation(dataset: Dataset, config: TrainConfig, *, split: EdgeSplit | None = None,
             parts: tuple[str, ...] = PARTS, on_step: Progress | None = None,
             stop: threading.Event | None = None) -> pd.DataFrame:
    """Retrain ``config`` once per variant of :func:`ablation_variants` on one split.

    Parameters
    ----------
    split
        The split every variant trains and is tested on (a run's stored split; default: drawn from
        ``config.split`` and ``config.seed``, the same for every variant).
    parts
        Which kinds of part to switch off (default all of :data:`PARTS`).

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``variant, tasks, features, auroc, auprc, auprc_ratio, epr, auprc_change``
        (AUPRC minus the full model's), ``epochs_run``, ``seconds`` and ``note`` (why a variant could not
        train, or empty).
    """
    from mtlgrn_core.model.train import make_split

    split = split or make_split(dataset, config.split, config.seed)
    variants = ablation_variants(dataset, config, parts=parts)
    rows = []
    for fitted in fit_each(dataset, variants, split, on_step=on_step, stop=stop):
        row = {"variant": fitted.name, "tasks": "", "features": "", "auroc": np.nan, "auprc": np.nan,
               "auprc_ratio": np.nan, "epr": np.nan, "epochs_run": 0, "seconds": round(fitted.seconds, 2),
               "note": fitted.error}
        if fitted.run is not None:
            run = fitted.run
            test = (run.metrics or {}).get("test") or {}
            row.update({"tasks": ", ".join(run.tasks), "features": ", ".join(run.info.get("modalities", [])),
                        **{m: test.get(m, np.nan) for m in ("auroc", "auprc", "auprc_ratio", "epr")},
                        "epochs_run": int(run.info.get("epochs_run", 0))})
            if not test:
                row["note"] = "no test edges to score"
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.insert(frame.columns.get_loc("epr") + 1, "auprc_change", frame["auprc"] - frame["auprc"].iloc[0])
    return frame
