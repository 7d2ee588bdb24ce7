"""Knockouts by linear propagation through a prior network: the baseline of BENCHMARK.md section 4.

Each gene is ridge-regressed on its regulators in the prior over the (observational) samples, centred; a
knockout clamps the perturbed genes' change to ``(dose - 1) x`` their wild-type level and propagates the change
through the fitted coefficients until it vanishes. This is what a user without perturbation data can get from
the prior and the expression alone, and what a model of knockouts from observational data has to beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

RIDGE = 1.0
TOLERANCE = 1e-10
MAX_STEPS = 1000


@dataclass(frozen=True)
class LinearResponses:
    """Fitted responses: ``coef[t, r]`` is the change of gene ``t`` per unit change of its regulator ``r``."""

    coef: sparse.csr_matrix
    n_genes: int

    def knockout(self, genes, levels: np.ndarray, dose: float = 0.0) -> np.ndarray:
        """Predicted change of every gene when ``genes`` (indices) are set to ``dose`` x their ``levels``
        (the wild-type expression of every gene); the perturbed genes' own change is ``(dose - 1) x`` level."""
        genes = np.atleast_1d(np.asarray(genes, dtype=np.int64))
        clamp = np.zeros(self.n_genes)
        clamp[genes] = (dose - 1.0) * np.asarray(levels, dtype=np.float64)[genes]
        return propagate(self.coef, genes, clamp[genes])


def fit_linear_responses(expression: np.ndarray, sources: np.ndarray, targets: np.ndarray,
                         ridge: float = RIDGE) -> LinearResponses:
    """Ridge regression (penalty ``ridge``) of each gene on its regulators in the edges ``sources -> targets``
    (gene indices), over the samples of ``expression`` (genes x samples), each gene centred."""
    x = np.asarray(expression, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    sources, targets = np.asarray(sources, dtype=np.int64), np.asarray(targets, dtype=np.int64)
    keep = sources != targets
    sources, targets = sources[keep], targets[keep]
    rows, cols, values = [], [], []
    for target in np.unique(targets):
        regulators = np.unique(sources[targets == target])
        design = x[regulators]  # regulators x samples
        gram = design @ design.T + ridge * np.eye(regulators.size)
        beta = np.linalg.solve(gram, design @ x[target])
        rows.append(np.full(regulators.size, target)), cols.append(regulators), values.append(beta)
    n = x.shape[0]
    if not rows:
        return LinearResponses(sparse.csr_matrix((n, n)), n)
    coef = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return LinearResponses(coef, n)


def propagate(coef: sparse.csr_matrix, clamped: np.ndarray, clamp_delta: np.ndarray, *,
              max_steps: int = MAX_STEPS, tolerance: float = TOLERANCE) -> np.ndarray:
    """The change of every gene when the genes ``clamped`` change by ``clamp_delta`` and every other gene
    follows its regulators (``delta = coef @ delta``), iterated until the change settles.

    Along an acyclic prior the change settles after as many steps as the longest path; around a cycle it
    converges when the cycle's gain is below 1. An amplifying cycle has no steady state: propagation stops
    after ``max_steps`` steps, or at the last finite state."""
    n = coef.shape[0]
    delta = np.zeros(n)
    delta[clamped] = clamp_delta
    for _ in range(max_steps):
        following = coef @ delta
        following[clamped] = clamp_delta
        if not np.all(np.isfinite(following)):
            break
        settled = np.max(np.abs(following - delta)) <= tolerance * max(1.0, np.max(np.abs(following)))
        delta = following
        if settled:
            break
    return delta
