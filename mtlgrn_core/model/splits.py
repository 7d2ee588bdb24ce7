"""Reproducible train / validation / test splits of BENCHMARK.md (sections 1 and 2).

Candidate pairs are every ``(t, g)`` with ``t`` a TF, ``g`` a gene and ``t != g``, enumerated TF-major with TFs
and genes sorted by name. In a :class:`~mtlgrn_core.inputs.data.Dataset` the genes are sorted by name, so sorting by
gene index is sorting by name. Candidate id ``tf_position * n_genes + gene`` orders the candidates exactly so.

A split stores one ``int8`` role and one ``bool`` label per ``(TF, gene)`` slot (two bytes a slot, 60 MB for
20,000 genes x 1,500 TFs); no dense float matrix is ever built.

- :func:`edge_holdout_split`: positives and negatives each split 60 / 10 / 30 % at random.
- :func:`grouped_edge_split`: the same with the two directions of a pair (``a -> b`` and ``b -> a``) always
  in one role, so that a test edge's reverse is never a training edge (reported beside the protocol's split).
- :func:`tf_holdout_split`: the TFs split 60 / 10 / 30 %; every pair of a test TF is a test pair, and no
  train / val pair touches a test TF.
- :func:`draw_split` draws any of them by kind (:data:`SPLIT_KINDS`); :func:`candidate_pairs` enumerates the
  candidate pairs.
- :func:`knockout_folds`: the seeded 5-fold cross-validation over knocked-out genes.
- :meth:`EdgeSplit.to_frame` / :meth:`EdgeSplit.from_frame` (and :func:`write_split` / :func:`read_split`)
  save and reload a split so that any other method can be scored on identical pairs (a stated kind that the
  roles certainly contradict is refused, :func:`kind_contradiction`);
  :meth:`EdgeSplit.to_arrays` / :meth:`EdgeSplit.from_arrays` store it compactly with a run (two bits a slot).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError

NOT_CANDIDATE, TRAIN, VAL, TEST = -1, 0, 1, 2
ROLE_NAMES = {TRAIN: "train", VAL: "val", TEST: "test"}
ROLE_CODES = {name: code for code, name in ROLE_NAMES.items()}
FRACTIONS = (0.6, 0.1)  # train, val; test is the rest
SPLIT_COLUMNS = ("source", "target", "label", "role")
EDGE, EDGE_GROUPED, TF = "edge", "edge_grouped", "tf"
SPLIT_KINDS = (EDGE, EDGE_GROUPED, TF)
SPLIT_NAMES = {EDGE: "edge hold-out", EDGE_GROUPED: "edge hold-out, reciprocal pairs grouped",
               TF: "TF hold-out"}


@dataclass(frozen=True, eq=False)
class EdgeSplit:
    """A split of all candidate ``(TF, gene)`` pairs into train / val / test.

    Attributes
    ----------
    tfs
        Gene indices of the TFs, ascending (= sorted by name when the genes are sorted by name).
    n_genes
        Number of genes.
    role
        ``int8`` array of length ``len(tfs) * n_genes`` indexed by candidate id ``tf_position * n_genes +
        gene``: -1 not a candidate (``t == g``, or left out by the TF hold-out), 0 train, 1 val, 2 test.
    positive
        ``bool`` array of the same length: the pair is in the edge set (always ``False`` where role is -1).
    kind
        ``"edge"`` (edge hold-out), ``"edge_grouped"`` (edge hold-out with both directions of a pair in one
        role) or ``"tf"`` (TF hold-out).
    seed
        The seed ``s`` the split was drawn with (-1 when unknown, e.g. read from a file).
    """

    tfs: np.ndarray
    n_genes: int
    role: np.ndarray
    positive: np.ndarray
    kind: str
    seed: int

    @property
    def n_tfs(self) -> int:
        return int(len(self.tfs))

    def ids(self, role: int | str) -> np.ndarray:
        """Candidate ids of one role (``0``/``"train"``, ``1``/``"val"``, ``2``/``"test"``), ascending."""
        return np.flatnonzero(self.role == _role_code(role))

    def _decode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.tfs[ids // self.n_genes], (ids % self.n_genes).astype(np.int64)

    def pairs(self, role: int | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(src, dst, label)`` of the pairs of one role, in candidate order.

        ``src`` and ``dst`` are ``int64`` gene indices, ``label`` is ``int8`` (1 = edge).
        """
        ids = self.ids(role)
        src, dst = self._decode(ids)
        return src, dst, self.positive[ids].astype(np.int8)

    def positives(self, role: int | str) -> np.ndarray:
        """``(2, n)`` gene indices of the positive pairs of one role (for ``"train"``: the usable prior)."""
        ids = np.flatnonzero((self.role == _role_code(role)) & self.positive)
        return np.stack(self._decode(ids)) if ids.size else np.zeros((2, 0), dtype=np.int64)

    def edges(self) -> np.ndarray:
        """``(2, n)`` gene indices of every positive pair, whatever its role (the candidate edges split)."""
        ids = np.flatnonzero(self.positive)
        return np.stack(self._decode(ids)) if ids.size else np.zeros((2, 0), dtype=np.int64)

    def counts(self) -> dict[str, int]:
        """Pairs and positives per role: ``{"train_pairs": ..., "train_positives": ..., ...}``."""
        out = {}
        for code, name in ROLE_NAMES.items():
            mask = self.role == code
            out[f"{name}_pairs"] = int(mask.sum())
            out[f"{name}_positives"] = int((mask & self.positive).sum())
        return out

    def test_tfs(self) -> np.ndarray:
        """Gene indices of the TFs whose pairs are all test pairs (TF hold-out); empty for edge hold-out."""
        if self.kind != TF:
            return np.zeros(0, dtype=np.int64)
        by_tf = self.role.reshape(self.n_tfs, self.n_genes)
        return self.tfs[(by_tf == TEST).any(axis=1)]

    def to_frame(self, genes: Sequence[str]) -> pd.DataFrame:
        """The candidate pairs as a table ``source, target, label, role`` (gene names; role train/val/test).

        Rows are in candidate order (TF-major); pairs with role -1 are left out.
        """
        _check_genes(genes, self.n_genes)
        ids = np.flatnonzero(self.role >= 0)
        src, dst = self._decode(ids)
        names = np.asarray(genes, dtype=object)
        role_names = np.array([ROLE_NAMES[c] for c in (TRAIN, VAL, TEST)], dtype=object)
        return pd.DataFrame({"source": names[src], "target": names[dst],
                             "label": self.positive[ids].astype(np.int8),
                             "role": role_names[self.role[ids]]})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, genes: Sequence[str], *, tfs: Sequence[str] | None = None,
                   kind: str | None = None, seed: int = -1, file: str = "split.csv",
                   first_line: int = 2) -> "EdgeSplit":
        """Rebuild a split from a :meth:`to_frame` table.

        Parameters
        ----------
        frame
            Columns ``source, target, label, role``.
        genes
            Gene names of the dataset, sorted (``Dataset.genes``).
        tfs
            TF names (default ``None``: every gene that appears as a source).
        kind
            The split's kind (``None``, the default: read from the roles, see :func:`infer_kind`); a kind
            the roles certainly contradict (:func:`kind_contradiction`) is refused.
        seed
            Stored on the split (default -1 = unknown).
        file, first_line
            File name and 1-based line of the first row, for error messages (defaults ``"split.csv"``, 2).

        Raises
        ------
        DataValidationError
            A column is missing, a name is unknown, a label is not 0/1, a role is not train/val/test, a pair
            is a self-pair or appears twice, or ``kind`` is not a kind or one the roles contradict (the message
            names the kind the roles make and how to fix the file).
        """
        missing = [c for c in SPLIT_COLUMNS if c not in frame.columns]
        if missing:
            raise DataValidationError(f"missing column(s) {', '.join(missing)}. A split file has the columns "
                                      f"{', '.join(SPLIT_COLUMNS)}.", file=file)
        _check_genes(genes, len(genes))
        gene_index = {g: i for i, g in enumerate(genes)}
        src = _names_to_index(frame["source"], gene_index, "source", file, first_line)
        dst = _names_to_index(frame["target"], gene_index, "target", file, first_line)
        tf_idx = np.unique(src) if tfs is None else _tf_indices(tfs, gene_index, file)
        tf_pos = np.full(len(genes), -1, dtype=np.int64)
        tf_pos[tf_idx] = np.arange(len(tf_idx))
        _check_rows(frame, src, dst, tf_pos, file, first_line)
        n_genes = len(genes)
        ids = tf_pos[src] * n_genes + dst
        _check_unique_pairs(ids, frame, file, first_line)
        role = np.full(len(tf_idx) * n_genes, NOT_CANDIDATE, dtype=np.int8)
        positive = np.zeros(len(tf_idx) * n_genes, dtype=bool)
        role[ids] = frame["role"].astype(str).str.strip().map(ROLE_CODES).to_numpy(dtype=np.int8)
        positive[ids] = _labels(frame["label"], file, first_line) == 1
        tf_idx = tf_idx.astype(np.int64)
        found = infer_kind(tf_idx, n_genes, role)
        if kind is None:
            kind = found
        elif kind not in SPLIT_KINDS:
            raise DataValidationError(f"split kind '{kind}' is not one of {', '.join(SPLIT_KINDS)}. Fix the "
                                      "'# mtlgrn split kind=...' line.", file=file)
        else:
            reason = kind_contradiction(kind, tf_idx, n_genes, role, genes)
            if reason is not None:
                raise DataValidationError(
                    f"the file says kind={kind}, but its roles make a split of kind {found} "
                    f"({SPLIT_NAMES[found]}): {reason}. Correct the first line to '# mtlgrn split kind={found}', "
                    f"or remove kind={kind} from it to let the roles decide (they make kind {found}).", file=file)
        return cls(tfs=tf_idx, n_genes=n_genes, role=role, positive=positive, kind=kind, seed=int(seed))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The split as a few arrays, for saving with a run: ``tfs``, ``n_genes``, the roles packed four
        to a byte (``role + 1`` in two bits) and the candidate ids of the positives. :meth:`from_arrays`
        reverses it; ``kind`` and ``seed`` are kept by the caller."""
        codes = (self.role + 1).astype(np.uint8)
        codes = np.concatenate([codes, np.zeros((-codes.size) % 4, dtype=np.uint8)]).reshape(-1, 4)
        packed = (codes[:, 0] << 6) | (codes[:, 1] << 4) | (codes[:, 2] << 2) | codes[:, 3]
        return {"tfs": self.tfs.astype(np.int64), "n_genes": np.array([self.n_genes], dtype=np.int64),
                "role_packed": packed.astype(np.uint8), "positive_ids": np.flatnonzero(self.positive)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], *, kind: str, seed: int) -> "EdgeSplit":
        """The split saved by :meth:`to_arrays`."""
        tfs = np.asarray(arrays["tfs"], dtype=np.int64)
        n_genes = int(np.asarray(arrays["n_genes"]).ravel()[0])
        size = tfs.size * n_genes
        packed = np.asarray(arrays["role_packed"], dtype=np.uint8)
        codes = np.stack([(packed >> shift) & 3 for shift in (6, 4, 2, 0)], axis=1).reshape(-1)[:size]
        if codes.size != size:
            raise ValueError(f"the stored roles cover {codes.size} of {size} pairs")
        positive = np.zeros(size, dtype=bool)
        positive[np.asarray(arrays["positive_ids"], dtype=np.int64)] = True
        return cls(tfs=tfs, n_genes=n_genes, role=codes.astype(np.int8) - 1, positive=positive, kind=kind,
                   seed=int(seed))


# ----------------------------------------------------------------------------------------------------
# Drawing splits


def edge_holdout_split(n_genes: int, tfs: Sequence[int] | np.ndarray, edges: np.ndarray, seed: int) -> EdgeSplit:
    """The edge hold-out split of BENCHMARK.md section 1.

    With ``rng = numpy.random.default_rng(seed)``, the positives (in candidate order) are permuted by
    ``rng.permutation``: the first ``round(0.6 n)`` are train, the next ``round(0.1 n)`` val, the rest test;
    then the negatives the same way with the same ``rng``. Every candidate pair gets exactly one role.

    Parameters
    ----------
    n_genes
        Number of genes (gene index = position in the name-sorted gene list).
    tfs
        Gene indices of the TFs (any order; sorted here).
    edges
        ``(2, n)`` gene indices of the edge set (order and duplicates do not matter; edges whose source
        is not a TF, and self-loops, are not candidates and are ignored).
    seed
        The split seed ``s``.
    """
    tf_idx, positive = _candidates(n_genes, tfs, edges)
    role = np.full(positive.size, NOT_CANDIDATE, dtype=np.int8)
    candidate = _candidate_mask(n_genes, tf_idx)
    rng = np.random.default_rng(seed)
    for mask in (candidate & positive, candidate & ~positive):
        role[mask] = _roles_in_order(int(mask.sum()), rng)
    return EdgeSplit(tfs=tf_idx, n_genes=int(n_genes), role=role, positive=positive, kind=EDGE, seed=int(seed))


def grouped_edge_split(n_genes: int, tfs: Sequence[int] | np.ndarray, edges: np.ndarray, seed: int) -> EdgeSplit:
    """The edge hold-out with reciprocal pairs grouped: ``t -> g`` and ``g -> t`` always share one role.

    Curated networks list many edges in both directions (BEELINE's STRING truths 41-89 % of them), so under
    :func:`edge_holdout_split` a test edge's reverse is often a training edge, which any method that reads
    the training graph can exploit. Here the unit is the unordered pair ``{t, g}`` (one candidate, or two
    when both genes are TFs), identified by its lower candidate id. With ``rng = default_rng(seed)``, the
    units holding at least one edge (in unit order) are permuted by ``rng.permutation`` and cut 60 / 10 /
    30 % as in :func:`edge_holdout_split`, then the units without an edge the same way with the same rng;
    every candidate gets its unit's role.

    Parameters
    ----------
    n_genes, tfs, edges, seed
        As in :func:`edge_holdout_split`.
    """
    tf_idx, positive = _candidates(n_genes, tfs, edges)
    candidate = _candidate_mask(n_genes, tf_idx)
    ids = np.flatnonzero(candidate)
    tf_pos = np.full(n_genes, -1, dtype=np.int64)
    tf_pos[tf_idx] = np.arange(tf_idx.size)
    src, dst = tf_idx[ids // n_genes], ids % n_genes
    reverse = np.where(tf_pos[dst] >= 0, tf_pos[dst] * n_genes + src, ids)
    unit_of = np.minimum(ids, reverse)
    units, member_unit = np.unique(unit_of, return_inverse=True)
    unit_positive = np.zeros(units.size, dtype=bool)
    np.logical_or.at(unit_positive, member_unit, positive[ids])
    unit_role = np.full(units.size, NOT_CANDIDATE, dtype=np.int8)
    rng = np.random.default_rng(seed)
    for mask in (unit_positive, ~unit_positive):
        unit_role[mask] = _roles_in_order(int(mask.sum()), rng)
    role = np.full(positive.size, NOT_CANDIDATE, dtype=np.int8)
    role[ids] = unit_role[member_unit]
    return EdgeSplit(tfs=tf_idx, n_genes=int(n_genes), role=role, positive=positive, kind=EDGE_GROUPED,
                     seed=int(seed))


def tf_holdout_split(n_genes: int, tfs: Sequence[int] | np.ndarray, edges: np.ndarray, seed: int) -> EdgeSplit:
    """The TF hold-out split of BENCHMARK.md section 1.

    The name-sorted TFs are permuted by ``numpy.random.default_rng(1000 + seed).permutation``: the first
    ``round(0.6 n)`` are train TFs, the next ``round(0.1 n)`` val TFs, the rest test TFs. Test pairs are every
    candidate whose regulator is a test TF; train / val pairs are those whose regulator is a train / val TF
    and whose target is not a test TF; every other slot has role -1.

    Parameters
    ----------
    n_genes, tfs, edges, seed
        As in :func:`edge_holdout_split`.
    """
    tf_idx, positive = _candidates(n_genes, tfs, edges)
    tf_role = _roles_in_order(len(tf_idx), np.random.default_rng(1000 + seed))
    target_is_test_tf = np.zeros(n_genes, dtype=bool)
    target_is_test_tf[tf_idx[tf_role == TEST]] = True
    role = np.repeat(tf_role, n_genes).reshape(len(tf_idx), n_genes)
    role[(tf_role != TEST)[:, None] & target_is_test_tf[None, :]] = NOT_CANDIDATE
    role = role.reshape(-1)
    role[~_candidate_mask(n_genes, tf_idx)] = NOT_CANDIDATE
    positive &= role >= 0  # an edge touching a test TF from a train / val TF is not kept anywhere
    return EdgeSplit(tfs=tf_idx, n_genes=int(n_genes), role=role, positive=positive, kind=TF, seed=int(seed))


_DRAWERS = {EDGE: edge_holdout_split, EDGE_GROUPED: grouped_edge_split, TF: tf_holdout_split}


def draw_split(n_genes: int, tfs: Sequence[int] | np.ndarray, edges: np.ndarray, kind: str, seed: int) -> EdgeSplit:
    """The split of kind ``kind`` (one of :data:`SPLIT_KINDS`) drawn with ``seed``."""
    if kind not in _DRAWERS:
        raise ValueError(f"split kind {kind!r} is not one of {', '.join(SPLIT_KINDS)}.")
    return _DRAWERS[kind](n_genes, tfs, edges, seed)


def infer_kind(tfs: np.ndarray, n_genes: int, role: np.ndarray) -> str:
    """The kind of split a role array makes: ``"tf"`` when every TF's pairs share one role (and the roles
    are not all one), ``"edge_grouped"`` when every candidate shares its role with its reverse pair and some
    pair has a reverse, else ``"edge"``."""
    by_tf = role.reshape(len(tfs), n_genes)
    used = by_tf >= 0
    lo = np.where(used, by_tf, 127).min(axis=1)
    hi = np.where(used, by_tf, -1).max(axis=1)
    per_tf = lo[used.any(axis=1)] == hi[used.any(axis=1)]
    if per_tf.size and per_tf.all() and np.unique(lo[used.any(axis=1)]).size > 1:
        return TF
    tf_pos = np.full(n_genes, -1, dtype=np.int64)
    tf_pos[tfs] = np.arange(len(tfs))
    ids = np.flatnonzero(role >= 0)
    src, dst = tfs[ids // n_genes], ids % n_genes
    has_reverse = tf_pos[dst] >= 0
    reverse = tf_pos[dst[has_reverse]] * n_genes + src[has_reverse]
    if reverse.size and (role[reverse] == role[ids[has_reverse]]).all():
        return EDGE_GROUPED
    return EDGE


def kind_contradiction(kind: str, tfs: np.ndarray, n_genes: int, role: np.ndarray,
                       genes: Sequence[str] | None = None) -> str | None:
    """Why roles cannot be a split of the stated ``kind`` (``None`` when they can), in words for a message.

    Only a certain contradiction counts, never a chance look (an edge hold-out drawn at random on a few genes
    may happen to keep a pair and its reverse, or all of one regulator's pairs, in one role):

    - ``"tf"``: a regulator has pairs in two roles (a TF hold-out gives all of a regulator's pairs one role);
    - ``"edge_grouped"``: a pair and its reverse, both listed, have two roles (the grouped split gives them
      one), or the roles are certainly a TF hold-out (below);
    - ``"edge"`` and ``"edge_grouped"``: the roles are certainly a TF hold-out: every listed regulator's pairs
      share one role, some regulators hold only test pairs and others none, and no other regulator has a pair
      with a test regulator listed (the TF hold-out leaves those pairs out, while an edge hold-out gives every
      candidate pair a role, including those from a train regulator to another TF).

    Parameters
    ----------
    kind
        The stated kind (one of :data:`SPLIT_KINDS`).
    tfs, n_genes, role
        As stored on :class:`EdgeSplit` (``role`` of every ``(TF, gene)`` slot, -1 for a pair not listed).
    genes
        Gene names, for the message (default: gene indices).
    """
    name = (lambda g: str(genes[g])) if genes is not None else (lambda g: f"gene {g}")
    tfs, role = np.asarray(tfs, dtype=np.int64), np.asarray(role)
    by_tf = role.reshape(len(tfs), n_genes)
    used = by_tf >= 0
    listed = used.any(axis=1)
    lo = np.where(used, by_tf, 127).min(axis=1)
    hi = np.where(used, by_tf, -1).max(axis=1)
    if kind == TF:
        mixed = np.flatnonzero(listed & (lo != hi))
        if mixed.size:
            p = int(mixed[0])
            roles = [ROLE_NAMES[int(c)] for c in np.unique(by_tf[p][used[p]])]
            roles = ", ".join(roles[:-1]) + " and " + roles[-1]
            return (f"regulator {name(tfs[p])} has {roles} pairs ({mixed.size} regulator(s) have pairs in more "
                    "than one role), while a TF hold-out gives all of a regulator's pairs one role")
        return None
    if kind not in (EDGE, EDGE_GROUPED):
        return None
    uniform = listed.any() and bool((lo[listed] == hi[listed]).all())
    held = listed & (lo == TEST)
    others = listed & (lo != TEST)
    if uniform and held.any() and others.any() and not used[np.ix_(others, tfs[held])].any():
        names = ", ".join(name(t) for t in tfs[held][:5]) + (", ..." if held.sum() > 5 else "")
        return (f"every regulator's pairs share one role, {int(held.sum())} regulator(s) ({names}) hold only "
                "test pairs, and no pair from another regulator to them is listed: a TF hold-out, whereas an "
                "edge hold-out gives every candidate pair a role")
    if kind == EDGE_GROUPED:
        tf_pos = np.full(n_genes, -1, dtype=np.int64)
        tf_pos[tfs] = np.arange(len(tfs))
        ids = np.flatnonzero(role >= 0)
        src, dst = tfs[ids // n_genes], ids % n_genes
        both = tf_pos[dst] >= 0
        ids, src, dst = ids[both], src[both], dst[both]
        reverse = tf_pos[dst] * n_genes + src
        split_pair = (role[reverse] >= 0) & (role[reverse] != role[ids])
        if split_pair.any():
            k = int(np.argmax(split_pair))
            return (f"{name(src[k])} -> {name(dst[k])} is {ROLE_NAMES[int(role[ids[k]])]} but "
                    f"{name(dst[k])} -> {name(src[k])} is {ROLE_NAMES[int(role[reverse[k]])]} "
                    f"({int(split_pair.sum()) // 2} such pair(s)), while the grouped split gives a pair and its "
                    "reverse one role")
    return None


def candidate_pairs(n_genes: int, tfs: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of every candidate pair ``(t, g)``, ``t`` a TF and ``t != g``, in candidate order
    (TF-major, TFs ascending)."""
    tf_idx = np.unique(np.asarray(tfs, dtype=np.int64))
    src = np.repeat(tf_idx, n_genes)
    dst = np.tile(np.arange(n_genes, dtype=np.int64), tf_idx.size)
    keep = src != dst
    return src[keep], dst[keep]


def knockout_folds(genes: Sequence[int] | np.ndarray, n_folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """The seeded cross-validation folds over knocked-out genes (BENCHMARK.md section 2).

    The distinct genes, sorted, are permuted by ``numpy.random.default_rng(seed).permutation`` and cut into
    ``n_folds`` near-equal consecutive chunks (scikit-learn's ``KFold`` without its own shuffle: the first folds
    one gene larger); each fold is returned sorted.

    Parameters
    ----------
    genes
        Gene indices of the knocked-out genes (order and duplicates do not matter).
    n_folds
        Number of folds (default 5); must be between 1 and the number of genes.
    seed
        The seed (default 0).
    """
    genes = np.unique(np.asarray(genes, dtype=np.int64))
    if not 1 <= n_folds <= max(len(genes), 1):
        raise ValueError(f"n_folds={n_folds} must be between 1 and the number of genes ({len(genes)}).")
    from sklearn.model_selection import KFold  # imported here: most users of splits never need it

    shuffled = genes[np.random.default_rng(seed).permutation(len(genes))]
    if n_folds == 1:
        return [genes]
    return [np.sort(shuffled[held]) for _, held in KFold(n_splits=n_folds).split(shuffled)]


def write_split(split: EdgeSplit, path: str | Path, genes: Sequence[str]) -> Path:
    """Write ``split`` as CSV (a ``# kind=... seed=...`` comment line, then :meth:`EdgeSplit.to_frame`)."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        fh.write(f"# mtlgrn split kind={split.kind} seed={split.seed}\n")
        split.to_frame(genes).to_csv(fh, index=False)
    return path


def read_split(path: str | Path, genes: Sequence[str], *, tfs: Sequence[str] | None = None) -> EdgeSplit:
    """Read a split written by :func:`write_split` (or any CSV with ``source,target,label,role``).

    The kind is the ``# mtlgrn split kind=...`` line's, checked against the roles: a kind they certainly
    contradict (:func:`kind_contradiction`, e.g. ``kind=edge`` over a TF hold-out's roles) is refused with the
    kind they make. A file without that line (or without ``kind=`` on it) gets the kind its roles make
    (:func:`infer_kind`: a TF hold-out when every TF's pairs share a role).
    """
    path = Path(path)
    try:
        with open(path) as fh:
            text_first = fh.readline()
    except OSError as exc:
        raise DataValidationError(f"cannot read the split file ({exc.strerror}). Check the path.",
                                  file=path.name) from None
    meta = {}
    if text_first.startswith("#"):
        meta = dict(item.split("=", 1) for item in text_first[1:].split() if "=" in item)
    skip = 1 if text_first.startswith("#") else 0
    frame = pd.read_csv(path, skiprows=skip, dtype=str, keep_default_na=False)
    seed = int(meta["seed"]) if meta.get("seed", "").lstrip("-").isdigit() else -1
    return EdgeSplit.from_frame(frame, genes, tfs=tfs, kind=meta.get("kind"), seed=seed,
                                file=path.name, first_line=2 + skip)


# ----------------------------------------------------------------------------------------------------
# Helpers


def _role_code(role: int | str) -> int:
    if isinstance(role, str):
        if role not in ROLE_CODES:
            raise ValueError(f"role {role!r} is not one of train, val, test.")
        return ROLE_CODES[role]
    if int(role) not in ROLE_NAMES:
        raise ValueError(f"role {role!r} is not one of 0 (train), 1 (val), 2 (test).")
    return int(role)


def split_sizes(n: int) -> tuple[int, int]:
    """``(train, val)`` counts: ``round(0.6 n)`` and ``round(0.1 n)`` (Python's round), capped at ``n``."""
    n_train = min(round(FRACTIONS[0] * n), n)
    n_val = min(round(FRACTIONS[1] * n), n - n_train)
    return n_train, n_val


def _roles_in_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """Roles of ``n`` items in their given order after one ``rng.permutation(n)`` draw.

    Item ``perm[k]`` gets train for ``k < round(0.6 n)``, val for the next ``round(0.1 n)``, test after. The
    permutation is drawn over an ``int32`` range when it fits (same draws as ``rng.permutation(n)``, half the
    memory).
    """
    n_train, n_val = split_sizes(n)
    dtype = np.int32 if n < 2**31 else np.int64
    perm = rng.permutation(np.arange(n, dtype=dtype))
    roles = np.full(n, TEST, dtype=np.int8)
    roles[perm[:n_train]] = TRAIN
    roles[perm[n_train:n_train + n_val]] = VAL
    return roles


def _candidates(n_genes: int, tfs, edges) -> tuple[np.ndarray, np.ndarray]:
    """Sorted TF indices and the ``positive`` flag of every ``(TF, gene)`` slot."""
    tf_idx = np.unique(np.asarray(tfs, dtype=np.int64))
    if tf_idx.size and (tf_idx[0] < 0 or tf_idx[-1] >= n_genes):
        raise ValueError(f"TF indices must lie in [0, {n_genes}).")
    edges = np.asarray(edges, dtype=np.int64).reshape(2, -1)
    if edges.size and (edges.min() < 0 or edges.max() >= n_genes):
        raise ValueError(f"edge gene indices must lie in [0, {n_genes}).")
    tf_pos = np.full(n_genes, -1, dtype=np.int64)
    tf_pos[tf_idx] = np.arange(tf_idx.size)
    src_pos = tf_pos[edges[0]]
    keep = (src_pos >= 0) & (edges[0] != edges[1])
    positive = np.zeros(tf_idx.size * n_genes, dtype=bool)
    positive[src_pos[keep] * n_genes + edges[1, keep]] = True
    return tf_idx, positive


def _candidate_mask(n_genes: int, tf_idx: np.ndarray) -> np.ndarray:
    """``True`` for every ``(TF, gene)`` slot with ``t != g``."""
    mask = np.ones(tf_idx.size * n_genes, dtype=bool)
    mask[np.arange(tf_idx.size) * n_genes + tf_idx] = False
    return mask


def _check_genes(genes: Sequence[str], n_genes: int) -> None:
    if len(genes) != n_genes:
        raise ValueError(f"{len(genes)} gene names given for a split over {n_genes} genes.")
    if any(genes[i] > genes[i + 1] for i in range(len(genes) - 1)):
        raise ValueError("gene names must be sorted (use Dataset.genes).")


def _names_to_index(names: pd.Series, gene_index: dict[str, int], column: str, file: str,
                    first_line: int) -> np.ndarray:
    clean = names.astype(str).str.strip()
    idx = clean.map(gene_index)
    bad = idx.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataValidationError(f"{column} gene '{clean.iloc[k]}' is not a gene of the dataset "
                                  f"({int(bad.sum())} such rows). Use the split written for this dataset.",
                                  file=file, line=first_line + k)
    return idx.to_numpy(dtype=np.int64)


def _tf_indices(tfs: Sequence[str], gene_index: dict[str, int], file: str) -> np.ndarray:
    absent = [t for t in tfs if t not in gene_index]
    if absent:
        raise DataValidationError(f"TF '{absent[0]}' is not a gene of the dataset. Pass the dataset's TFs.",
                                  file=file)
    return np.unique(np.array([gene_index[t] for t in tfs], dtype=np.int64))


def _check_rows(frame: pd.DataFrame, src: np.ndarray, dst: np.ndarray, tf_pos: np.ndarray, file: str,
                first_line: int) -> None:
    not_tf = tf_pos[src] < 0
    if not_tf.any():
        k = int(np.argmax(not_tf))
        raise DataValidationError(f"source '{frame['source'].iloc[k]}' is not a TF of the dataset. Pass the "
                                  "TF list the split was drawn with.", file=file, line=first_line + k)
    self_pair = src == dst
    if self_pair.any():
        k = int(np.argmax(self_pair))
        raise DataValidationError(f"pair '{frame['source'].iloc[k]}' -> itself is not a candidate pair. "
                                  "Remove the row.", file=file, line=first_line + k)
    roles = frame["role"].astype(str).str.strip()
    bad = ~roles.isin(list(ROLE_CODES)).to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataValidationError(f"role '{roles.iloc[k]}' is not one of train, val, test. Fix the row.",
                                  file=file, line=first_line + k)


def _labels(labels: pd.Series, file: str, first_line: int) -> np.ndarray:
    text = labels.astype(str).str.strip()
    bad = ~text.isin(["0", "1"]).to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataValidationError(f"label '{text.iloc[k]}' is not 0 or 1 (1 = the pair is an edge). Fix "
                                  "the row.", file=file, line=first_line + k)
    return text.astype(int).to_numpy()


def _check_unique_pairs(ids: np.ndarray, frame: pd.DataFrame, file: str, first_line: int) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup_id = uniq[counts > 1][0]
        rows = np.flatnonzero(ids == dup_id)
        k = int(rows[1])
        raise DataValidationError(f"pair {frame['source'].iloc[k]} -> {frame['target'].iloc[k]} appears twice "
                                  f"(lines {first_line + int(rows[0])} and {first_line + k}). Keep one row "
                                  "per pair.", file=file, line=first_line + k)
