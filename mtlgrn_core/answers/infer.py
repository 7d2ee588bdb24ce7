"""Inference: ranked scores for candidate TF -> gene pairs, and predicted knockout / knockdown effects.

Pairs are scored in batches of TFs and only the best ones are kept, so 20,000 genes x 1,500 TFs never
become a dense matrix in memory.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from mtlgrn_core.answers.contexts import resolve_context
from mtlgrn_core.answers.knockout_evidence import evidence
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.block_scoring import EdgeBlockScorer
from mtlgrn_core.model.outside_regulators import outside_knockout, start_change
from mtlgrn_core.model.pair_scoring import BLOCK_PAIRS

if TYPE_CHECKING:  # imported for annotations only: model.run imports nothing from here
    from mtlgrn_core.model.run import Run


class ExtrapolationWarning(UserWarning):
    """A query lies outside what the model saw in training (e.g. overexpression)."""


def score_edges(run: Run, *, top: int | None = None, regulators: Sequence[str] | None = None,
                tf_batch: int | None = None, progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Rank candidate regulatory pairs.

    Every regulator x gene pair is scored in blocks of regulators (:class:`EdgeBlockScorer`: matrix
    products, no step per pair) and only the best ones are kept as the blocks go (a partial sort of each
    block's candidates above the running cut-off), so 20,000 genes x 1,500 TFs never become one matrix in
    memory.

    Parameters
    ----------
    run
        A trained run.
    top
        Keep the ``top`` best pairs (default: all pairs when there are at most 1,000,000, else 100,000).
    regulators
        Restrict to these regulators (default: every TF of the run).
    tf_batch
        Regulators scored per block (default: enough for about 65,000 pairs a block).
    progress
        Called with the share of regulators scored (0-1) after each block.

    Returns
    -------
    pandas.DataFrame
        ``rank, source, target, score, in_prior`` sorted by decreasing score (``in_prior``: the pair is an
        edge of the prior network the run was given).
    """
    tfs = list(dict.fromkeys(run.tfs if regulators is None else regulators))
    unknown = [t for t in tfs if t not in run.gene_index]
    if unknown:
        raise DataValidationError(f"regulator(s) {', '.join(unknown[:5])} are not genes of this run.")
    n_genes = len(run.genes)
    top = default_top(len(tfs) * (n_genes - 1)) if top is None else top
    tf_idx = torch.as_tensor([run.gene_index[t] for t in tfs], dtype=torch.long)
    tf_batch = tf_batch or max(1, BLOCK_PAIRS // max(n_genes, 1))
    scorer = EdgeBlockScorer(run.model(), run.embeddings(), run.tensors(), tf_batch)
    best = _TopPairs(top)
    with torch.no_grad():
        for start in range(0, len(tf_idx), tf_batch):
            chunk = tf_idx[start:start + tf_batch]
            logits = scorer(chunk).clone()
            logits[torch.arange(len(chunk)), chunk] = -torch.inf  # a gene does not regulate itself here
            best.add(logits.numpy(), chunk.numpy())
            if progress is not None:
                progress(min(1.0, (start + len(chunk)) / len(tf_idx)))
    logits, best_src, best_dst = best.result()
    scores = torch.sigmoid(torch.as_tensor(logits)).numpy()
    order = np.lexsort((best_dst, best_src, -scores))
    names = np.array(run.genes, dtype=object)
    table = pd.DataFrame({"source": names[best_src[order]], "target": names[best_dst[order]],
                          "score": scores[order]})
    prior = set(zip(run.prior["source"], run.prior["target"]))
    table["in_prior"] = [(s, t) in prior for s, t in zip(table["source"], table["target"])]
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def default_top(n_pairs: int) -> int:
    """How many ranked pairs to keep by default: all of them up to 1,000,000, else the best 100,000."""
    return n_pairs if n_pairs <= 1_000_000 else 100_000


class _TopPairs:
    """The ``top`` highest logits seen over blocks ``(regulators, genes)``, with their pairs: each block only
    hands over what beats the current cut-off, and the kept pairs are cut back to ``top`` (a partial sort)
    whenever they reach twice that."""

    def __init__(self, top: int):
        self.top = top
        self.cutoff = -np.inf
        self.logits: list[np.ndarray] = []
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []
        self.kept = 0

    def add(self, logits: np.ndarray, regulators: np.ndarray) -> None:
        rows, cols = np.nonzero(logits > self.cutoff) if np.isfinite(self.cutoff) else \
            np.nonzero(np.isfinite(logits))
        self.logits.append(logits[rows, cols])
        self.src.append(regulators[rows])
        self.dst.append(cols.astype(np.int64))
        self.kept += rows.size
        if self.kept >= 2 * self.top:
            self._shrink()

    def _shrink(self) -> None:
        logits, src, dst = (np.concatenate(x) for x in (self.logits, self.src, self.dst))
        if len(logits) > self.top:
            part = np.argpartition(-logits, max(self.top - 1, 0))[:self.top]
            logits, src, dst = logits[part], src[part], dst[part]
            self.cutoff = float(logits.min()) if len(logits) else np.inf
        self.logits, self.src, self.dst, self.kept = [logits], [src], [dst], len(logits)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._shrink()
        return self.logits[0], self.src[0].astype(np.int64), self.dst[0]


def _parse_genes(run: Run, genes: Sequence[str] | str) -> list[int]:
    """The measured genes' indices (every name checked: measured, or a regulator the prior names that the run
    does not measure: :func:`parse_outside`)."""
    names = _gene_names(run, genes)
    return [run.gene_index[g] for g in names if g in run.gene_index]


def _gene_names(run: Run, genes: Sequence[str] | str) -> list[str]:
    """The perturbed genes' names, once each, checked against the run's genes and unmeasured regulators."""
    names = list(dict.fromkeys(g.strip() for g in (genes.split(",") if isinstance(genes, str) else genes)
                               if g.strip()))
    if not names:
        raise DataValidationError("no gene given to knock out. Name one or more genes, e.g. --genes G001,G002.")
    missing = [g for g in names if g not in run.gene_index]
    outside = set(run.regulators_not_measured()) if missing else set()
    missing = [g for g in missing if g not in outside]
    if missing:
        lower = {g.lower(): g for g in [*run.genes, *outside]}
        hints = [f"'{g}' (did you mean '{lower[g.lower()]}'?)" if g.lower() in lower else f"'{g}'"
                 for g in missing]
        also = f", nor one of the {len(outside):,} regulators its prior names without measuring them" \
            if outside else ""
        raise DataValidationError(f"gene {', '.join(hints)} is not in this run's {len(run.genes)} genes{also}. "
                                  "Use a gene name from the expression matrix, or a regulator of the prior network "
                                  "with a target among them.")
    return names


def predict_knockout(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float] = 0.0, *,
                     samples: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Predicted expression of every gene after perturbing ``genes``.

    Parameters
    ----------
    run
        A trained run. With a trained knockout task its knockout head predicts; without (no perturbation
        data), the change propagates linearly along the run's known network (:func:`prediction_source`).
    genes
        Gene names (a list, or a comma-separated string).
    dose
        Remaining fraction of each perturbed gene's level: 0 knockout (default), 0 < dose < 1 knockdown,
        dose > 1 overexpression (a :class:`ExtrapolationWarning` is issued outside the doses seen in
        training). One value for all genes, or one per gene.
    samples
        The context (:func:`~mtlgrn_core.answers.contexts.resolve_context`: ``column=value`` of the sample information,
        a value of one of its columns, or sample names): the knockout is predicted from the mean expression of
        those samples instead of the control samples'. Default: the control samples.

    Returns
    -------
    pandas.DataFrame
        ``gene, baseline, predicted, delta, log2fc, perturbed`` sorted by decreasing ``|delta|``, and for regulators
        the run does not measure alone ``range_low, range_high``: where the change of the run's measured
        perturbations fell around it (central 95 %, :class:`~mtlgrn_core.model.outside_regulators.TransferResponse`);
        ``attrs["warnings"]`` lists any warning, ``attrs["source"]`` says where the prediction comes from,
        ``attrs["evidence"]`` how well such predictions agreed with real deletions
        (:mod:`~mtlgrn_core.answers.knockout_evidence`).
    """
    (idx, doses), outside = parse_both(run, genes, dose)
    context = None if samples is None else resolve_context(run, samples)
    baseline = run.inputs.baseline.astype(np.float64) if context is None else context.baseline
    notes = dose_warnings(run, doses)
    delta_std = standard_changes(run, [(idx, doses)], outside=[outside], levels=standard_levels(run, baseline))[0]
    for note in notes:
        warnings.warn(note, ExtrapolationWarning, stacklevel=2)
    predicted = perturbed_levels(run, idx, doses, delta_std, baseline)
    table = pd.DataFrame({"gene": run.genes, "baseline": baseline, "predicted": predicted,
                          "delta": predicted - baseline,
                          "log2fc": _log2fc(baseline, predicted, run.info.get("log_transformed", False),
                                            run.info.get("non_negative", True)),
                          "perturbed": np.isin(np.arange(len(run.genes)), idx)})
    if outside[0] and not idx and run.transfer_response().spread is not None:
        low, high = run.transfer_response().spread * run.inputs.scale.astype(np.float64)
        table["range_low"], table["range_high"] = table["delta"] + low, table["delta"] + high
    table = table.reindex(table["delta"].abs().sort_values(ascending=False, kind="stable").index)
    table = table.reset_index(drop=True)
    table.attrs["warnings"] = notes
    table.attrs["source"] = prediction_source(run, outside[0], measured=bool(idx))
    table.attrs["not_measured"] = outside[0]
    table.attrs["evidence"] = evidence(run, outside[0])
    table.attrs["context"] = "" if context is None else context.describe()
    return table


def predict_knockouts(run: Run, perturbations: Sequence[Sequence[str] | str], dose: float = 0.0) -> pd.DataFrame:
    """The predicted change of every gene after each of many perturbations, computed together: the linear responses
    propagate each one (:meth:`~mtlgrn_core.model.linear_model.LinearModel.propagate_each`) and the knockout head takes
    them in batches (:func:`standard_changes`), so knocking out every regulator needs one call, not one query per
    regulator.

    Parameters
    ----------
    run
        A trained run.
    perturbations
        Each one a list of gene names perturbed together (or a comma-separated string), e.g.
        ``[["G001"], ["G001", "G002"]]``.
    dose
        Remaining fraction of every perturbed gene's level (as :func:`predict_knockout`'s, one for all).

    Returns
    -------
    pandas.DataFrame
        ``gene, baseline``, then one column per perturbation, named by its genes joined by ``+`` (``G001+G002``),
        holding :func:`predict_knockout`'s ``delta`` for it; genes in the run's order. ``attrs`` as
        :func:`predict_knockout`'s.
    """
    both = [parse_both(run, genes, dose) for genes in perturbations]
    parsed, outside = [measured for measured, _ in both], [unmeasured for _, unmeasured in both]
    names = ["+".join([*(run.genes[i] for i in idx), *regulators]) for (idx, _), (regulators, _) in
             zip(parsed, outside)]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataValidationError(f"perturbation {', '.join(repeated)} is given more than once; give each once.")
    notes = dose_warnings(run, np.concatenate([doses for _, doses in parsed])) if parsed else []
    changes = standard_changes(run, parsed, outside=outside)
    for note in notes:
        warnings.warn(note, ExtrapolationWarning, stacklevel=2)
    baseline = run.inputs.baseline.astype(np.float64)
    deltas = np.empty((len(run.genes), len(parsed)))
    for column, ((idx, doses), change) in enumerate(zip(parsed, changes)):
        deltas[:, column] = perturbed_levels(run, idx, doses, change) - baseline
    table = pd.concat([pd.DataFrame({"gene": run.genes, "baseline": baseline}),
                       pd.DataFrame(deltas, columns=names)], axis=1)
    table.attrs["warnings"] = notes
    table.attrs["source"] = prediction_source(run, sorted({g for regulators, _ in outside for g in regulators}))
    return table


def read_perturbation_file(run: Run, path: str | Path) -> list[list[str]]:
    """The perturbations listed in a text file, checked against ``run``'s genes (for :func:`predict_knockouts`):
    one a line, a gene or several joined by ``+`` (``G001+G002``); blank lines and lines starting with ``#``
    are skipped.

    Raises
    ------
    DataValidationError
        Naming the file and line of an unknown gene (with a did-you-mean hint) or of a perturbation given twice,
        or when the file cannot be read or lists none.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path} cannot be read ({type(exc).__name__}: {exc}). Give a text file with one "
                                  "perturbation a line, e.g. G001 or G001+G002.") from exc
    perturbations: list[list[str]] = []
    first_line: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        genes = [g.strip() for g in text.split("+") if g.strip()]
        try:
            _parse_genes(run, genes)
        except DataValidationError as exc:
            raise DataValidationError(f"{path.name}, line {number}: {exc}") from exc
        key = tuple(dict.fromkeys(genes))
        if key in first_line:
            raise DataValidationError(f"{path.name}, line {number}: {'+'.join(key)} repeats line {first_line[key]}; "
                                      "list each perturbation once.")
        first_line[key] = number
        perturbations.append(list(key))
    if not perturbations:
        raise DataValidationError(f"{path.name} lists no perturbation. Write one a line: a gene (G001) or genes "
                                  "perturbed together joined by + (G001+G002); lines starting with # are skipped.")
    return perturbations


def perturbed_levels(run: Run, idx: Sequence[int], doses: np.ndarray, delta_std: np.ndarray,
                     baseline: np.ndarray | None = None) -> np.ndarray:
    """Every gene's predicted level from its standardised change ``delta_std`` (:func:`standard_change`): the
    perturbed genes ``idx`` are set by their dose, and levels of non-negative data stay at 0 or above (data
    with negative values, such as log ratios against a reference, are not bounded; a run saved before
    ``info["non_negative"]`` existed judges by its baseline). ``baseline``: the levels it starts from (default
    the control samples' mean; a context's, :mod:`~mtlgrn_core.answers.contexts`)."""
    baseline = run.inputs.baseline.astype(np.float64) if baseline is None else np.asarray(baseline, np.float64)
    predicted = baseline + delta_std.astype(np.float64) * run.inputs.scale
    predicted[idx] = baseline[idx] * doses
    non_negative = run.info.get("non_negative", bool(baseline.min() >= 0))
    return np.maximum(predicted, 0.0) if non_negative else predicted


#: what :func:`predict_knockout` says of its table (``attrs``), carried by the tables built on it
TABLE_ATTRS = {"warnings": [], "source": "", "evidence": "", "not_measured": [], "context": ""}

KNOCKOUT_HEAD_SOURCE = ("learned from perturbation data: each gene's linear response to its regulators in the known "
                        "network, with what this run's perturbed samples taught the knockout head (the common "
                        "response to any perturbation, corrections along the network, and the measured response of "
                        "each gene whose knockout was measured)")
LINEAR_SOURCE = ("from observational data only (this run's knockout task was not trained: no perturbed samples, or "
                 "switched off): each gene's linear response to its regulators in the known network, ridge-fitted "
                 "on the samples, carries the change along the network until it settles")
NO_NETWORK_SOURCE = ("nothing to propagate: this run's knockout task was not trained and it has no known network, so "
                     "only the perturbed genes change")


def prediction_source(run: Run, not_measured: Sequence[str] = (), *, measured: bool = True) -> str:
    """Where the run's knockout predictions come from, in a sentence for the user; for the perturbed regulators
    it does not measure (``not_measured``), how their change starts (alone with ``measured=False``: no measured
    gene is perturbed)."""
    outside = f"{', '.join(not_measured)}: {run.transfer_response().describe()}" if not_measured else ""
    if not measured and outside:
        return f"for {outside}"
    if "knockout" in run.tasks:
        source = KNOCKOUT_HEAD_SOURCE
    else:
        source = LINEAR_SOURCE if len(run.prior) else NO_NETWORK_SOURCE
    if outside:
        return f"{source}; {outside}"
    unmeasured = run.regulators_not_measured()
    many = len(unmeasured) > 1
    return source + (f"; the {len(unmeasured):,} regulator{'s' if many else ''} the prior names without measuring "
                     f"{'them start their' if many else 'it starts its'} change at {'their' if many else 'its'} "
                     "targets in it" if unmeasured else "")


def _measured_alone(run: Run, idx: Sequence[int] | np.ndarray) -> torch.Tensor:
    """The linear responses' change for each gene whose knockout was measured (rows of ``inputs.ko_genes``),
    knocked out alone, filled only for the perturbed genes ``idx`` (the rows the knockout head reads)."""
    ko_genes = np.asarray(run.inputs.ko_genes, dtype=np.int64)
    out = np.zeros((ko_genes.size, len(run.genes)), dtype=np.float32)
    rows = np.flatnonzero(np.isin(ko_genes, np.asarray(idx, dtype=np.int64)))
    if rows.size:
        out[rows] = run.linear_responses().each_alone(ko_genes[rows], standard_levels(run))
    return torch.as_tensor(out)


def parse_perturbation(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float]
                       ) -> tuple[list[int], np.ndarray]:
    """The perturbed measured genes' indices and one dose per gene (float32), checked: every gene in the run
    (or a regulator it does not measure: :func:`parse_outside`), doses finite and not negative, one dose or one
    per gene."""
    return parse_both(run, genes, dose)[0]


def parse_outside(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float]
                  ) -> tuple[list[str], np.ndarray]:
    """The perturbed regulators the run does not measure and their doses (the rest of
    :func:`parse_perturbation`)."""
    return parse_both(run, genes, dose)[1]


def parse_both(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float]
               ) -> tuple[tuple[list[int], np.ndarray], tuple[list[str], np.ndarray]]:
    """:func:`parse_perturbation` and :func:`parse_outside` of one perturbation, its names checked once."""
    names, doses = _named_doses(run, genes, dose)
    measured = np.array([g in run.gene_index for g in names], dtype=bool)
    return (([run.gene_index[g] for g, m in zip(names, measured) if m], doses[measured]),
            ([g for g, m in zip(names, measured) if not m], doses[~measured]))


def _named_doses(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float]) -> tuple[list[str], np.ndarray]:
    names = _gene_names(run, genes)
    doses = np.broadcast_to(np.asarray(dose, dtype=np.float32), (len(names),)).copy() if np.ndim(dose) == 0 \
        else np.asarray(dose, dtype=np.float32)
    if len(doses) != len(names):
        raise DataValidationError(f"{len(doses)} doses for {len(names)} genes: give one dose or one per gene.")
    if (doses < 0).any() or not np.isfinite(doses).all():
        raise DataValidationError("a dose must be 0 (knockout) or more; 1 means unperturbed.")
    return names, doses


def standard_change(run: Run, idx: Sequence[int], doses: np.ndarray, *, linear: np.ndarray | None = None
                    ) -> np.ndarray:
    """The model's change of every gene (standard units) when genes ``idx`` are set to ``doses`` times their
    level: the linear responses' propagation (:func:`linear_change`, or ``linear`` when already computed), plus
    what the knockout head learned from perturbations where the run has one. The perturbed genes' own values are
    set by the dose afterwards (:func:`perturbed_levels`). One perturbation of :func:`standard_changes`."""
    return standard_changes(run, [(idx, doses)], linear=None if linear is None else np.asarray(linear)[None, :])[0]


def standard_changes(run: Run, perturbations: Sequence[tuple[Sequence[int], np.ndarray]], *,
                     linear: np.ndarray | None = None,
                     outside: Sequence[tuple[Sequence[str], np.ndarray]] | None = None,
                     levels: np.ndarray | None = None) -> np.ndarray:
    """:func:`standard_change` of each perturbation ``(idx, doses)``: one row per perturbation. The linear
    responses propagate them all at once (or ``linear`` holds their rows), then the knockout head, where the run
    has one, adds what it learned in batches of :func:`head_batch_size` perturbations.

    ``outside`` (one ``(regulators, doses)`` per perturbation, from :func:`parse_outside`) adds regulators the
    run does not measure: their change starts at their targets (:mod:`~mtlgrn_core.model.outside_regulators`), and a
    perturbation of such regulators alone takes the common response of the run's measured perturbations in
    place of the knockout head. ``levels``: the genes' levels in standard units that a perturbation takes away
    (default :func:`standard_levels`; a context's)."""
    genes, doses, offsets = _flatten(perturbations)
    levels = standard_levels(run) if levels is None else levels
    measured = [row for row, (idx, _) in enumerate(perturbations) if len(idx)]
    with_genes = set(measured)
    mixed = outside is not None and any(len(outside[row][0]) for row in measured)
    if linear is None:
        starts = _outside_starts(run, [outside[row] if row in with_genes else ((), ()) for row in
                                       range(len(perturbations))]) if mixed else None
        linear = run.linear_responses().propagate_each(genes, doses, offsets, levels, starts)
    out = np.array(linear, dtype=np.float64, copy=True)
    for row in sorted(set(range(len(perturbations))) - with_genes):  # unmeasured regulators alone
        out[row] = outside_knockout(run.linear_responses(), run.transfer_response(), *outside[row],
                                    run.outside_prior, run.gene_index)
    if "knockout" not in run.tasks or not measured:
        return out
    chosen = [perturbations[row] for row in measured]
    genes, doses, offsets = _flatten(chosen)
    alone = _measured_alone(run, genes)  # the rows the head reads for every measured gene perturbed
    step = head_batch_size(len(run.genes))
    batches = [slice(first, first + step) for first in range(0, len(chosen), step)]
    rows = np.asarray(measured)
    out[rows] = np.concatenate([_head_change(run, genes, doses, offsets[b.start:b.stop + 1], out[rows[b]], alone)
                                for b in batches])
    return out


def _outside_starts(run: Run, outside: Sequence[tuple[Sequence[str], np.ndarray]]) -> np.ndarray:
    """One row per perturbation: the change its unmeasured regulators put on their targets (standard units)."""
    step = run.transfer_response().step
    return np.stack([start_change(regulators, doses, run.outside_prior, run.gene_index, step)
                     for regulators, doses in outside])


def head_batch_size(n_genes: int) -> int:
    """Perturbations the knockout head takes at once: a few dense rows of ``n_genes`` each, about 2**22 numbers."""
    return max(1, (1 << 22) // max(n_genes, 1))


def _flatten(perturbations: Sequence[tuple[Sequence[int], np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(genes, doses, offsets)``: perturbation ``j`` sets ``genes[offsets[j]:offsets[j + 1]]`` to ``doses``
    (the layout of :meth:`~mtlgrn_core.model.network.MTLGRN.knockout_delta` and ``LinearModel.propagate_each``)."""
    sizes = [len(idx) for idx, _ in perturbations]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    genes = np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _ in perturbations]) if sizes else \
        np.zeros(0, dtype=np.int64)
    doses = np.concatenate([np.asarray(d, dtype=np.float32) for _, d in perturbations]) if sizes else \
        np.zeros(0, dtype=np.float32)
    return genes, doses, offsets


def _head_change(run: Run, genes: np.ndarray, doses: np.ndarray, offsets: np.ndarray, linear: np.ndarray,
                 alone: torch.Tensor) -> np.ndarray:
    """The knockout head's change for the perturbations whose genes are ``genes[offsets[0]:offsets[-1]]`` (a
    batch of :func:`standard_changes`), given their linear changes (rows of ``linear``)."""
    part = slice(int(offsets[0]), int(offsets[-1]))
    with torch.no_grad():  # the head adds what it learned from perturbations to the linear responses
        observed = torch.as_tensor(linear, dtype=torch.float32)
        return run.model().knockout_delta(run.embeddings(), run.tensors(), torch.as_tensor(genes[part]),
                                          torch.as_tensor(doses[part]), torch.as_tensor(offsets - offsets[0]),
                                          observed, alone).numpy()


def linear_change(run: Run, idx: Sequence[int], doses: np.ndarray) -> np.ndarray:
    """Standardised change of every gene by linear propagation (:meth:`Run.linear_responses`): the perturbed
    genes move by ``(dose - 1) x`` their baseline level, in standard units."""
    return run.linear_responses().propagate(np.asarray(idx, dtype=np.int64), standard_levels(run),
                                            dose=np.asarray(doses, dtype=np.float64))


def standard_levels(run: Run, baseline: np.ndarray | None = None) -> np.ndarray:
    """Each gene's baseline level in standard units (what a knockout takes away): the control samples' mean, or
    ``baseline`` (a context's levels)."""
    levels = run.inputs.baseline if baseline is None else baseline
    return np.asarray(levels, dtype=np.float64) / run.inputs.scale.astype(np.float64)


def dose_warnings(run: Run, doses: np.ndarray) -> list[str]:
    """Sentences warning about doses outside what the run's knockout head saw in training (overexpression
    included); none for a run without one (its linear responses hold at every dose alike)."""
    if "knockout" not in run.tasks:
        return []
    lo, hi = run.inputs.dose_range
    notes = []
    if (doses > 1).any():
        notes.append(f"dose {doses.max():g} is overexpression; training saw doses {lo:g}-{hi:g}, so this is an "
                     "extrapolation of the learned response.")
    elif (doses < lo).any() or (doses > max(hi, 1.0)).any():
        notes.append(f"dose outside the range seen in training ({lo:g}-{hi:g}); treat the prediction with care.")
    return notes


def _log2fc(baseline: np.ndarray, predicted: np.ndarray, log_scale: bool, non_negative: bool = True) -> np.ndarray:
    """log2 fold change; on log1p data it is the difference of the natural logs converted to base 2; none
    (nan) for data with negative values that are not log1p (e.g. log ratios: their change is the ``delta``)."""
    if log_scale:
        return (predicted - baseline) / np.log(2.0)
    if baseline.min() < 0 or not non_negative or predicted.min() < 0:
        return np.full_like(baseline, np.nan)
    pseudo = max(1e-3, 0.01 * float(np.mean(baseline)))
    return np.log2((predicted + pseudo) / (baseline + pseudo))
