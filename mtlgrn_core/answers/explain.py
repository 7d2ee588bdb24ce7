"""Why a gene moves: the regulatory paths that carry a predicted knockout's change, read from the model's own
propagation (:func:`mtlgrn_core.answers.infer.standard_change`), not from a separate heuristic.

A prediction is a sum of parts, each in standard units (the gene's change divided by its spread):

- the linear responses (:meth:`mtlgrn_core.model.linear_model.LinearModel.propagate`): the perturbed genes are clamped
  at ``(dose - 1)`` times their level and every other gene follows ``delta = A delta`` (``A`` = the fitted regulator ->
  target weights times their gain). Its fixed point is the sum over every walk from a perturbed gene that meets no other
  perturbed gene on the way, of the clamp times the product of ``A`` along the walk;
- with a knockout head (a run trained on perturbations, :meth:`mtlgrn_core.model.network.MTLGRN.knockout_delta`): the
  learned propagation, the sum over walks of at most ``PROPAGATION_HOPS`` edges of the training graph of
  ``1 - dose`` times the product of the learned edge strengths; the common response to any perturbation; and
  for a perturbed gene whose knockout was measured, what the network misses of its measured response.

A path ``k -> a -> ... -> g`` therefore contributes ``clamp_k * prod A + (1 - dose_k) * prod S`` (the second
term for paths of at most ``PROPAGATION_HOPS`` edges). The parts of a gene's change (:attr:`Explanation.terms`)
are each computed from their own term: the listed paths from the edges' strengths, the common response from
``ko_offset``, the measured correction from the measured responses (:func:`measured_correction`: 0 wherever no
perturbed gene's knockout was measured); only the rest (longer walks, walks through cycles, paths not listed) is a
remainder, of the network's change (linear plus learned) less the listed paths. Their sum is therefore checked
against the model's own prediction, not equal to it by construction.

The change an edge ``r -> g`` delivers (:attr:`Propagation.effects`) is ``A[g, r]`` times ``r``'s linear change plus
``S[g, r]`` times the learned walks that reach ``r``; a gene's incoming edge effects sum to its network change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

import numpy as np
import pandas as pd
import torch
from scipy import sparse

from mtlgrn_core.answers.infer import linear_change, parse_both, standard_change, standard_levels
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.network import PROPAGATION_HOPS
from mtlgrn_core.model.run import Run

MAX_LENGTH = 4  # edges of the longest path searched
BRANCHES = 8  # regulators followed back from each gene of a path: those that deliver most of its change
EXPLAINED_GENES = 500  # genes whose paths a knockout table lists (the most changed)
COMMON = "common response to any perturbation"
MEASURED = "measured knockout of the perturbed gene(s), beyond what the network carries"
REST = "longer paths, cycles and paths not listed"  # the network's change less the listed paths
PATH_COLUMNS = ["path", "edge_signs", "contribution", "share", "genes"]


@dataclass
class Propagation:
    """The parts of one perturbation's prediction (standard units; ``n`` genes) that the explanations read."""

    perturbed: np.ndarray  # indices of the perturbed genes
    clamp: np.ndarray  # (dose - 1) x standard level of each perturbed gene: where the linear responses start
    removed: np.ndarray  # 1 - dose of each perturbed gene: where the learned propagation starts
    linear: sparse.csr_matrix  # A[target, regulator]: fitted weights times their gain
    linear_change: np.ndarray  # the linear responses' change of every gene
    learned: sparse.csr_matrix  # S[target, regulator]: learned strengths (empty without a knockout head)
    learned_reach: np.ndarray  # sum of the learned walks of 0 .. hops - 1 edges that reach each gene
    learned_change: np.ndarray  # the learned propagation's change of every gene
    common: np.ndarray  # the common response to any perturbation
    total: np.ndarray  # the model's change (what the knockout table is made from)
    scale: np.ndarray  # each gene's spread: standard units -> expression units
    hops: int = PROPAGATION_HOPS
    # what the knockout head adds for the perturbed genes whose knockout was measured (measured_correction);
    # 0 everywhere (the default) when none was
    measured: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.measured is None:
            self.measured = np.zeros_like(self.total, dtype=np.float64)

    @property
    def network(self) -> np.ndarray:
        """Each gene's change along the network: the linear responses plus the learned propagation (what the
        paths carry, listed or not)."""
        return self.linear_change + self.learned_change

    @cached_property
    def effects(self) -> sparse.csr_matrix:
        """``E[g, r]``: the change (standard units) edge ``r -> g`` delivers to ``g``; a perturbed gene's row is
        empty (the dose sets it). A gene's row sums to its network change (linear plus learned)."""
        effects = (self.linear.multiply(self.linear_change[None, :])
                   + self.learned.multiply(self.learned_reach[None, :])).tocsr()
        keep = np.ones(effects.shape[0])
        keep[self.perturbed] = 0.0
        effects = (sparse.diags(keep) @ effects).tocsr()
        effects.eliminate_zeros()
        return effects


@dataclass
class Explanation:
    """Why one gene moves after a perturbation (values in expression units).

    ``paths``: ``path, edge_signs, contribution, share, genes`` (the best first; ``share`` = contribution / change;
    ``genes`` the path's gene names as a tuple);
    ``terms``: every part of the change with its value: ``paths listed`` (the listed paths' contributions),
    :data:`COMMON` (``ko_offset`` times the depth), :data:`MEASURED` (:func:`measured_correction`) and :data:`REST`,
    the one remainder: the network's change (linear plus learned) less the listed paths. Each is computed from its
    own term, so their sum matches ``change`` (the model's prediction) up to its float32 rounding, not by
    construction.
    """

    gene: str
    perturbed: tuple[str, ...]
    change: float
    paths: pd.DataFrame
    terms: pd.Series
    note: str = ""

    @property
    def explained(self) -> float:
        """Share of the change the listed paths carry (nan when the gene does not change)."""
        listed = float(self.paths["contribution"].sum()) if len(self.paths) else 0.0
        return listed / self.change if self.change != 0 else float("nan")


def propagation(run: Run, genes: Sequence[str] | str, dose: float | Sequence[float] = 0.0) -> Propagation:
    """The parts of the prediction for perturbing ``genes`` at ``dose`` (as
    :func:`mtlgrn_core.answers.infer.predict_knockout` takes them)."""
    (idx, doses), (not_measured, _) = parse_both(run, genes, dose)
    if not_measured:
        raise DataValidationError(f"{', '.join(not_measured)} is not measured by this run, so no path starts at it: "
                                  "its change starts at its targets in the prior, each moving against the edge's "
                                  "sign. Trace the paths of a target to see how the change carries on.")
    perturbed = np.asarray(idx, dtype=np.int64)
    n = len(run.genes)
    responses = run.linear_responses()
    linear = (responses.weights * responses.gain).tocsr()
    lin = linear_change(run, idx, doses)
    learned, reach, carried, common = sparse.csr_matrix((n, n)), np.zeros(n), np.zeros(n), np.zeros(n)
    measured = np.zeros(n)
    if "knockout" in run.tasks:
        learned, reach, carried = _learned_walks(run, perturbed, doses)
        common = float((1.0 - doses).max()) * run.model().ko_offset.detach().numpy().astype(np.float64)
        measured = measured_correction(run, perturbed, doses, learned)
    return Propagation(perturbed=perturbed, clamp=(doses.astype(np.float64) - 1.0) * standard_levels(run)[perturbed],
                       removed=1.0 - doses.astype(np.float64), linear=linear, linear_change=lin, learned=learned,
                       learned_reach=reach, learned_change=carried, common=common,
                       total=standard_change(run, idx, doses, linear=lin).astype(np.float64),
                       scale=np.asarray(run.inputs.scale, dtype=np.float64), measured=measured)


def measured_correction(run: Run, perturbed: np.ndarray, doses: np.ndarray,
                        learned: sparse.csr_matrix | None = None) -> np.ndarray:
    """The knockout head's correction (standard units, every gene) for the perturbed genes whose knockout was
    measured (:meth:`mtlgrn_core.model.network.MTLGRN.knockout_delta`'s last term): for each such gene ``k``, ``1 -
    dose_k`` times what the network misses of its measured response, ``ko_response[k] - (linear_k + ko_offset +
    learned_k)`` with ``linear_k`` and ``learned_k`` the linear responses' and the learned propagation's change when
    ``k`` is knocked out alone. 0 for every gene when no perturbed gene's knockout was measured, and for a run without a
    knockout head. ``learned``: the learned strengths ``S[target, regulator]`` when already read."""
    n = len(run.genes)
    out = np.zeros(n)
    if "knockout" not in run.tasks:
        return out
    data = run.tensors()
    seen = data.response_seen.cpu().numpy()
    doses = np.asarray(doses, dtype=np.float64)
    chosen = [(int(k), float(d)) for k, d in zip(np.asarray(perturbed, dtype=np.int64), doses) if seen[k] > 0]
    if not chosen:
        return out
    if learned is None:
        learned = _learned_walks(run, np.zeros(0, dtype=np.int64), np.zeros(0))[0]
    row_of = data.ko_row_of_gene.cpu().numpy()
    response = data.ko_response.cpu().numpy().astype(np.float64)
    offset = run.model().ko_offset.detach().cpu().numpy().astype(np.float64)
    levels = standard_levels(run)
    genes = np.array([k for k, _ in chosen], dtype=np.int64)
    alone = run.linear_responses().each_alone(genes, levels)  # each measured gene knocked out alone (dose 0)
    for (k, dose), linear_alone in zip(chosen, alone):
        step, learned_alone = np.zeros(n), np.zeros(n)
        step[k] = 1.0
        for _ in range(PROPAGATION_HOPS):
            step = learned @ step
            learned_alone += step
        out += (1.0 - dose) * (response[row_of[k]] - (linear_alone + offset + learned_alone))
    return out


def _learned_walks(run: Run, perturbed: np.ndarray, doses: np.ndarray
                   ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The knockout head's learned strengths ``S[target, regulator]``, the walks of 0 .. hops - 1 edges reaching
    each gene and their sum over 1 .. hops edges (:meth:`mtlgrn_core.model.network.MTLGRN.propagate`)."""
    n = len(run.genes)
    data = run.tensors()
    with torch.no_grad():
        strength = run.model().edge_strengths(run.embeddings(), data).numpy().astype(np.float64)
    src, dst = (a.numpy() for a in data.graph)
    learned = sparse.csr_matrix((strength, (dst, src)), shape=(n, n))
    step = np.zeros(n)
    np.add.at(step, perturbed, 1.0 - doses.astype(np.float64))
    reach, carried = np.zeros(n), np.zeros(n)
    for _ in range(PROPAGATION_HOPS):
        reach += step
        step = learned @ step
        carried += step
    return learned, reach, carried


def carried(run: Run, parts: Propagation, sources: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """The change (expression units) each edge ``sources[i] -> targets[i]`` delivers to its target (0 for a
    pair that is not an edge of the propagation, e.g. an edge only the model predicts)."""
    src = np.array([run.gene_index[g] for g in sources], dtype=np.int64)
    dst = np.array([run.gene_index[g] for g in targets], dtype=np.int64)
    if src.size == 0:
        return np.zeros(0)
    return np.asarray(parts.effects[dst, src]).ravel() * parts.scale[dst]


def top_paths(parts: Propagation, target: int, *, top: int = 5, max_length: int = MAX_LENGTH,
              branches: int = BRANCHES) -> list[tuple[tuple[int, ...], float]]:
    """The ``top`` paths from a perturbed gene to ``target`` that carry most of its change: ``(genes, contribution
    in standard units)``, largest ``|contribution|`` first.

    The search walks back from ``target`` along the regulators delivering most of each gene's change
    (:attr:`Propagation.effects`, ``branches`` per gene), up to ``max_length`` edges, and stops at a perturbed gene (the
    linear responses hold it at its dose)."""
    if target in set(parts.perturbed.tolist()):
        return []
    effects = parts.effects
    start = {int(k): i for i, k in enumerate(parts.perturbed)}
    found: list[tuple[tuple[int, ...], float]] = []

    def regulators(gene: int) -> np.ndarray:
        lo, hi = effects.indptr[gene], effects.indptr[gene + 1]
        cols, vals = effects.indices[lo:hi], np.abs(effects.data[lo:hi])
        return cols[np.argsort(-vals, kind="stable")[:branches]]

    def walk(suffix: list[int], linear: float, learned: float) -> None:
        head = suffix[0]
        for reg in regulators(head):
            reg = int(reg)
            if reg in suffix:
                continue
            a, s = parts.linear[head, reg], parts.learned[head, reg]
            if reg in start:
                i, length = start[reg], len(suffix)
                value = parts.clamp[i] * linear * a + (parts.removed[i] * learned * s if length <= parts.hops else 0.0)
                found.append(((reg, *suffix), float(value)))
            elif len(suffix) < max_length:
                walk([reg, *suffix], linear * a, learned * s)

    walk([int(target)], 1.0, 1.0)
    found.sort(key=lambda item: (-abs(item[1]), item[0]))
    return found[:top]


def edge_signs(parts: Propagation, path: Sequence[int]) -> str:
    """``+`` / ``-`` for each edge of ``path``: the sign of the target's linear response to its regulator
    (it rises / falls with it), or of the learned strength where the edge has no linear response."""
    signs = []
    for reg, gene in pairwise(path):
        weight = parts.linear[gene, reg] or parts.learned[gene, reg]
        signs.append("+" if weight >= 0 else "-")
    return " ".join(signs)


def explain(run: Run, genes: Sequence[str] | str, target: str, dose: float | Sequence[float] = 0.0, *,
            top: int = 5, max_length: int = MAX_LENGTH, parts: Propagation | None = None) -> Explanation:
    """Why ``target`` moves when ``genes`` are perturbed at ``dose``: its ``top`` paths and every part of its
    change (:class:`Explanation`)."""
    parts = parts or propagation(run, genes, dose)
    if target not in run.gene_index:
        raise DataValidationError(f"gene '{target}' is not in this run's {len(run.genes)} genes. Use a gene name "
                                  "from the expression matrix.")
    g = run.gene_index[target]
    names = tuple(run.genes[i] for i in parts.perturbed)
    scale = parts.scale[g]
    if g in set(parts.perturbed.tolist()):
        empty = pd.DataFrame(columns=PATH_COLUMNS)
        return Explanation(target, names, 0.0, empty, pd.Series(dtype=np.float64),
                           note=f"{target} is perturbed: the dose sets its level.")
    change = float(parts.total[g] * scale)
    found = top_paths(parts, g, top=top, max_length=max_length)
    rows = [{"path": " -> ".join(run.genes[i] for i in path), "edge_signs": edge_signs(parts, path),
             "contribution": value * scale, "share": value * scale / change if change else np.nan,
             "genes": tuple(run.genes[i] for i in path)} for path, value in found]
    paths = pd.DataFrame(rows, columns=PATH_COLUMNS)
    listed = float(paths["contribution"].sum()) if len(paths) else 0.0
    common, measured = float(parts.common[g] * scale), float(parts.measured[g] * scale)
    terms = pd.Series({"paths listed": listed, COMMON: common, MEASURED: measured,
                       REST: float(parts.network[g] * scale) - listed})
    note = "" if found else (f"no path of at most {max_length} edges leads from {'+'.join(names)} to {target}"
                             + ("; its change comes from the parts below." if change else "."))
    return Explanation(target, names, change, paths, terms, note)


def path_column(run: Run, table: pd.DataFrame, genes: Sequence[str] | str, dose: float | Sequence[float] = 0.0, *,
                top: int = 3, limit: int = EXPLAINED_GENES, parts: Propagation | None = None) -> pd.Series:
    """For a knockout table (:func:`mtlgrn_core.answers.infer.predict_knockout`), each gene's ``top`` paths as
    ``A -> B -> C (+0.42)`` joined by ``; `` (contribution in expression units), for the ``limit`` most changed
    genes that are not perturbed; empty for the others. ``parts``: the perturbation's :func:`propagation`, when
    already computed."""
    parts = parts or propagation(run, genes, dose)
    column = pd.Series("", index=table.index, dtype=object)
    shown = table.index[~table["perturbed"].to_numpy()][:limit]
    for row in shown:
        g = run.gene_index[table.at[row, "gene"]]
        found = top_paths(parts, g, top=top)
        column[row] = "; ".join(f"{' -> '.join(run.genes[i] for i in path)} ({value * parts.scale[g]:+.3g})"
                                for path, value in found)
    return column
