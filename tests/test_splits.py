"""Splits of BENCHMARK.md: exact sizes and assignment, determinism, partition, round trips."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.splits import (
    SPLIT_KINDS,
    EdgeSplit,
    candidate_pairs,
    draw_split,
    edge_holdout_split,
    grouped_edge_split,
    infer_kind,
    knockout_folds,
    read_split,
    tf_holdout_split,
    write_split,
)

GENES = [f"G{i:02d}" for i in range(12)]


def _random_graph(n_genes=12, n_tfs=4, n_edges=20, seed=0):
    rng = np.random.default_rng(seed)
    tfs = np.sort(rng.choice(n_genes, n_tfs, replace=False))
    edges = np.stack([rng.choice(tfs, n_edges), rng.integers(0, n_genes, n_edges)])
    return tfs, edges


def _reference_edge_split(n_genes, tfs, edges, seed):
    """BENCHMARK.md section 1, written as literally as possible with Python lists."""
    edge_set = {(int(s), int(t)) for s, t in edges.T}
    cands = [(t, g) for t in sorted(tfs) for g in range(n_genes) if t != g]
    pos = [c for c in cands if c in edge_set]
    neg = [c for c in cands if c not in edge_set]
    rng = np.random.default_rng(seed)
    roles = {}
    for group in (pos, neg):
        n = len(group)
        perm = rng.permutation(n)
        n_tr, n_va = round(0.6 * n), round(0.1 * n)
        for k, p in enumerate(perm):
            roles[group[p]] = 0 if k < n_tr else (1 if k < n_tr + n_va else 2)
    return roles


def _roles_of(split: EdgeSplit):
    out = {}
    for role in (0, 1, 2):
        src, dst, _ = split.pairs(role)
        out.update({(int(s), int(d)): role for s, d in zip(src, dst)})
    return out


def test_hand_counted_tiny_example():
    # 5 genes, TFs 0 and 1: 2 * 5 - 2 = 8 candidates. Edges: (0,1) (0,2) (1,3) (1,4) are candidates;
    # (0,0) is a self pair and (2,3) has a non-TF source, so 4 positives and 4 negatives.
    edges = np.array([[0, 0, 1, 1, 0, 2], [1, 2, 3, 4, 0, 3]])
    split = edge_holdout_split(5, [1, 0], edges, seed=0)
    assert split.counts() == {"train_pairs": 4, "train_positives": 2,   # round(2.4) = 2 of each
                              "val_pairs": 0, "val_positives": 0,       # round(0.4) = 0
                              "test_pairs": 4, "test_positives": 2}
    assert (split.role >= 0).sum() == 8
    assert split.role[0] == -1 and split.role[5 + 1] == -1  # (0,0) and (1,1)
    assert _roles_of(split) == _reference_edge_split(5, [0, 1], edges, 0)


def test_rounding_sizes():
    # 15 positives: round(9.0) = 9 train, round(1.5) = 2 val (Python's round), 4 test.
    edges = np.stack([np.zeros(15, dtype=int), np.arange(1, 16)])
    split = edge_holdout_split(20, [0], edges, seed=3)
    c = split.counts()
    assert (c["train_positives"], c["val_positives"], c["test_positives"]) == (9, 2, 4)
    assert (c["train_pairs"] - 9, c["val_pairs"] - 2, c["test_pairs"] - 4) == (2, 0, 2)  # 4 negatives


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_matches_literal_protocol(seed):
    tfs, edges = _random_graph(seed=seed)
    split = edge_holdout_split(12, tfs, edges, seed=seed)
    assert _roles_of(split) == _reference_edge_split(12, tfs, edges, seed)


def test_deterministic_and_seed_dependent():
    tfs, edges = _random_graph()
    a, b = edge_holdout_split(12, tfs, edges, seed=1), edge_holdout_split(12, tfs, edges, seed=1)
    c = edge_holdout_split(12, tfs, edges, seed=2)
    assert np.array_equal(a.role, b.role) and np.array_equal(a.positive, b.positive)
    assert not np.array_equal(a.role, c.role)


def test_edge_holdout_partition():
    tfs, edges = _random_graph(n_edges=30)
    split = edge_holdout_split(12, tfs, edges, seed=0)
    by_tf = split.role.reshape(len(tfs), 12)
    self_slot = tfs[:, None] == np.arange(12)[None, :]
    assert (by_tf[self_slot] == -1).all() and np.isin(by_tf[~self_slot], [0, 1, 2]).all()
    edge_set = {(int(s), int(t)) for s, t in edges.T if s != t}
    got = set()
    for role in (0, 1, 2):
        got |= {tuple(p) for p in split.positives(role).T.tolist()}
    assert got == edge_set


def test_edge_order_and_duplicates_do_not_matter():
    tfs, edges = _random_graph()
    rng = np.random.default_rng(9)
    shuffled = np.concatenate([edges, edges[:, :5]], axis=1)[:, rng.permutation(edges.shape[1] + 5)]
    a = edge_holdout_split(12, tfs, edges, seed=0)
    b = edge_holdout_split(12, tfs[::-1].tolist(), shuffled, seed=0)
    assert np.array_equal(a.role, b.role) and np.array_equal(a.positive, b.positive)


def test_pairs_in_candidate_order():
    tfs, edges = _random_graph()
    split = edge_holdout_split(12, tfs, edges, seed=0)
    src, dst, label = split.pairs("test")
    key = np.searchsorted(tfs, src) * 12 + dst
    assert (np.diff(key) > 0).all()
    assert label.dtype == np.int8 and label.sum() == split.counts()["test_positives"]


def _reference_tf_split(n_genes, tfs, seed):
    tfs = sorted(tfs)
    perm = np.random.default_rng(1000 + seed).permutation(len(tfs))
    n_tr, n_va = round(0.6 * len(tfs)), round(0.1 * len(tfs))
    tf_role = {tfs[p]: (0 if k < n_tr else 1 if k < n_tr + n_va else 2) for k, p in enumerate(perm)}
    test_tfs = {t for t, r in tf_role.items() if r == 2}
    roles = {}
    for t in tfs:
        for g in range(n_genes):
            if t == g:
                continue
            if tf_role[t] == 2:
                roles[(t, g)] = 2
            elif g not in test_tfs:
                roles[(t, g)] = tf_role[t]
    return roles, test_tfs


@pytest.mark.parametrize("seed", [0, 3])
def test_tf_holdout_matches_protocol(seed):
    tfs, edges = _random_graph(n_genes=30, n_tfs=10, n_edges=60, seed=seed)
    split = tf_holdout_split(30, tfs, edges, seed=seed)
    roles, test_tfs = _reference_tf_split(30, tfs.tolist(), seed)
    assert _roles_of(split) == roles
    assert set(split.test_tfs().tolist()) == test_tfs and len(test_tfs) == 3  # 10 - 6 - 1
    for role in (0, 1):
        src, dst, _ = split.pairs(role)
        assert not np.isin(src, list(test_tfs)).any() and not np.isin(dst, list(test_tfs)).any()
    src, _, _ = split.pairs(2)
    assert np.isin(src, list(test_tfs)).all()
    assert not split.positive[split.role < 0].any()  # left-out edges are not kept as labels
    assert split.kind == "tf" and not np.array_equal(split.role, tf_holdout_split(30, tfs, edges, seed + 1).role)


def test_frame_round_trip(tmp_path):
    tfs, edges = _random_graph()
    for split in (edge_holdout_split(12, tfs, edges, seed=2), tf_holdout_split(12, tfs, edges, seed=2)):
        frame = split.to_frame(GENES)
        assert list(frame.columns) == ["source", "target", "label", "role"]
        assert len(frame) == (split.role >= 0).sum() and set(frame["role"]) <= {"train", "val", "test"}
        back = EdgeSplit.from_frame(frame, GENES, tfs=[GENES[t] for t in tfs], kind=split.kind, seed=2)
        assert np.array_equal(back.role, split.role) and np.array_equal(back.positive, split.positive)
        assert np.array_equal(back.tfs, split.tfs)
        path = write_split(split, tmp_path / f"{split.kind}.csv", GENES)
        again = read_split(path, GENES)
        assert (again.kind, again.seed) == (split.kind, 2)
        assert np.array_equal(again.role, split.role) and np.array_equal(again.positive, split.positive)


@pytest.mark.parametrize("change, message, line", [
    (lambda f: f.assign(source=f["source"].where(f.index != 3, "NOPE")), "NOPE", 5),
    (lambda f: f.assign(role=f["role"].where(f.index != 2, "holdout")), "holdout", 4),
    (lambda f: f.assign(label=f["label"].astype(str).where(f.index != 1, "yes")), "yes", 3),
    (lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True), "appears twice", None),
    (lambda f: f.drop(columns="label"), "missing column", None),
])
def test_from_frame_errors(change, message, line):
    tfs, edges = _random_graph()
    frame = change(edge_holdout_split(12, tfs, edges, seed=0).to_frame(GENES))
    with pytest.raises(DataValidationError, match=message) as info:
        EdgeSplit.from_frame(frame, GENES, file="split.csv")
    assert info.value.file == "split.csv"
    if line is not None:
        assert info.value.line == line


def test_from_frame_rejects_non_tf_source():
    tfs, edges = _random_graph()
    frame = edge_holdout_split(12, tfs, edges, seed=0).to_frame(GENES)
    with pytest.raises(DataValidationError, match="not a TF"):
        EdgeSplit.from_frame(frame, GENES, tfs=[GENES[tfs[0]]])


def test_knockout_folds():
    genes = np.arange(100)
    folds = knockout_folds(genes, 5, 0)
    assert [len(f) for f in folds] == [20] * 5
    assert np.array_equal(np.sort(np.concatenate(folds)), genes)
    assert all(np.array_equal(a, b) for a, b in zip(folds, knockout_folds(genes[::-1], n_folds=5, seed=0)))
    assert not all(np.array_equal(a, b) for a, b in zip(folds, knockout_folds(genes, n_folds=5, seed=1)))
    assert [len(f) for f in knockout_folds(np.arange(7), n_folds=3)] == [3, 2, 2]
    with pytest.raises(ValueError):
        knockout_folds(np.arange(3), n_folds=5)


# -- the grouped edge hold-out ------------------------------------------------------------------------------
def _reciprocal_graph(seed=0):
    """12 genes, 6 TFs, many TF -> TF edges listed both ways (as STRING truths are)."""
    rng = np.random.default_rng(seed)
    tfs = np.arange(6)
    one_way = np.stack([rng.choice(tfs, 25), rng.integers(0, 12, 25)])
    both = np.stack([rng.choice(tfs, 10), rng.choice(tfs, 10)])
    return tfs, np.concatenate([one_way, both, both[::-1]], axis=1)


def _reference_grouped_split(n_genes, tfs, edges, seed):
    """The grouped split written literally: units are unordered pairs, numbered by their lower candidate."""
    edge_set = {(int(s), int(t)) for s, t in edges.T}
    cands = [(t, g) for t in sorted(tfs) for g in range(n_genes) if t != g]
    index = {c: k for k, c in enumerate(cands)}
    units: dict[int, list] = {}
    for c in cands:
        rev = (c[1], c[0])
        key = min(index[c], index.get(rev, index[c]))
        units.setdefault(key, []).append(c)
    keys = sorted(units)
    rng = np.random.default_rng(seed)
    roles = {}
    for group in ([k for k in keys if any(c in edge_set for c in units[k])],
                  [k for k in keys if not any(c in edge_set for c in units[k])]):
        n = len(group)
        perm = rng.permutation(n)
        n_tr, n_va = round(0.6 * n), round(0.1 * n)
        for k, p in enumerate(perm):
            for c in units[group[p]]:
                roles[c] = 0 if k < n_tr else (1 if k < n_tr + n_va else 2)
    return roles


@pytest.mark.parametrize("seed", [0, 2])
def test_grouped_split_matches_its_literal_definition(seed):
    tfs, edges = _reciprocal_graph(seed)
    split = grouped_edge_split(12, tfs, edges, seed)
    assert split.kind == "edge_grouped"
    assert _roles_of(split) == _reference_grouped_split(12, tfs, edges, seed)


def test_grouped_split_never_separates_a_pair_and_the_plain_split_does():
    tfs, edges = _reciprocal_graph(1)
    for seed in range(5):
        roles = _roles_of(grouped_edge_split(12, tfs, edges, seed))
        assert all(roles[(b, a)] == r for (a, b), r in roles.items() if (b, a) in roles)
    separated = [any(roles[(b, a)] != r for (a, b), r in roles.items() if (b, a) in roles)
                 for roles in (_roles_of(edge_holdout_split(12, tfs, edges, s)) for s in range(5))]
    assert any(separated)


def test_draw_split_by_kind_and_infer_the_kind_back():
    tfs, edges = _reciprocal_graph(3)
    for kind in SPLIT_KINDS:
        split = draw_split(12, tfs, edges, kind, 4)
        assert split.kind == kind and infer_kind(split.tfs, 12, split.role) == kind
    with pytest.raises(ValueError, match="not one of"):
        draw_split(12, tfs, edges, "random", 0)


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_arrays_round_trip(kind):
    tfs, edges = _reciprocal_graph(0)
    split = draw_split(13, tfs, edges, kind, 1)  # 6 x 13 = 78 slots: not a multiple of 4
    back = EdgeSplit.from_arrays(split.to_arrays(), kind=kind, seed=1)
    assert (back.role == split.role).all() and (back.positive == split.positive).all()
    assert (back.tfs == split.tfs).all() and back.n_genes == 13 and (back.kind, back.seed) == (kind, 1)
    assert split.to_arrays()["role_packed"].nbytes == 20  # two bits a slot


def test_a_file_claiming_a_kind_its_roles_contradict_is_refused(tmp_path):
    tfs, edges = _reciprocal_graph(0)
    genes = [f"G{i:02d}" for i in range(12)]
    split = edge_holdout_split(12, tfs, edges, 0)
    path = tmp_path / "s.csv"
    path.write_text("# mtlgrn split kind=tf seed=0\n" + split.to_frame(genes).to_csv(index=False))
    with pytest.raises(DataValidationError, match="kind=tf, but its roles make a split of kind edge"):
        read_split(path, genes, tfs=[genes[t] for t in tfs])


def _write_with_header(tmp_path, split, genes, kind, name="s.csv"):
    path = tmp_path / name
    path.write_text(f"# mtlgrn split kind={kind} seed=0\n" + split.to_frame(genes).to_csv(index=False))
    return path


@pytest.mark.parametrize("stated, drawn, found, evidence", [
    # the issue: a TF hold-out's roles under kind=edge trained as an edge hold-out
    ("edge", tf_holdout_split, "tf", r"regulator\(s\) \(G\d\d.*\) hold only test pairs"),
    ("edge_grouped", tf_holdout_split, "tf", r"regulator\(s\) \(G\d\d.*\) hold only test pairs"),
    ("tf", edge_holdout_split, "edge", r"regulator G\d\d has (train|val)(, val)? and (val|test) pairs"),
    ("edge_grouped", edge_holdout_split, "edge", r"G\d\d -> G\d\d is \w+ but G\d\d -> G\d\d is \w+"),
])
def test_a_stated_kind_the_roles_contradict_is_refused_with_the_file_and_the_fix(tmp_path, stated, drawn, found,
                                                                                  evidence):
    tfs, edges = _reciprocal_graph(0)
    genes = [f"G{i:02d}" for i in range(12)]
    path = _write_with_header(tmp_path, drawn(12, tfs, edges, 0), genes, stated, "my_split.csv")
    with pytest.raises(DataValidationError) as caught:
        read_split(path, genes, tfs=[genes[t] for t in tfs])
    message = str(caught.value)
    assert message.startswith("my_split.csv: ")
    assert f"the file says kind={stated}, but its roles make a split of kind {found}" in message
    assert re.search(evidence, message), message
    assert f"'# mtlgrn split kind={found}'" in message and f"remove kind={stated}" in message
    # the fix works: without the kind the roles decide
    path.write_text("# mtlgrn split seed=0\n" + path.read_text().split("\n", 1)[1])
    assert read_split(path, genes, tfs=[genes[t] for t in tfs]).kind == found


def test_a_stated_kind_is_kept_unless_the_roles_certainly_contradict_it(tmp_path):
    genes = [f"G{i:02d}" for i in range(12)]
    edges = np.array([[0, 0, 0], [3, 5, 7]])
    # one regulator: nothing can contradict a TF hold-out (its pairs share a role) nor a grouped split (no pair
    # has a listed reverse), though the roles alone read as an edge hold-out
    for kind, drawn in (("tf", tf_holdout_split), ("edge_grouped", grouped_edge_split)):
        split = drawn(12, [0], edges, 0)
        path = _write_with_header(tmp_path, split, genes, kind)
        assert infer_kind(split.tfs, 12, split.role) == "edge"
        assert read_split(path, genes, tfs=["G00"]).kind == kind
    # an edge hold-out that by chance keeps each regulator's pairs in one role, on 3 genes: every pair listed
    # (the TF hold-out would leave out G00 -> G01), so kind=edge stands
    frame = pd.DataFrame({"source": ["G00", "G00", "G01", "G01"], "target": ["G01", "G02", "G00", "G02"],
                          "label": [1, 0, 0, 1], "role": ["train", "train", "test", "test"]})
    path = tmp_path / "chance.csv"
    path.write_text("# mtlgrn split kind=edge seed=0\n" + frame.to_csv(index=False))
    assert read_split(path, genes[:3], tfs=["G00", "G01"]).kind == "edge"


def test_candidate_pairs():
    src, dst = candidate_pairs(4, [2, 0])
    assert list(zip(src, dst)) == [(0, 1), (0, 2), (0, 3), (2, 0), (2, 1), (2, 3)]
