"""Knockouts of regulators whose own expression is not measured: a database or motif prior names many TFs that the
expression lacks (a TF too sparse to keep in single-cell data, a deleted TF absent from an array). The prior names
them and their targets, so their change starts at their targets (issue 25, BENCHMARK.md section 5):

- each direct target moves against its edge's sign (activation: down, repression: up, unknown: down) by a step
  in standard units (:func:`learn_transfer`): how far the direct targets of the measured perturbations of prior
  regulators moved beyond the common response, where the data hold enough of them, else :data:`DEFAULT_STEP`;
- the run's linear responses carry that change on (:meth:`~mtlgrn_core.model.linear_model.LinearModel.propagate`'s
  ``start``);
- with measured perturbations, the common response of perturbing a regulator (their mean change) is added: on real
  yeast deletions it carries most of what can be predicted of an unseen deletion (docs/benchmarks.md,
  ``bench/yeast.py``).

The same functions serve the product (:func:`mtlgrn_core.answers.infer.predict_knockout`) and ``bench/yeast.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mtlgrn_core.inputs.data import Dataset
    from mtlgrn_core.model.features import ModelInputs
    from mtlgrn_core.model.linear_model import LinearModel

DEFAULT_STEP = 0.5  # standard deviations a direct target moves when no measured perturbation teaches the step
MIN_EDGES = 10  # measured (perturbed regulator, direct target) pairs needed to learn the step
MIN_PERTURBATIONS = 3  # perturbations of prior regulators needed for their own common response
TRIM = 0.1  # share of perturbations left out at each end of a gene's values for the shared response
SPREAD_INTERVAL = (0.025, 0.975)  # the central 95 % of the perturbations' changes around the common response


@dataclass(frozen=True)
class TransferResponse:
    """What measured perturbations teach about an unseen one, in standard units.

    Attributes
    ----------
    common
        Mean change of every gene over the perturbations of regulators the prior names (of every perturbation
        when fewer than :data:`MIN_PERTURBATIONS` are), trimmed (:func:`trimmed_mean`), each perturbed gene's own
        change left out; zeros without any perturbation.
    step
        How far a direct target moves against its edge's sign beyond ``common``.
    perturbations
        How many perturbations ``common`` averages (0: none).
    step_edges
        How many (perturbed regulator, direct target) pairs ``step`` was learned from (0: :data:`DEFAULT_STEP`).
    spread
        ``(2, n_genes)``: the central 95 % of those perturbations' changes around ``common`` (low, high), gene by
        gene: where a real perturbation's change fell around the prediction; zeros with fewer than
        :data:`MIN_PERTURBATIONS` perturbations.
    """

    common: np.ndarray
    step: float
    perturbations: int
    step_edges: int
    spread: np.ndarray | None = None

    def spread_or_zero(self) -> np.ndarray:
        return np.zeros((2, self.common.size)) if self.spread is None else self.spread

    def save(self, path: Path) -> None:
        """Write it to ``path`` (``.npz``, plain arrays)."""
        np.savez(path, common=self.common, step=np.float64(self.step), spread=self.spread_or_zero(),
                 counts=np.array([self.perturbations, self.step_edges], dtype=np.int64))

    @classmethod
    def read(cls, path: Path, n_genes: int) -> "TransferResponse | None":
        """What :meth:`save` wrote to ``path``, or None when absent, unreadable or not of ``n_genes``."""
        try:
            with np.load(path, allow_pickle=False) as arrays:
                common, step, counts = arrays["common"], float(arrays["step"]), arrays["counts"]
                spread = arrays["spread"]
        except (OSError, ValueError, KeyError):
            return None
        if common.shape != (n_genes,) or spread.shape != (2, n_genes):
            return None
        spread = spread.astype(np.float64) if counts[0] >= MIN_PERTURBATIONS else None  # as learn_transfer sets it
        return cls(common.astype(np.float64), step, int(counts[0]), int(counts[1]), spread)

    def describe(self) -> str:
        """Where the prediction of an unmeasured regulator's knockout comes from, in a sentence."""
        step = (f"{self.step:.2f} standard deviations, learned from {self.step_edges} direct targets of measured "
                "perturbations" if self.step_edges else f"{self.step:g} standard deviations (no measured "
                "perturbation of a prior regulator to learn it from)")
        common = (f"; plus the mean change of {self.perturbations} measured perturbations (the common response "
                  "of a perturbation)" if self.perturbations else "")
        return (f"not measured: its change starts at its targets in the prior, each moving against the edge's "
                f"sign by {step}, and the linear responses carry it on{common}")


def learn_transfer(responses: np.ndarray, perturbed: Sequence[str], edges: pd.DataFrame,
                   genes: Sequence[str]) -> TransferResponse:
    """Learn :class:`TransferResponse` from measured perturbations.

    Parameters
    ----------
    responses
        ``(n_perturbations, n_genes)`` change of every gene per perturbation, in standard units, per unit of dose
        (a knockout's full change).
    perturbed
        The perturbed gene of each row (measured or not).
    edges
        Prior edges ``source, target, sign`` whose targets are among ``genes`` (sources measured or not).
    genes
        The measured genes, in the order of ``responses``' columns.
    """
    values = np.array(responses, dtype=np.float64, copy=True).reshape(len(perturbed), len(genes))
    index = {g: i for i, g in enumerate(genes)}
    for row, gene in enumerate(perturbed):  # a perturbed gene's own change is what the dose set, not a response
        if gene in index:
            values[row, index[gene]] = np.nan
    regulators = set(edges["source"])
    rows = [r for r, g in enumerate(perturbed) if g in regulators]
    chosen = rows if len(rows) >= MIN_PERTURBATIONS else list(range(len(perturbed)))
    if not chosen:
        return TransferResponse(np.zeros(len(genes)), DEFAULT_STEP, 0, 0)
    kept = values[chosen]
    common = trimmed_mean(kept)
    spread = _spread(kept - common) if len(chosen) >= MIN_PERTURBATIONS else None
    moves = _direct_moves(values[rows] - common, [perturbed[r] for r in rows], edges, index)
    if moves.size < MIN_EDGES:
        return TransferResponse(common, DEFAULT_STEP, len(chosen), 0, spread)
    return TransferResponse(common, max(float(moves.mean()), 0.0), len(chosen), int(moves.size), spread)


def trimmed_mean(values: np.ndarray, trim: float = TRIM) -> np.ndarray:
    """Each column's mean over its finite values between its ``trim`` and ``1 - trim`` quantiles (0 where a column
    has none): a few deletions with an outsized effect do not set the response shared by the others."""
    out = np.zeros(values.shape[1])
    has = np.isfinite(values).any(axis=0)
    if not has.any():
        return out
    part = values[:, has]
    low, high = np.nanquantile(part, [trim, 1.0 - trim], axis=0)
    inside = np.isfinite(part) & (part >= low) & (part <= high)
    out[has] = np.where(inside, part, 0.0).sum(axis=0) / np.maximum(inside.sum(axis=0), 1)
    return out


def _spread(residuals: np.ndarray) -> np.ndarray:
    """``(2, n_genes)``: each gene's central 95 % of ``residuals`` (rows: perturbations; nan left out, 0 where
    a gene has none)."""
    out = np.zeros((2, residuals.shape[1]))
    has = np.isfinite(residuals).any(axis=0)
    out[:, has] = np.nanquantile(residuals[:, has], SPREAD_INTERVAL, axis=0)
    return out


def _direct_moves(residuals: np.ndarray, perturbed: Sequence[str], edges: pd.DataFrame,
                  index: Mapping[str, int]) -> np.ndarray:
    """Each measured direct target's change beyond the common response, against its edge's sign (positive:
    it moved the way the edge says a knockout moves it)."""
    row_of = {g: r for r, g in enumerate(perturbed)}
    chosen = edges[edges["source"].isin(row_of) & edges["target"].isin(index)]
    rows = chosen["source"].map(row_of).to_numpy(dtype=np.int64)
    cols = chosen["target"].map(index).to_numpy(dtype=np.int64)
    moves = -edge_direction(chosen["sign"].to_numpy()) * residuals[rows, cols]
    return moves[np.isfinite(moves)]


def dataset_transfer(dataset: "Dataset", inputs: "ModelInputs") -> TransferResponse:
    """:func:`learn_transfer` from a dataset's perturbations: the measured genes' (``inputs.ko_response``) and
    those of regulators it does not measure (:meth:`~mtlgrn_core.inputs.data.Dataset.outside_perturbations`, their
    deepest single perturbation each), over the prior and the edges from unmeasured regulators."""
    from mtlgrn_core.model.features import deepest_single_perturbations, normalised_responses

    deepest = deepest_single_perturbations(dataset.outside_perturbations())
    names = sorted(deepest)
    outside = normalised_responses(dataset.expression, [deepest[g] for g in names], inputs.baseline, inputs.scale)
    measured = [dataset.genes[g] for g in np.asarray(inputs.ko_genes, dtype=np.int64)]
    edges = pd.concat([dataset.prior, dataset.outside_prior], ignore_index=True)
    return learn_transfer(np.concatenate([inputs.ko_response, outside]), [*measured, *names], edges, dataset.genes)


def edge_direction(signs: np.ndarray) -> np.ndarray:
    """+1 for activation and unknown sign (a knockout lowers the target), -1 for repression."""
    return np.where(np.asarray(signs) < 0, -1.0, 1.0)


def start_change(regulators: Sequence[str], doses: Sequence[float], edges: pd.DataFrame,
                 index: Mapping[str, int], step: float) -> np.ndarray:
    """The change the perturbation of unmeasured ``regulators`` (to ``doses`` of their level) puts on their
    direct targets, in standard units: ``(dose - 1) x direction x step`` summed over the regulators."""
    start = np.zeros(len(index))
    for regulator, dose in zip(regulators, doses):
        mine = edges[(edges["source"] == regulator) & edges["target"].isin(index)]
        cols = mine["target"].map(index).to_numpy(dtype=np.int64)
        np.add.at(start, cols, (float(dose) - 1.0) * edge_direction(mine["sign"].to_numpy()) * step)
    return start


def outside_knockout(responses: "LinearModel", transfer: TransferResponse, regulators: Sequence[str],
                     doses: Sequence[float], edges: pd.DataFrame, index: Mapping[str, int]) -> np.ndarray:
    """The standardised change of every gene when only regulators that are not measured are perturbed: the
    change :func:`start_change` puts on their targets, carried on by the linear ``responses``, plus the common
    response (:func:`common_share` of it)."""
    start = start_change(regulators, doses, edges, index, transfer.step)
    return responses.propagate([], np.zeros(len(index)), start=start) + common_share(doses) * transfer.common


def common_share(doses: Sequence[float]) -> float:
    """How much of the common response a perturbation of unmeasured regulators at ``doses`` takes: the deepest
    loss among them, ``1 - dose`` between 0 and 1 (overexpression takes none)."""
    return float(np.clip(1.0 - np.min(np.asarray(doses, dtype=np.float64)), 0.0, 1.0)) if len(doses) else 0.0


def regulators_not_measured(edges: pd.DataFrame) -> list[str]:
    """The sources of ``edges`` (a run's edges from regulators it does not measure), sorted."""
    return sorted(set(edges["source"])) if len(edges) else []
