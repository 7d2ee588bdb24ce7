"""A GeneNetWeaver-like simulator: a true network, its kinetics, and a complete demo :class:`Dataset`.

The model follows GeneNetWeaver (Schaffter et al., Bioinformatics 2011) as used for DREAM4:

* a directed network in which a subset of genes are transcription factors (TFs). TF out-degree is
  heavy-tailed (each TF has a Zipf "appeal"; a gene draws its regulators with probability proportional to
  it), TFs form a hierarchy (master regulators at the top) and a few feedback edges close loops;
* each gene follows ``dx_i/dt = m_i * f_i(x) - lambda_i * x_i``, with
  ``f_i = (b_i + (1 - b_i) * mean_a hill_a) * prod_r 1 / (1 + (x_r / k)^n)``, where
  ``hill_a = x^n / (k^n + x^n)`` over activators ``a`` and ``r`` runs over repressors. A gene without
  activators has ``f_i = 1`` times its repressions; a gene without regulators has a constant rate. Levels
  lie in ``[0, m_i / lambda_i]`` with ``m_i / lambda_i`` in ``[0.4, 1]``, like DREAM4;
* a knockout sets ``m_k = 0``, a knockdown halves it, multifactorial samples multiply every ``m_i`` by a
  log-normal factor; steady states are reached by integrating to convergence from the wild type.

Edge signs are *sign-consistent*: every gene has a polarity ``s_i = +-1`` and the edge ``i -> j`` has sign
``s_i * s_j``. Every path between two genes then has the same sign (no incoherent feed-forward loop, only
positive feedback loops), which makes the system monotone: knocking out a TF moves each of its direct
targets in the direction of the edge sign, whatever the indirect paths. Incoherent loops exist in real
networks; they are left out here so that the ground truth never contradicts the knockout data that come with
it (a benchmark scoring signed edges from knockouts would otherwise penalise correct answers).

Public API: :func:`simulate` (the demo dataset), :func:`simulate_network` (the true model behind it) and
:class:`GeneNetwork` (noise-free steady states, knockouts, edges, motifs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import CONTROL, Dataset, build_dataset

POSITIVE_GENE_FRACTION = 0.75  # share of genes with polarity +1: ~62 % of edges activate
MASTER_FRACTION = 0.2  # share of TFs at the top of the hierarchy, with no regulator
MAX_MODULES = 8
MAX_REGULATORS = 5
MODULE_AFFINITY = 3.0  # a gene's further regulators prefer the module of its first regulator
MULTIFACTORIAL_SD = 0.35  # sd of log(m_i) perturbations in multifactorial samples (capped at level 1)
SLOT = 12  # promoter sites are planted in non-overlapping slots of this many bp
MOTIF_MUTATION_RATE = 0.06
DECOY_RATE = 0.03  # chance that a TF's motif is planted in one of its non-targets
_STREAMS = ("network", "design", "noise", "prior", "promoters", "annotations")
_BACKGROUND = np.array([0.29, 0.21, 0.21, 0.29])  # A C G T: AT-rich promoter background
_BASES = np.array(list("ACGT"), dtype="S1")


def _streams(seed: int | np.random.Generator) -> dict[str, np.random.Generator]:
    """Independent random streams, so that e.g. switching promoters off leaves the expression unchanged."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return dict(zip(_STREAMS, rng.spawn(len(_STREAMS))))


def gene_names(n_genes: int) -> list[str]:
    """``G001``, ``G002``, ... zero-padded (at least 3 digits) so that sorting by name is numeric order."""
    width = max(3, len(str(n_genes)))
    return [f"G{i:0{width}d}" for i in range(1, n_genes + 1)]


# ----------------------------------------------------------------------------------------------------
# Kinetics


@dataclass(frozen=True, eq=False)
class _Wiring:
    """Sparse operators that combine, per target gene, the Hill terms of its incoming edges."""

    source: np.ndarray
    mean_activation: sparse.csr_matrix  # genes x edges, 1 / n_activators on activating edges
    sum_repression: sparse.csr_matrix  # genes x edges, 1 on repressing edges
    has_activator: np.ndarray

    @classmethod
    def build(cls, n_genes: int, source: np.ndarray, target: np.ndarray, sign: np.ndarray) -> "_Wiring":
        act = sign > 0
        n_act = np.bincount(target[act], minlength=n_genes)
        cols = np.arange(source.size)
        weights = np.where(act, 1.0 / np.maximum(n_act[target], 1), 0.0)
        shape = (n_genes, source.size)
        mean_act = sparse.csr_matrix((weights, (target, cols)), shape=shape)
        sum_rep = sparse.csr_matrix((np.where(act, 0.0, 1.0), (target, cols)), shape=shape)
        return cls(source, mean_act, sum_rep, n_act > 0)

    def production(self, x: np.ndarray, k: np.ndarray, n: np.ndarray, basal: np.ndarray) -> np.ndarray:
        """Relative production rate ``f`` in ``[0, 1]`` of every gene, for levels ``x`` (genes x samples)."""
        ratio = (x[self.source] / k[:, None]) ** n[:, None]
        activation = self.mean_activation @ (ratio / (1.0 + ratio))
        log_repression = self.sum_repression @ np.log1p(ratio)
        level = basal[:, None] + (1.0 - basal[:, None]) * activation
        level = np.where(self.has_activator[:, None], level, 1.0)
        return level * np.exp(-log_repression)


DAMPED_STEPS = (0.5, 0.25, 0.125, 0.0625)  # time steps tried in turn where the full step does not settle


@dataclass(eq=False, repr=False)
class GeneNetwork:
    """The true regulatory network and its kinetics.

    Attributes
    ----------
    genes
        Gene names in index order (sorted).
    is_tf
        Boolean mask of the TFs.
    source, target
        Gene indices of each directed edge.
    sign
        +1 (activation) or -1 (repression) per edge; equal to ``polarity[source] * polarity[target]``.
    k, n
        Hill threshold and coefficient per edge.
    feedback
        True for the edges that run up the hierarchy (they close positive feedback loops).
    max_rate, decay
        ``m_i`` and ``lambda_i``; the highest reachable level of gene ``i`` is ``m_i / lambda_i``.
    basal
        Fraction of the activated rate that a gene with activators keeps when none of them is bound.
    polarity
        +1 / -1 per gene (see the module docstring).
    module
        Integer module of each gene (the module of its first regulator; master TFs seed the modules).
    motifs
        TF name -> its binding motif (8-10 bp).
    wildtype
        Noise-free wild-type steady state (computed on creation).
    unique_wildtype
        Whether the wild-type steady state is the only one (the lowest and highest fixed points agree).
    """

    genes: tuple[str, ...]
    is_tf: np.ndarray
    source: np.ndarray
    target: np.ndarray
    sign: np.ndarray
    k: np.ndarray
    n: np.ndarray
    feedback: np.ndarray
    max_rate: np.ndarray
    decay: np.ndarray
    basal: np.ndarray
    polarity: np.ndarray
    module: np.ndarray
    motifs: dict[str, str]
    wildtype: np.ndarray = field(init=False, repr=False)
    unique_wildtype: bool = field(init=False)

    def __post_init__(self) -> None:
        self.gene_index = {g: i for i, g in enumerate(self.genes)}
        self._wiring = _Wiring.build(len(self.genes), self.source, self.target, self.sign)
        try:
            low = self.steady_states(start=self._extreme_state(high=False), max_iter=2000)[:, 0]
            high = self.steady_states(start=self._extreme_state(high=True), max_iter=2000)[:, 0]
        except RuntimeError:  # stalls near a fold: treated as ill-defined, the caller weakens feedback
            low, high = np.full(self.n_genes, np.nan), np.zeros(self.n_genes)
        self.wildtype = low
        self.unique_wildtype = bool(np.abs(high - low).max() < 1e-8)

    def __repr__(self) -> str:
        return (f"GeneNetwork({self.n_genes} genes, {int(self.is_tf.sum())} TFs, {self.source.size} edges, "
                f"{int(self.feedback.sum())} feedback)")

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def ceiling(self) -> np.ndarray:
        """``m_i / lambda_i``: each gene's level at full production."""
        return self.max_rate / self.decay

    @property
    def tfs(self) -> tuple[str, ...]:
        return tuple(g for g, t in zip(self.genes, self.is_tf) if t)

    def out_degree(self) -> np.ndarray:
        return np.bincount(self.source, minlength=self.n_genes)

    def edges(self) -> pd.DataFrame:
        """True edges as ``source, target, sign`` (gene names), sorted by source then target."""
        names = np.array(self.genes, dtype=object)
        table = pd.DataFrame({"source": names[self.source], "target": names[self.target],
                              "sign": self.sign.astype(np.int64)})
        return table.sort_values(["source", "target"], ignore_index=True)

    def edge_table(self) -> pd.DataFrame:
        """:meth:`edges` with the kinetic parameters ``k``, ``n`` and the ``feedback`` flag."""
        names = np.array(self.genes, dtype=object)
        table = pd.DataFrame({"source": names[self.source], "target": names[self.target],
                              "sign": self.sign.astype(np.int64), "k": self.k, "n": self.n,
                              "feedback": self.feedback})
        return table.sort_values(["source", "target"], ignore_index=True)

    def production(self, x: np.ndarray) -> np.ndarray:
        """Relative production ``f_i(x)`` in ``[0, 1]``; ``x`` is ``(genes,)`` or ``(genes, samples)``."""
        x = np.asarray(x, dtype=np.float64)
        out = self._wiring.production(x.reshape(self.n_genes, -1), self.k, self.n, self.basal)
        return out.reshape(x.shape)

    def derivative(self, x: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """``dx/dt = scale * m * f(x) - lambda * x`` (``scale`` multiplies ``m``; default 1)."""
        x = np.asarray(x, dtype=np.float64)
        shape = (self.n_genes,) + (1,) * (x.ndim - 1)
        scale = np.ones(x.shape) if scale is None else np.asarray(scale, dtype=np.float64)
        return scale * self.max_rate.reshape(shape) * self.production(x) - self.decay.reshape(shape) * x

    def scale_for(self, genes: str | Sequence[str] | None = None, dose: float = 0.0) -> np.ndarray:
        """Multiplier of ``m`` per gene: ``dose`` for ``genes`` (0 knockout, 0.5 knockdown), 1 elsewhere."""
        scale = np.ones(self.n_genes)
        names = [genes] if isinstance(genes, str) else list(genes or [])
        for name in names:
            if name not in self.gene_index:
                raise ValueError(f"gene '{name}' is not in the network (genes are {self.genes[0]}.."
                                 f"{self.genes[-1]}).")
            scale[self.gene_index[name]] = dose
        return scale

    def steady_state(self, knockout: str | Sequence[str] | None = None, dose: float = 0.0) -> np.ndarray:
        """Noise-free steady state after knocking ``knockout`` down to ``dose`` (default: wild type).

        Parameters
        ----------
        knockout
            A gene name, several names, or ``None`` (default) for the wild type.
        dose
            Multiplier of the knocked genes' maximal rate: 0 (default) knockout, 0.5 knockdown.
        """
        if knockout is None:
            return self.wildtype.copy()
        return self.steady_states(self.scale_for(knockout, dose)[:, None])[:, 0]

    def steady_states(self, scale: np.ndarray | None = None, *, start: np.ndarray | None = None,
                      tol: float = 1e-12, max_iter: int = 5000) -> np.ndarray:
        """Steady states for many conditions at once.

        Integrates ``dx/dt = scale * m * f(x) - lambda * x`` with the per-gene time step ``1 / lambda_i``,
        i.e. iterates ``x <- scale * m * f(x) / lambda`` until no level moves by more than ``tol``. On the
        acyclic part of the network this is exact after as many steps as the hierarchy is deep; around
        positive feedback loops it converges monotonically. A negative feedback loop can make that full
        step overshoot back and forth forever: a sample still moving after ``max_iter`` steps goes on from
        where it is with half the time step, then a quarter, down to ``DAMPED_STEPS[-1]`` (smaller Euler steps
        of the same equation, which settle wherever the loop has a stable steady state).

        Parameters
        ----------
        scale
            ``(genes, samples)`` multipliers of ``m`` (default: one unperturbed sample).
        start
            ``(genes,)`` or ``(genes, samples)`` initial levels (default: the wild type).
        tol
            Convergence threshold on the largest change of one step. Default ``1e-12``.
        max_iter
            Steps per time step size before giving up with ``RuntimeError``. Default 5000.
        """
        scale = np.ones((self.n_genes, 1)) if scale is None else np.asarray(scale, dtype=np.float64)
        start = self.wildtype if start is None else np.asarray(start, dtype=np.float64)
        x = np.array(np.broadcast_to(start.reshape(self.n_genes, -1), scale.shape), dtype=np.float64)
        target = scale * self.ceiling[:, None]
        active = np.arange(scale.shape[1])
        for step in (1.0,) + DAMPED_STEPS:
            active = self._iterate(x, target, active, step, tol, max_iter)
            if active.size == 0:
                return x
        raise RuntimeError(f"steady state not reached for {active.size} sample(s), even with a time step of "
                           f"{DAMPED_STEPS[-1]} (the network may oscillate).")

    def _iterate(self, x: np.ndarray, target: np.ndarray, active: np.ndarray, step: float, tol: float,
                 max_iter: int) -> np.ndarray:
        """Up to ``max_iter`` steps ``x <- x + step (target f(x) - x)`` of the ``active`` samples (in place);
        returns those still moving by more than ``tol``."""
        for _ in range(max_iter):
            old = x[:, active]
            new = target[:, active] * self._wiring.production(old, self.k, self.n, self.basal)
            moved = np.abs(new - old).max(axis=0)
            x[:, active] = new if step == 1.0 else old + step * (new - old)
            active = active[moved > tol]
            if active.size == 0:
                break
        return active

    def _extreme_state(self, *, high: bool) -> np.ndarray:
        """The lowest (or highest) state in the order of the monotone system: polarity-+1 genes off."""
        up = (self.polarity > 0) == high
        return np.where(up, self.ceiling, 0.0)


# ----------------------------------------------------------------------------------------------------
# Drawing a network


def _pick_regulators(rng: np.random.Generator, eligible: np.ndarray, appeal: np.ndarray,
                     tf_module: np.ndarray, count: int) -> np.ndarray:
    """``count`` regulators (positions in the TF order) drawn by appeal; the first sets the module."""
    weights = appeal[eligible]
    first = rng.choice(eligible, p=weights / weights.sum())
    if count == 1:
        return np.array([first])
    rest = eligible[eligible != first]
    weights = appeal[rest] * np.where(tf_module[rest] == tf_module[first], MODULE_AFFINITY, 1.0)
    others = rng.choice(rest, size=count - 1, replace=False, p=weights / weights.sum())
    return np.concatenate([[first], others])


def _draw_hierarchy(rng: np.random.Generator, n_genes: int, n_tfs: int,
                    mean_regulators: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Acyclic wiring: TFs in a random order regulate later TFs and all non-TFs.

    Returns ``(source, target, is_tf, tf_order, module)``.
    """
    is_tf = np.zeros(n_genes, dtype=bool)
    is_tf[rng.choice(n_genes, size=n_tfs, replace=False)] = True
    tf_order = rng.permutation(np.flatnonzero(is_tf))
    order = np.concatenate([tf_order, rng.permutation(np.flatnonzero(~is_tf))])
    appeal = (rng.permutation(n_tfs) + 1.0) ** -1.0  # Zipf: heavy-tailed out-degree
    n_masters = max(1, round(MASTER_FRACTION * n_tfs))
    module = np.full(n_genes, -1, dtype=np.int64)
    module[tf_order[:n_masters]] = np.arange(n_masters) % min(n_masters, MAX_MODULES)
    sources, targets = [], []
    for pos in range(n_masters, n_genes):
        gene = order[pos]
        eligible = np.arange(min(pos, n_tfs))
        count = min(1 + rng.poisson(mean_regulators - 1.0), MAX_REGULATORS, eligible.size)
        regs = _pick_regulators(rng, eligible, appeal, module[tf_order], count)
        module[gene] = module[tf_order[regs[0]]]
        sources.extend(tf_order[regs])
        targets.extend([gene] * count)
    return np.array(sources, dtype=np.int64), np.array(targets, dtype=np.int64), is_tf, tf_order, module


def _draw_feedback(rng: np.random.Generator, source: np.ndarray, target: np.ndarray, is_tf: np.ndarray,
                   tf_order: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` edges from a TF back to one of its TF ancestors (not a master): closed loops."""
    n_masters = max(1, round(MASTER_FRACTION * tf_order.size))
    children: dict[int, list[int]] = {}
    for s, t in zip(source, target):
        if is_tf[t]:
            children.setdefault(int(s), []).append(int(t))
    pairs = []
    for up in tf_order[n_masters:]:
        seen, stack = set(), list(children.get(int(up), []))
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(children.get(node, []))
        pairs.extend((down, int(up)) for down in sorted(seen))
    if not pairs or count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    chosen = np.sort(rng.choice(len(pairs), size=min(count, len(pairs)), replace=False))
    picked = np.array([pairs[c] for c in chosen], dtype=np.int64)
    return picked[:, 0], picked[:, 1]


def _calibrate(wiring: _Wiring, source: np.ndarray, ratio: np.ndarray, n: np.ndarray, basal: np.ndarray,
               ceiling: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hill thresholds ``k = ratio * x_source`` at the wild type, so that every edge works in its range.

    With ``x_source / k`` fixed at ``1 / ratio`` for every edge, each gene's production no longer depends on
    the levels, so the wild type is one evaluation of ``f`` (feedback included). Returns ``(k, wild type)``.
    """
    wild = ceiling * wiring.production(np.ones((ceiling.size, 1)), ratio, n, basal)[:, 0]
    return ratio * wild[source], wild


def simulate_network(n_genes: int = 150, *, seed: int | np.random.Generator = 0, tf_fraction: float = 0.15,
                     mean_regulators: float = 2.0, n_feedback: int | None = None) -> GeneNetwork:
    """Draw a random regulatory network with GeneNetWeaver-like kinetics.

    With the same arguments (and an integer ``seed``) this is the network behind :func:`simulate`.

    Parameters
    ----------
    n_genes
        Number of genes, at least 5. Default 150.
    seed
        Integer seed (default 0) or a ``numpy.random.Generator`` used as is.
    tf_fraction
        Share of genes that are TFs (at least 2 TFs). Default 0.15.
    mean_regulators
        Mean number of regulators per non-master gene (1 to 5; fewer where few TFs are upstream).
        Default 2.0.
    n_feedback
        Number of feedback edges from a TF to one of its TF ancestors. Default ``None``: one per 8 TFs.
    """
    _check_network_args(n_genes, tf_fraction, mean_regulators)
    rng = seed if isinstance(seed, np.random.Generator) else _streams(seed)["network"]
    n_tfs = int(min(n_genes - 1, max(2, round(tf_fraction * n_genes))))
    source, target, is_tf, tf_order, module = _draw_hierarchy(rng, n_genes, n_tfs, mean_regulators)
    count = max(1, n_tfs // 8) if n_feedback is None else n_feedback
    fb_source, fb_target = _draw_feedback(rng, source, target, is_tf, tf_order, count)
    polarity = np.where(rng.random(n_genes) < POSITIVE_GENE_FRACTION, 1, -1).astype(np.int64)
    ceiling = rng.uniform(0.4, 1.0, n_genes)
    decay = rng.uniform(0.5, 1.5, n_genes)
    basal = rng.uniform(0.02, 0.15, n_genes)
    ratio = np.exp(rng.uniform(-0.7, 0.7, source.size))  # k / x_source at the wild type
    hill_n = rng.uniform(1.0, 3.0, source.size)
    fb_ratio = rng.uniform(2.0, 4.0, fb_source.size)  # feedback: weak, Michaelis-Menten
    names = gene_names(n_genes)
    motifs = _draw_motifs(rng, [names[i] for i in np.flatnonzero(is_tf)])
    parts = dict(genes=tuple(names), is_tf=is_tf, max_rate=ceiling * decay, decay=decay,
                 basal=basal, polarity=polarity, module=module, motifs=motifs)
    for weakening in (1.0, 4.0, 16.0, 64.0, None):  # weaken feedback until the wild type is unique
        keep = fb_source.size if weakening is not None else 0
        src = np.concatenate([source, fb_source[:keep]])
        dst = np.concatenate([target, fb_target[:keep]])
        sign = polarity[src] * polarity[dst]
        all_ratio = np.concatenate([ratio, (weakening or 1.0) * fb_ratio[:keep]])
        hill = np.concatenate([hill_n, np.ones(keep)])
        k, _ = _calibrate(_Wiring.build(n_genes, src, dst, sign), src, all_ratio, hill, basal, ceiling)
        network = GeneNetwork(source=src, target=dst, sign=sign, k=k, n=hill,
                              feedback=np.arange(src.size) >= source.size, **parts)
        if network.unique_wildtype:
            break
    return network


def _check_network_args(n_genes: int, tf_fraction: float, mean_regulators: float) -> None:
    if int(n_genes) != n_genes or n_genes < 5:
        raise ValueError(f"n_genes must be an integer of at least 5, got {n_genes!r}.")
    if not 0.0 < tf_fraction < 1.0:
        raise ValueError(f"tf_fraction must be between 0 and 1, got {tf_fraction!r}.")
    if not 1.0 <= mean_regulators <= MAX_REGULATORS:
        raise ValueError(f"mean_regulators must be between 1 and {MAX_REGULATORS}, got {mean_regulators!r}.")


# ----------------------------------------------------------------------------------------------------
# Promoters


def _draw_motifs(rng: np.random.Generator, tfs: list[str]) -> dict[str, str]:
    """A random 8-10 bp motif per TF."""
    lengths = rng.integers(8, 11, size=len(tfs))
    return {tf: _BASES[rng.integers(0, 4, size=n)].tobytes().decode() for tf, n in zip(tfs, lengths)}


def _site(rng: np.random.Generator, motif: str) -> np.ndarray:
    """A motif copy (base codes 0-3) with a few point mutations, on a random strand."""
    codes = np.frombuffer(motif.encode(), dtype="S1")
    codes = np.searchsorted(_BASES, codes).astype(np.int64)
    mutate = rng.random(codes.size) < MOTIF_MUTATION_RATE
    codes[mutate] = (codes[mutate] + rng.integers(1, 4, size=int(mutate.sum()))) % 4
    return codes if rng.random() < 0.5 else 3 - codes[::-1]


def synthesize_promoters(network: GeneNetwork, *, seed: int | np.random.Generator = 0,
                         length: int = 500) -> dict[str, str]:
    """Promoter sequences: AT-rich background, each regulator's motif planted once, decoys elsewhere.

    Parameters
    ----------
    network
        The network whose edges decide where motifs go.
    seed
        Integer seed (default 0) or a ``numpy.random.Generator``.
    length
        Promoter length in bp. Default 500; it must hold one 12-bp slot per regulator.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_slots = length // SLOT
    need = int(np.bincount(network.target, minlength=network.n_genes).max(initial=0))
    if need > n_slots:
        raise ValueError(f"promoter_length {length} is too short: a gene has {need} regulators and each "
                         f"motif needs {SLOT} bp. Use at least {need * SLOT}.")
    seq = rng.choice(4, size=(network.n_genes, length), p=_BACKGROUND)
    tf_idx = np.flatnonzero(network.is_tf)
    is_edge = np.zeros((network.n_genes, network.n_genes), dtype=bool)
    is_edge[network.source, network.target] = True
    decoy = (rng.random((tf_idx.size, network.n_genes)) < DECOY_RATE) & ~is_edge[tf_idx]
    decoy[np.arange(tf_idx.size), tf_idx] = False
    for gene in range(network.n_genes):
        planted = list(network.source[network.target == gene]) + list(tf_idx[decoy[:, gene]])
        slots = rng.permutation(n_slots)[:len(planted)]
        for tf, slot in zip(planted, slots):
            site = _site(rng, network.motifs[network.genes[tf]])
            start = slot * SLOT + rng.integers(0, SLOT - site.size + 1)
            seq[gene, start:start + site.size] = site
    return {g: _BASES[row].tobytes().decode() for g, row in zip(network.genes, seq)}


# ----------------------------------------------------------------------------------------------------
# Samples


@dataclass
class _Design:
    names: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    doses: list[float] = field(default_factory=list)
    scales: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, label: str, dose: float, scale: np.ndarray) -> None:
        self.names.append(name)
        self.labels.append(label)
        self.doses.append(dose)
        self.scales.append(scale)

    def sheet(self) -> pd.DataFrame:
        return pd.DataFrame({"sample": self.names, "perturbation": self.labels, "dose": self.doses})


def _select_genes(spec: str | int | Sequence[str], network: GeneNetwork, rng: np.random.Generator,
                  what: str) -> list[str]:
    """Resolve ``"all"``, ``"tfs"``, ``"none"``, a count (TFs first, in random order) or a list of names."""
    if isinstance(spec, str):
        choices = {"all": list(network.genes), "tfs": list(network.tfs), "none": []}
        if spec not in choices:
            raise ValueError(f"{what} must be 'all', 'tfs', 'none', a number or a list of genes, got '{spec}'.")
        return choices[spec]
    if isinstance(spec, (int, np.integer)):
        if not 0 <= spec <= network.n_genes:
            raise ValueError(f"{what} = {spec} must be between 0 and the number of genes ({network.n_genes}).")
        tfs = rng.permutation(np.flatnonzero(network.is_tf))
        others = rng.permutation(np.flatnonzero(~network.is_tf))
        return [network.genes[i] for i in sorted(np.concatenate([tfs, others])[:spec])]
    unknown = [g for g in spec if g not in network.gene_index]
    if unknown:
        raise ValueError(f"{what}: gene(s) {', '.join(map(str, unknown[:5]))} are not in the network.")
    return sorted(dict.fromkeys(spec))


def _double_pairs(network: GeneNetwork, rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    tfs = list(network.tfs)
    pairs = [(a, b) for i, a in enumerate(tfs) for b in tfs[i + 1:]]
    if count <= 0 or not pairs:
        return []
    chosen = np.sort(rng.choice(len(pairs), size=min(count, len(pairs)), replace=False))
    return [pairs[c] for c in chosen]


def _design_samples(network: GeneNetwork, rng: np.random.Generator, *, n_control: int, n_multifactorial: int,
                    knockouts: str | int | Sequence[str], knockdowns: str | int | Sequence[str],
                    n_double_knockouts: int) -> _Design:
    design = _Design()
    ones = np.ones(network.n_genes)
    for r in range(1, n_control + 1):
        design.add(f"wt_{r}", CONTROL, 1.0, ones)
    width = max(3, len(str(n_multifactorial)))
    for r in range(1, n_multifactorial + 1):
        factor = np.exp(rng.normal(0.0, MULTIFACTORIAL_SD, network.n_genes))
        design.add(f"mf_{r:0{width}d}", "", 1.0, np.minimum(factor, 1.0 / network.ceiling))  # levels <= 1
    for gene in _select_genes(knockouts, network, rng, "knockouts"):
        design.add(f"ko_{gene}", gene, 0.0, network.scale_for(gene, 0.0))
    for gene in _select_genes(knockdowns, network, rng, "knockdowns"):
        design.add(f"kd_{gene}", gene, 0.5, network.scale_for(gene, 0.5))
    for a, b in _double_pairs(network, rng, n_double_knockouts):
        design.add(f"ko_{a}+{b}", f"{a}+{b}", 0.0, network.scale_for([a, b], 0.0))
    return design


def _measure(levels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Measurement: small multiplicative and additive Gaussian noise (both sd ``noise``), clipped at 0."""
    multiplicative = 1.0 + noise * rng.standard_normal(levels.shape)
    additive = noise * rng.standard_normal(levels.shape)
    return np.clip(levels * multiplicative + additive, 0.0, None)


# ----------------------------------------------------------------------------------------------------
# Prior, annotations and the dataset


def _sample_prior(truth: pd.DataFrame, fraction: float, rng: np.random.Generator) -> pd.DataFrame:
    keep = np.sort(rng.choice(len(truth), size=int(round(fraction * len(truth))), replace=False))
    return truth.iloc[keep].reset_index(drop=True)


def _annotations(network: GeneNetwork, promoters: dict[str, str], rng: np.random.Generator) -> pd.DataFrame:
    """Gene features: a noisy module label, conservation (tracks out-degree), half-life, GC, length."""
    n = network.n_genes
    modules = np.where(rng.random(n) < 0.1, rng.integers(0, network.module.max() + 1, n), network.module)
    conservation = 0.3 + 0.1 * np.log1p(network.out_degree()) + 0.1 * network.is_tf + rng.normal(0, 0.08, n)
    half_life = np.log(2.0) / network.decay * np.exp(rng.normal(0.0, 0.2, n))
    gc = [(seq.count("G") + seq.count("C")) / len(seq) for seq in promoters.values()]
    table = pd.DataFrame({
        "module": [f"M{m + 1}" for m in modules],
        "conservation": np.round(np.clip(conservation, 0.0, 1.0), 4),
        "half_life": np.round(half_life, 4),
        "promoter_gc": np.round(gc, 4),
        "transcript_length": np.round(np.exp(rng.normal(7.5, 0.5, n))).astype(np.int64),
    }, index=pd.Index(network.genes, name="gene"))
    return table


def _check_sample_args(n_control: int, n_multifactorial: int, noise: float, prior_fraction: float,
                       n_double_knockouts: int) -> None:
    for label, value in (("n_control", n_control), ("n_multifactorial", n_multifactorial),
                         ("n_double_knockouts", n_double_knockouts)):
        if int(value) != value or value < 0:
            raise ValueError(f"{label} must be a non-negative integer, got {value!r}.")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    if not 0.0 <= prior_fraction <= 1.0:
        raise ValueError(f"prior_fraction must be between 0 and 1, got {prior_fraction!r}.")


def simulate(n_genes: int = 150, *, seed: int = 0, tf_fraction: float = 0.15, mean_regulators: float = 2.0,
             n_feedback: int | None = None, n_multifactorial: int | None = None,
             knockouts: str | int | Sequence[str] = "all", knockdowns: str | int | Sequence[str] = "tfs",
             n_double_knockouts: int = 10, n_control: int = 3, noise: float = 0.02,
             prior_fraction: float = 0.7, promoters: bool = True, annotations: bool = True,
             promoter_length: int = 500, name: str = "simulated") -> Dataset:
    """Simulate a complete dataset (expression, prior, TFs, sample sheet, promoters, annotations, truth).

    Parameters
    ----------
    n_genes
        Number of genes (named ``G001``...). Default 150.
    seed
        Random seed; the same seed gives identical data. Default 0.
    tf_fraction, mean_regulators, n_feedback
        Network shape, see :func:`simulate_network` (defaults 0.15, 2.0, ``None``).
    n_multifactorial
        Multifactorial samples (every maximal rate times a log-normal factor; unlabelled in the sample
        sheet). Default ``None``: ``n_genes``.
    knockouts
        Single knockouts (dose 0): ``"all"`` genes (default), ``"tfs"``, ``"none"``, a number (TFs first)
        or a list of gene names.
    knockdowns
        Knockdowns to half the maximal rate (dose 0.5), same choices. Default ``"tfs"``.
    n_double_knockouts
        Knockouts of two random TFs at once (``"Gx+Gy"``). Default 10.
    n_control
        Wild-type replicates (perturbation ``"control"``). Default 3.
    noise
        Standard deviation of the additive and of the relative Gaussian measurement noise. Default 0.02.
    prior_fraction
        Share of the true edges given as the known (prior) network. Default 0.7.
    promoters, annotations
        Whether to include promoter sequences and gene annotations. Default ``True`` for both.
    promoter_length
        Promoter length in bp. Default 500.
    name
        Dataset name. Default ``"simulated"``.

    Returns
    -------
    Dataset
        Built with :func:`~mtlgrn_core.inputs.data.build_dataset`; ``truth`` holds every true edge. The noise-free
        model is ``simulate_network(n_genes, seed=seed, tf_fraction=..., mean_regulators=...,
        n_feedback=...)``.
    """
    n_multifactorial = n_genes if n_multifactorial is None else n_multifactorial
    _check_sample_args(n_control, n_multifactorial, noise, prior_fraction, n_double_knockouts)
    streams = _streams(seed)
    network = simulate_network(n_genes, seed=streams["network"], tf_fraction=tf_fraction,
                               mean_regulators=mean_regulators, n_feedback=n_feedback)
    design = _design_samples(network, streams["design"], n_control=n_control, n_multifactorial=n_multifactorial,
                             knockouts=knockouts, knockdowns=knockdowns, n_double_knockouts=n_double_knockouts)
    if len(design.names) < 2:
        raise ValueError(f"only {len(design.names)} sample(s) requested; ask for at least 2.")
    try:
        levels = network.steady_states(np.stack(design.scales, axis=1))
    except RuntimeError as exc:  # a drawn network without a stable steady state for some sample
        raise DataValidationError(f"the network of seed {seed} cannot be simulated: {exc} Pick another "
                                  "seed.") from None
    truth = network.edges()
    sequences = synthesize_promoters(network, seed=streams["promoters"], length=promoter_length)
    return build_dataset(
        genes=list(network.genes), samples=design.names, expression=_measure(levels, noise, streams["noise"]),
        prior=_sample_prior(truth, prior_fraction, streams["prior"]), tfs=list(network.tfs),
        sample_sheet=design.sheet(), promoters=sequences if promoters else None,
        annotations=_annotations(network, sequences, streams["annotations"]) if annotations else None,
        truth=truth, log_transform=False, name=name)
