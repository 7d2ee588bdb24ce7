"""Each gene as a linear function of its known regulators, and a change carried along the network by it
(numpy / scipy only): the knockout baseline "linear propagation" and what every knockout prediction starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg


#: Columns of ``(I - gain W)^-1`` solved at once (each an ``n_genes`` float64 vector): bounds the memory of a
#: batch of perturbations.
SOLVE_COLUMNS = 256


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Each gene as a linear function of its known regulators (fitted by :func:`fit_linear_model`).

    Attributes
    ----------
    weights
        Sparse ``(n_genes, n_genes)`` matrix; ``weights[g, r]`` is the effect of regulator ``r`` on ``g``.
    gain
        Factor the weights are multiplied by when propagating: 1, or less when the network's cycles would
        amplify a change without bound (then the spectral radius of ``|weights|`` is brought to
        ``max_gain``).

    A change is carried to its fixed point by a sparse LU factorisation of ``I - gain * weights``
    (``scipy.sparse.linalg.splu``, computed once per model): the sum over every walk, with no iteration to stop
    early. The gain keeps the spectral radius of ``gain * |weights|`` below 1, so the matrix, and every principal
    block of it, can be inverted.
    """

    weights: sparse.csr_matrix
    gain: float

    def __getstate__(self) -> dict:
        """Pickled without the factorisation (it cannot be pickled; it is computed again when first used)."""
        return {key: value for key, value in self.__dict__.items() if key != "_factor"}

    @cached_property
    def _factor(self) -> splinalg.SuperLU:
        n = self.weights.shape[0]
        return splinalg.splu((sparse.identity(n, format="csc") - self.gain * self.weights).tocsc())

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        """``(I - gain W)^-1 rhs`` for a vector or the columns of a matrix."""
        return self._factor.solve(np.ascontiguousarray(rhs, dtype=np.float64))

    def _unit_columns(self, genes: np.ndarray) -> np.ndarray:
        """``(n_genes, len(genes))``: the columns of ``(I - gain W)^-1`` of ``genes``: how a unit push held on one
        gene spreads."""
        rhs = np.zeros((self.weights.shape[0], genes.size))
        rhs[genes, np.arange(genes.size)] = 1.0
        return self._solve(rhs)

    def propagate(self, ko_genes: int | Sequence[int], baseline: np.ndarray, *, dose: float | np.ndarray = 0.0,
                  start: np.ndarray | None = None) -> np.ndarray:
        """Predicted change of every gene when ``ko_genes`` are set to ``dose * baseline``.

        The knocked-out genes are clamped to their change ``(dose - 1) * baseline``; every other gene follows
        ``delta = start + gain * W delta`` at its fixed point. ``start`` (default none) is a change put on genes
        from outside the model and held there, e.g. on the targets of a regulator whose own expression is not
        measured (:mod:`~mtlgrn_core.model.outside_regulators`); ``ko_genes`` may then be empty. A gene listed
        twice takes its last dose.
        """
        ko, clamp = _last_dose(ko_genes, dose, baseline)
        n = self.weights.shape[0]
        free = np.zeros(n) if start is None else self._solve(np.asarray(start, dtype=np.float64).ravel())
        return _clamped(free, self._unit_columns(ko), ko, clamp)

    def propagate_each(self, genes: np.ndarray, doses: np.ndarray, offsets: np.ndarray,
                       baseline: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """:meth:`propagate` for each perturbation ``j`` (it sets ``genes[offsets[j]:offsets[j + 1]]`` to
        ``doses`` times ``baseline``, and holds ``starts[j]`` where given): one row of changes per
        perturbation. The perturbations share one factorisation, and are solved :data:`SOLVE_COLUMNS` genes at
        a time."""
        genes, offsets = np.asarray(genes, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
        doses = np.broadcast_to(np.asarray(doses, dtype=np.float64), genes.shape)
        out = np.zeros((len(offsets) - 1, self.weights.shape[0]))
        first = 0
        while first < len(out):
            last = _batch_end(offsets, first)
            used = np.unique(genes[offsets[first]:offsets[last]])
            columns = self._unit_columns(used)
            free = np.zeros((last - first, out.shape[1])) if starts is None else \
                self._solve(np.asarray(starts[first:last], dtype=np.float64).T).T
            for j in range(first, last):
                part = slice(offsets[j], offsets[j + 1])
                ko, clamp = _last_dose(genes[part], doses[part], baseline)
                out[j] = _clamped(free[j - first], columns[:, np.searchsorted(used, ko)], ko, clamp)
            first = last
        return out

    def each_alone(self, genes: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """:meth:`propagate` of each of ``genes`` knocked out alone (dose 0): one row per gene."""
        genes = np.asarray(genes, dtype=np.int64)
        return self.propagate_each(genes, np.zeros(genes.size), np.arange(genes.size + 1), baseline)


def _last_dose(ko_genes, dose, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct perturbed genes (each at its last listed dose) and the change each is clamped to."""
    ko = np.atleast_1d(np.asarray(ko_genes, dtype=np.int64))
    doses = np.broadcast_to(np.asarray(dose, dtype=np.float64), ko.shape)
    genes, last_from_end = np.unique(ko[::-1], return_index=True)
    last = ko.size - 1 - last_from_end
    base = np.asarray(baseline, dtype=np.float64).ravel()
    return genes, (doses[last] - 1.0) * base[genes]


def _clamped(free: np.ndarray, columns: np.ndarray, ko: np.ndarray, clamp: np.ndarray) -> np.ndarray:
    """The fixed point with ``ko`` held at ``clamp``: ``free`` (what the held start alone gives) plus the unit
    pushes on ``ko`` (``columns``) weighted so that each clamped gene lands on its clamp."""
    delta = free.copy()
    if ko.size:
        delta += columns @ np.linalg.solve(columns[ko], clamp - free[ko])
        delta[ko] = clamp
    return delta


def _batch_end(offsets: np.ndarray, first: int) -> int:
    """The end of the batch of perturbations from ``first`` whose genes number at most :data:`SOLVE_COLUMNS`
    (at least one perturbation)."""
    last = first + 1
    while last < len(offsets) - 1 and offsets[last + 1] - offsets[first] <= SOLVE_COLUMNS:
        last += 1
    return last


def fit_linear_model(expression: np.ndarray, regulators: np.ndarray, *, ridge: float = 1e-3,
                     relative: bool = True, max_gain: float = 0.95) -> LinearModel:
    """Regress each gene on its known regulators (least squares with intercept and a small ridge).

    Parameters
    ----------
    expression
        ``(n_genes, n_samples)`` of non-knockout samples.
    regulators
        ``(2, n)`` edges ``source -> target`` (gene indices); self-loops and duplicates are ignored.
    ridge
        Ridge penalty, relative to the mean variance of the regulators (default 1e-3), or as it is with
        ``relative=False`` (BENCHMARK.md section 4: lambda = 1).
    max_gain
        Largest spectral radius allowed for ``|W|`` in propagation (default 0.95; keeps cycles stable).
    """
    x = np.asarray(expression, dtype=np.float64)
    xc = x - x.mean(axis=1, keepdims=True)
    edges = np.asarray(regulators, dtype=np.int64).reshape(2, -1)
    edges = edges[:, edges[0] != edges[1]]
    n = x.shape[0]
    rows, cols, vals = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for g, sel in group_indices(edges[1]):
        regs = np.unique(edges[0, sel])
        a = xc[regs]
        gram = a @ a.T
        lam = ridge * max(float(np.trace(gram)) / regs.size, 1e-12) if relative else ridge
        rows.append(np.full(regs.size, g, dtype=np.int64))
        cols.append(regs)
        vals.append(np.linalg.solve(gram + lam * np.eye(regs.size), a @ xc[g]))
    weights = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                shape=(n, n))
    radius = _spectral_radius_bound(abs(weights))
    return LinearModel(weights=weights, gain=1.0 if radius < max_gain else max_gain / radius)


def fit_observational_model(expression: np.ndarray, regulators: np.ndarray) -> LinearModel:
    """The linear model of BENCHMARK.md section 4 (ridge lambda = 1, not relative): how a knockout is predicted
    from observational data and a known network (the section's baseline, and what a run without a trained
    knockout head uses)."""
    return fit_linear_model(expression, regulators, ridge=1.0, relative=False)


def linear_propagation(expression_non_ko: np.ndarray, regulators: np.ndarray, ko_genes: int | Sequence[int],
                       baseline: np.ndarray, *, dose: float = 0.0, ridge: float = 1e-3) -> np.ndarray:
    """The linear-propagation baseline in one call: :func:`fit_linear_model` then :meth:`LinearModel.propagate`.

    Fit once with :func:`fit_linear_model` when predicting many knockouts from the same data.
    """
    return fit_linear_model(expression_non_ko, regulators, ridge=ridge).propagate(ko_genes, baseline, dose=dose)


def _spectral_radius_bound(a: sparse.csr_matrix, *, n_iter: int = 200) -> float:
    """An upper bound on the spectral radius of a non-negative sparse matrix.

    The radius is the largest over the strongly connected components (an acyclic graph has radius 0).
    For each cyclic component, ``max_i ((I + B) v)_i / v_i - 1`` bounds the radius of its block ``B`` for
    any positive ``v`` (Collatz-Wielandt; ``I + B`` is primitive, so power iteration makes it tight).
    """
    from scipy.sparse.csgraph import connected_components

    if a.nnz == 0:
        return 0.0
    _, comp = connected_components(a, directed=True, connection="strong")
    sizes = np.bincount(comp)
    radius = 0.0
    for c in np.flatnonzero(sizes > 1):
        idx = np.flatnonzero(comp == c)
        block = a[idx][:, idx]
        v = np.ones(idx.size)
        for _ in range(n_iter):
            v = v + block @ v
            v /= v.max()
        radius = max(radius, float(((block @ v) / v).max()))
    return radius


def group_indices(keys: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """``(key, positions)`` for each distinct key, keys ascending, positions ascending."""
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    ends = np.append(starts[1:], keys.size)
    for key, lo, hi in zip(uniq, starts, ends):
        yield int(key), order[lo:hi]
