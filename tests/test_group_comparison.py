"""Networks and knockouts of several groups' runs side by side (mtlgrn_core.answers.group_comparison)."""

import numpy as np
import pytest

from mtlgrn_core import DataValidationError
from mtlgrn_core.answers.group_comparison import edge_presence, knockout_across_groups, regulator_rewiring
from mtlgrn_core.answers.infer import score_edges
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit

FAST = dict(epochs=5, patience=5, hidden=16, heads=2)


@pytest.fixture(scope="module")
def group_runs():
    dataset = simulate(40, seed=1)
    half = len(dataset.samples) // 2
    first, second = set(dataset.samples[:half]), set(dataset.samples[half:])
    return {"early": fit(dataset.without_samples(second), TrainConfig(seed=0, **FAST)),
            "late": fit(dataset.without_samples(first), TrainConfig(seed=1, **FAST))}


def test_edge_presence_marks_each_groups_top_edges(group_runs):
    presence = edge_presence(group_runs, top=30)
    for name, run in group_runs.items():
        top = set(zip(*score_edges(run, top=30)[["source", "target"]].to_numpy().T))
        marked = set(zip(*presence.loc[presence[f"in {name}"], ["source", "target"]].to_numpy().T))
        assert marked == top
        assert presence[f"score {name}"].notna().all()  # every pair scored in every group
    assert (presence["groups"] == presence[["in early", "in late"]].sum(axis=1)).all()
    assert presence["groups"].is_monotonic_increasing  # edges of one group only come first
    assert 30 <= len(presence) <= 60


def test_regulator_rewiring_is_a_jaccard_distance_between_target_sets(group_runs):
    presence = edge_presence(group_runs, top=30)
    table = regulator_rewiring(presence, ["early", "late"])
    assert table["rewiring"].between(0, 1).all() and table["rewiring"].is_monotonic_decreasing
    row = table.iloc[0]
    edges = presence[presence["source"] == row["regulator"]]
    early, late = (set(edges.loc[edges[f"in {g}"], "target"]) for g in ("early", "late"))
    assert np.isclose(row["rewiring"], 1 - len(early & late) / len(early | late))
    assert row["targets early"] == len(early) and row["targets late"] == len(late)


def test_one_knockout_in_every_group(group_runs):
    gene = group_runs["early"].tfs[0]
    matrix = knockout_across_groups(group_runs, [gene])
    assert list(matrix.columns) == ["early", "late"] and gene not in matrix.index
    assert len(matrix) == len(group_runs["early"].genes) - 1
    assert matrix.abs().max(axis=1).is_monotonic_decreasing
    assert set(matrix.attrs["sources"]) == {"early", "late"}
    with pytest.raises(DataValidationError, match="not in the run of group 'early'"):
        knockout_across_groups(group_runs, ["NOT_A_GENE"])
    with pytest.raises(DataValidationError, match="at least two runs"):
        edge_presence({"early": group_runs["early"]})
