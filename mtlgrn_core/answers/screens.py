"""In-silico screens: which perturbation would move the lab's genes, and which would turn one group of samples into
another. A screen is every single perturbation of every candidate regulator, predicted together and ranked, then
pairs of the best.

- :func:`target_screen`: "which knockout would lower (or raise) my genes?". Each candidate is ranked by the mean
  change of the targets the wanted way, in standard units (each gene's change divided by its spread), with how many
  targets move that way by at least :data:`MOVED` of their spread.
- :func:`state_screen`: "which perturbation pushes these cells toward those?". The difference of two sample groups'
  means is the wanted change; each candidate is ranked by the cosine between its predicted change and the wanted one
  over the genes that differ most (:func:`change_screen` takes any wanted change, e.g. a measured deletion's profile).
- Candidates (:func:`screen_candidates`): the run's regulators and the regulators its prior names without measuring
  them; a target is never a candidate, and a perturbed gene's own change is never part of its match (the dose sets
  it, as the knockout metrics leave the knocked-out gene out).
- Every single perturbation goes through :func:`~mtlgrn_core.answers.infer.standard_changes` in blocks of
  :data:`BLOCK` candidates: one factorised linear propagation and the knockout head's batches per block, not one
  query per regulator. Then the best ``pairs`` singles are perturbed two at a time, each pair beside the sum of its
  two singles (its additive expectation; synergy = the pair's score minus it).
- With several runs (an ensemble's members) every member screens; a candidate's score is the members' mean, and its
  rank in each member says how stable the hit is (:data:`STABLE_TOP`).
- The top :data:`PATH_HITS` hits carry the path that moves their most moved target the most
  (:func:`~mtlgrn_core.answers.explain.top_paths`).

The scoring itself, for any matrix of predicted changes, is :mod:`~mtlgrn_core.answers.screen_scores`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlgrn_core.answers.contexts import resolve_context
from mtlgrn_core.answers.explain import propagation, top_paths
from mtlgrn_core.answers.infer import dose_warnings, standard_changes, standard_levels
from mtlgrn_core.answers.screen_scores import (
    BLOCK,
    DEFAULT_PAIRS,
    DIRECTIONS,
    MAX_PAIRS,
    MIN_GROUP_SAMPLES,
    MOVED,
    PATH_HITS,
    STABLE_TOP,
    STATE_GENES,
    match_scores,
    ranks,
    target_scores,
)
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import MAX_DOSE
from mtlgrn_core.progress import Progress, TaskStopped

if TYPE_CHECKING:  # imported for annotations only
    from mtlgrn_core.model.run import Run



@dataclass
class Screen:
    """A ranked screen.

    ``hits``: one row per candidate, best first: ``rank, regulator, measured`` (whether the run measures it),
    ``score``, then for a target screen ``targets_moved`` (of ``len(genes)``) and for a state screen ``pearson``;
    ``path`` for the top hits (an ensemble's: its first member's); with several members ``rank_low, rank_high``
    (the best and worst of its ranks in the members) and ``stable`` (the share of members ranking it in their top
    :data:`STABLE_TOP`). ``pairs``: ``pair, score, additive, synergy`` (and ``targets_moved`` / ``pearson``),
    largest synergy first. ``genes``: the targets, or the genes a state screen compares. ``question``: what was
    asked, in a sentence."""

    kind: str
    question: str
    hits: pd.DataFrame
    pairs: pd.DataFrame
    genes: list[str]
    dose: float
    notes: list[str] = field(default_factory=list)


def screen_candidates(run: Run, exclude: Sequence[str] = ()) -> list[str]:
    """The regulators a screen perturbs: the run's regulators (``tfs``), then those its prior names without measuring
    them, less ``exclude`` (the targets)."""
    skip = set(exclude)
    return [g for g in dict.fromkeys([*run.tfs, *run.regulators_not_measured()]) if g not in skip]


def target_screen(run: Run | Sequence[Run], targets: Sequence[str] | str, direction: str = "down", *,
                  dose: float = 0.0, pairs: int = DEFAULT_PAIRS, context: str | None = None,
                  progress: Progress | None = None, stop: threading.Event | None = None) -> Screen:
    """Rank every candidate regulator by how much perturbing it at ``dose`` moves ``targets`` the ``direction`` way
    (see the module). ``run``: a run, or an ensemble's members. ``context``: the samples the perturbation happens in
    (:func:`~mtlgrn_core.answers.contexts.resolve_context`; default the control samples)."""
    members = _members(run)
    first = members[0]
    if direction not in DIRECTIONS:
        raise DataValidationError(f"direction '{direction}' is neither 'down' nor 'up': say which way the targets "
                                  "should move.")
    names = parse_targets(first, targets)
    check_dose(dose)
    positions = np.array([first.gene_index[g] for g in names], dtype=np.int64)
    candidates = screen_candidates(_with_regulators(first), exclude=names)
    if not candidates:
        raise DataValidationError("no regulator is left to screen: every regulator of the run is a target. Choose "
                                  "other targets, or a run with regulators in its prior.")
    levels = [_levels(m, context) for m in members]

    def score(changes: np.ndarray, perturbed: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        value, moved = target_scores(changes, positions, direction)
        return {"score": value, "targets_moved": moved}

    verb = {"down": "lower", "up": "raise"}[direction]
    where = f" {resolve_context(first, context).describe()}" if context else ""
    question = (f"which of {len(candidates):,} regulators, {_dose_words(dose)}{where}, would {verb} "
                f"{_listed(names)} the most (mean change of the {len(names)} target{'s' if len(names) > 1 else ''} "
                f"in units of each gene's spread; moved: by at least {MOVED:g} of it)")
    screen = _screen(members, candidates, dose, levels, score, pairs, progress, stop)
    hits = _with_paths(first, screen.hits, dose, positions, direction=direction)
    return Screen("target", question, hits, screen.pairs, names, dose, dose_warnings(first, np.array([dose])))


def state_screen(run: Run | Sequence[Run], from_group: str, to_group: str, *, dose: float = 0.0,
                 pairs: int = DEFAULT_PAIRS, n_genes: int = STATE_GENES, progress: Progress | None = None,
                 stop: threading.Event | None = None) -> Screen:
    """Rank every candidate by how well its predicted change, in the ``from_group`` samples, matches the difference
    ``to_group`` minus ``from_group`` (each a ``column=value`` of the sample information, or a value of one column)
    over the ``n_genes`` genes whose group means differ most."""
    members = _members(run)
    first = members[0]
    source, target = group_columns(first, from_group), group_columns(first, to_group)
    if np.array_equal(np.sort(source), np.sort(target)):
        raise DataValidationError(f"'{from_group}' and '{to_group}' are the same samples: choose two different "
                                  "groups.")
    x = first.inputs.expression.astype(np.float64)
    wanted = x[:, target].mean(axis=1) - x[:, source].mean(axis=1)
    screen = change_screen(members, wanted, dose=dose, pairs=pairs, n_genes=n_genes, context=from_group,
                           progress=progress, stop=stop)
    screen.question = (f"which of {len(screen.hits):,} regulators, {_dose_words(dose)} in {from_group} "
                       f"({source.size} samples), would move them toward {to_group} ({target.size} samples): the "
                       f"cosine between the predicted change and the difference of the groups' means, over the "
                       f"{len(screen.genes)} genes that differ most")
    return screen


def change_screen(run: Run | Sequence[Run], wanted: np.ndarray, *, dose: float = 0.0, pairs: int = DEFAULT_PAIRS,
                  n_genes: int = STATE_GENES, context: str | None = None, progress: Progress | None = None,
                  stop: threading.Event | None = None) -> Screen:
    """Rank every candidate by the cosine between its predicted change and ``wanted`` (every gene's wanted change in
    standard units) over the ``n_genes`` genes with the largest ``|wanted|``."""
    members = _members(run)
    first = members[0]
    check_dose(dose)
    wanted = np.asarray(wanted, dtype=np.float64)
    order = np.argsort(-np.abs(wanted), kind="stable")
    compared = np.sort(order[:max(1, min(n_genes, int((np.abs(wanted) > 0).sum())))])
    if not np.abs(wanted[compared]).sum():
        raise DataValidationError("the wanted change is zero for every gene: there is nothing to match.")
    candidates = screen_candidates(_with_regulators(first))
    position = {int(g): k for k, g in enumerate(compared)}
    levels = [_levels(m, context) for m in members]

    def score(changes: np.ndarray, perturbed: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        own = np.array([next((position[first.gene_index[g]] for g in genes if first.gene_index.get(g, -1) in position),
                             -1) for genes in perturbed], dtype=np.int64)
        cosine, pearson = match_scores(changes[:, compared], wanted[compared], own)
        return {"score": cosine, "pearson": pearson}

    screen = _screen(members, candidates, dose, levels, score, pairs, progress, stop)
    gain = wanted[compared]
    hits = _with_paths(first, screen.hits, dose, compared, weights=gain)
    genes = [first.genes[g] for g in compared]
    question = (f"which of {len(candidates):,} regulators, {_dose_words(dose)}, would change the {len(genes)} genes "
                "that differ most the wanted way (cosine between predicted and wanted change)")
    return Screen("state", question, hits, screen.pairs, genes, dose, dose_warnings(first, np.array([dose])))


def parse_targets(run: Run, targets: Sequence[str] | str) -> list[str]:
    """The target genes, once each, in the run (one name per item, or separated by commas, spaces or lines)."""
    items = targets.replace(",", " ").split() if isinstance(targets, str) else \
        [t for item in targets for t in str(item).replace(",", " ").split()]
    names = list(dict.fromkeys(items))
    if not names:
        raise DataValidationError("no target gene given: name the genes the screen should move, e.g. G001,G002.")
    missing = [g for g in names if g not in run.gene_index]
    if missing:
        lower = {g.lower(): g for g in run.genes}
        hints = [f"'{g}' (did you mean '{lower[g.lower()]}'?)" if g.lower() in lower else f"'{g}'" for g in missing]
        raise DataValidationError(f"target {', '.join(hints[:10])}{' ...' if len(hints) > 10 else ''} "
                                  f"{'is' if len(missing) == 1 else 'are'} not among this run's {len(run.genes):,} "
                                  "measured genes: a target must be measured to see it move. Check the names, or "
                                  "leave those genes out.")
    return names


def group_columns(run: Run, group: str) -> np.ndarray:
    """The samples (columns) of ``group``, at least :data:`MIN_GROUP_SAMPLES` of them."""
    if run.sample_info is None:
        raise DataValidationError("this run has no sample information (a sample sheet, or a single-cell file's obs "
                                  "columns), so it has no groups to compare. Train it on data with a sample column "
                                  "such as condition or cell_type.")
    context = resolve_context(run, group, noun="group")
    if context.columns.size < MIN_GROUP_SAMPLES:
        raise DataValidationError(f"group '{group}' has {context.columns.size} sample"
                                  f"{'s' if context.columns.size != 1 else ''}; a group needs at least "
                                  f"{MIN_GROUP_SAMPLES} for its mean to say more than one sample's noise. Choose a "
                                  "larger group, or train on more samples of it.")
    return context.columns


def group_choices(run: Run, column: str) -> list[str]:
    """The values of a sample column with at least :data:`MIN_GROUP_SAMPLES` samples, as ``column=value``; a column
    with fewer than two such values is refused (there is nothing to compare)."""
    info = run.sample_info
    if info is None or column not in info.columns:
        shown = "none" if info is None else ", ".join(map(str, info.columns))
        raise DataValidationError(f"the samples have no column '{column}' (their columns: {shown}).")
    counts = info[column].astype(str).value_counts()
    usable = sorted(v for v, n in counts.items() if n >= MIN_GROUP_SAMPLES)
    if len(usable) < 2:
        raise DataValidationError(f"column '{column}' has {len(counts)} value{'s' if len(counts) != 1 else ''} "
                                  f"({', '.join(map(str, counts.index[:5]))}) and {len(usable)} with at least "
                                  f"{MIN_GROUP_SAMPLES} samples: a state screen needs two groups. Choose another "
                                  "column.")
    return [f"{column}={v}" for v in usable]


# -- the computation ---------------------------------------------------------------------------------------------

@dataclass
class _Ranked:
    hits: pd.DataFrame
    pairs: pd.DataFrame


def _screen(members: list[Run], candidates: list[str], dose: float, levels: list[np.ndarray], score, pairs: int,
            progress: Progress | None, stop: threading.Event | None) -> _Ranked:
    """Every single perturbation in every member, scored and ranked; then pairs of the best ``pairs``."""
    blocks = [candidates[i:i + BLOCK] for i in range(0, len(candidates), BLOCK)]
    steps = len(blocks) * len(members) + (1 if pairs >= 2 else 0)
    per_member: list[dict[str, np.ndarray]] = []
    for m, (run, level) in enumerate(zip(members, levels)):
        parts: list[dict[str, np.ndarray]] = []
        for b, block in enumerate(blocks):
            _report(progress, stop, m * len(blocks) + b, steps,
                    f"perturbing regulators {b * BLOCK + 1:,}-{b * BLOCK + len(block):,} of {len(candidates):,}"
                    + (f" (member {m + 1} of {len(members)})" if len(members) > 1 else ""))
            singles = [[g] for g in block]
            parts.append(score(_changes(run, singles, dose, level), singles))
        per_member.append({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    hits = _hit_table(candidates, per_member, members[0])
    pair_table = pd.DataFrame(columns=["pair", "score", "additive", "synergy"])
    if pairs >= 2:
        _report(progress, stop, steps - 1, steps, f"perturbing pairs of the best {min(pairs, len(hits))}")
        pair_table = _pair_table(members, hits, dose, levels, score, pairs)
    _report(progress, None, steps, steps, "done")
    return _Ranked(hits, pair_table)


def _changes(run: Run, perturbations: Sequence[Sequence[str]], dose: float, levels: np.ndarray) -> np.ndarray:
    """Standard changes of every gene (rows: perturbations) of measured and unmeasured regulators alike."""
    measured, outside = [], []
    for genes in perturbations:
        inside = [run.gene_index[g] for g in genes if g in run.gene_index]
        others = [g for g in genes if g not in run.gene_index]
        measured.append((inside, np.full(len(inside), dose, dtype=np.float32)))
        outside.append((others, np.full(len(others), dose, dtype=np.float32)))
    return standard_changes(run, measured, outside=outside, levels=levels)


def _hit_table(candidates: list[str], per_member: list[dict[str, np.ndarray]], first: Run) -> pd.DataFrame:
    mean = {k: np.mean([s[k] for s in per_member], axis=0) for k in per_member[0]}
    table = pd.DataFrame({"regulator": candidates, "measured": [g in first.gene_index for g in candidates], **mean})
    if "targets_moved" in table:
        table["targets_moved"] = np.rint(table["targets_moved"]).astype(np.int64) if len(per_member) == 1 \
            else table["targets_moved"].round(1)
    table.insert(0, "rank", ranks(table["score"].to_numpy(), candidates))
    if len(per_member) > 1:
        each = np.stack([ranks(s["score"], candidates) for s in per_member])
        table["rank_low"], table["rank_high"] = each.min(axis=0), each.max(axis=0)
        table["stable"] = (each <= STABLE_TOP).mean(axis=0)
    return table.sort_values("rank").reset_index(drop=True)


def _pair_table(members: list[Run], hits: pd.DataFrame, dose: float, levels: list[np.ndarray], score,
                pairs: int) -> pd.DataFrame:
    """Pairs of the best ``pairs`` singles: each pair's score beside its additive expectation (the score of the sum of
    its two singles' changes, which for a target screen is the sum of their scores)."""
    best = hits["regulator"].head(min(pairs, MAX_PAIRS)).tolist()
    combos = [list(c) for c in itertools.combinations(best, 2)]
    if not combos:
        return pd.DataFrame(columns=["pair", "score", "additive", "synergy"])
    together, additive = [], []
    for run, level in zip(members, levels):
        singles = _changes(run, [[g] for g in best], dose, level)
        where = {g: k for k, g in enumerate(best)}
        summed = np.stack([singles[where[a]] + singles[where[b]] for a, b in combos])
        together.append(score(_changes(run, combos, dose, level), combos))
        additive.append(score(summed, combos))
    table = pd.DataFrame({"pair": ["+".join(c) for c in combos]})
    for key in together[0]:
        table[key] = np.mean([t[key] for t in together], axis=0)
    table["additive"] = np.mean([a["score"] for a in additive], axis=0)
    table["synergy"] = table["score"] - table["additive"]
    return table.sort_values(["synergy", "pair"], ascending=[False, True]).reset_index(drop=True)


def _with_paths(run: Run, hits: pd.DataFrame, dose: float, genes: np.ndarray, *, direction: str | None = None,
                weights: np.ndarray | None = None) -> pd.DataFrame:
    """``path``: for each of the top :data:`PATH_HITS` measured hits, the strongest path from it to the gene of
    ``genes`` it moves most the wanted way (``direction``, or the sign of ``weights``), with its contribution in
    expression units."""
    hits = hits.copy()
    hits["path"] = ""
    for row in hits.index[:PATH_HITS]:
        regulator = hits.at[row, "regulator"]
        if regulator not in run.gene_index:
            hits.at[row, "path"] = "starts at its targets in the prior (not measured)"
            continue
        parts = propagation(run, [regulator], dose)
        moved = parts.total[genes] * (weights if weights is not None else (-1.0 if direction == "down" else 1.0))
        gene = int(genes[int(np.argmax(moved))])
        found = top_paths(parts, gene, top=1)
        if found:
            path, value = found[0]
            hits.at[row, "path"] = f"{' -> '.join(run.genes[i] for i in path)} ({value * parts.scale[gene]:+.3g})"
    return hits


# -- checks and words ---------------------------------------------------------------------------------------------

def _members(run: Run | Sequence[Run]) -> list[Run]:
    members = [run] if not isinstance(run, (list, tuple)) else list(run)
    if not members:
        raise DataValidationError("no run to screen.")
    return members


def _with_regulators(run: Run) -> Run:
    """``run``, refused when it has no regulator to perturb."""
    if not run.tfs and not run.regulators_not_measured():
        raise DataValidationError("this run has no regulator to screen: it was trained without a prior network or a "
                                  "TF list. Train it with a prior (network.csv) or a tfs.txt.")
    return run


def check_dose(dose: float) -> None:
    """A screen's dose: from 0 to MAX_DOSE, not 1 (which perturbs nothing)."""
    if not np.isfinite(dose) or not 0.0 <= dose <= MAX_DOSE:
        raise DataValidationError(f"dose {dose:g} is outside the range a perturbation can take here (0 to "
                                  f"{MAX_DOSE:g}): 0 knocks out, 0.5 knocks down to half, 2 overexpresses twofold.")
    if dose == 1.0:
        raise DataValidationError("dose 1 leaves every gene at its level: there is nothing to screen. Use 0 for "
                                  "knockouts, a value below 1 for knockdowns or above 1 for overexpression.")


def _levels(run: Run, context: str | None) -> np.ndarray:
    return standard_levels(run) if context is None else standard_levels(run, resolve_context(run, context).baseline)


def _dose_words(dose: float) -> str:
    if dose == 0:
        return "each knocked out"
    return f"each knocked down to {dose:g}" if dose < 1 else f"each overexpressed {dose:g}-fold"


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _report(progress: Progress | None, stop: threading.Event | None, done: int, total: int, message: str) -> None:
    if stop is not None and stop.is_set():
        raise TaskStopped()
    if progress is not None:
        progress(done, total, message)
