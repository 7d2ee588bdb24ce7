"""Why a gene moves: the paths read from the model's propagation add up to its prediction, the direct edge of a
hub to its most changed target comes first, and a gene no path reaches gets no path and no change."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from mtlgrn_core.config import TrainConfig
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.explain import (
    COMMON,
    MEASURED,
    REST,
    Propagation,
    carried,
    edge_signs,
    explain,
    path_column,
    propagation,
    top_paths,
)
from mtlgrn_core.infer import predict_knockout
from mtlgrn_core.train import fit

LINEAR_ONLY = TrainConfig(epochs=5, patience=5, hidden=16, heads=2,
                          task_weights={"edge": 1, "knockout": 0, "expression": 0.3})


@pytest.fixture(scope="module")
def linear_run(dataset):
    return fit(dataset, LINEAR_ONLY)


def _hub(run):
    return run.prior["source"].value_counts().index[0]


def _unreached(run, gene):
    graph = nx.DiGraph(list(zip(run.prior["source"], run.prior["target"])))
    graph.add_nodes_from(run.genes)
    return sorted(set(run.genes) - nx.descendants(graph, gene) - {gene})


@pytest.mark.parametrize("which", ["run", "linear_run"])
def test_the_parts_add_up_to_the_prediction(which, request):
    run = request.getfixturevalue(which)
    hub = _hub(run)
    parts = propagation(run, [hub])
    table = predict_knockout(run, [hub]).set_index("gene")
    free = np.setdiff1d(np.arange(len(run.genes)), parts.perturbed)
    incoming = np.asarray(parts.effects.sum(axis=1)).ravel()  # each gene's edges deliver its network change
    np.testing.assert_allclose(incoming[free], (parts.linear_change + parts.learned_change)[free], atol=1e-9)
    assert np.asarray(parts.effects[parts.perturbed].sum()).item() == 0  # the dose sets a perturbed gene
    for gene in table.index[~table["perturbed"]][:8]:
        why = explain(run, [hub], gene)
        assert why.terms.sum() == pytest.approx(why.change, abs=1e-9)
        if table.at[gene, "predicted"] > 0:  # not floored at zero: the table's change is the model's
            assert why.change == pytest.approx(table.at[gene, "delta"], rel=1e-5, abs=1e-9)
    if "knockout" not in run.tasks:
        assert not parts.common.any() and not parts.measured.any() and not parts.learned_change.any()


@pytest.mark.parametrize("which", ["run", "linear_run"])
def test_the_hubs_most_changed_direct_target_is_explained_by_the_direct_edge(which, request):
    run = request.getfixturevalue(which)
    hub = _hub(run)
    table = predict_knockout(run, [hub])
    top = table.loc[~table["perturbed"], "gene"].iloc[0]
    targets = set(run.prior.loc[run.prior["source"] == hub, "target"])
    assert top in targets  # the premise: the hub's most changed gene is one of its direct targets
    why = explain(run, [hub], top, top=3)
    assert why.paths["path"].iloc[0] == f"{hub} -> {top}"
    assert np.sign(why.paths["contribution"].iloc[0]) == np.sign(why.change)
    assert 0 < why.explained <= 1.5 and len(why.paths) <= 3


@pytest.mark.parametrize("which", ["run", "linear_run"])
def test_a_gene_no_path_reaches_gets_no_path_and_no_network_change(which, request):
    run = request.getfixturevalue(which)
    hub = _hub(run)
    unreached = _unreached(run, hub)
    assert unreached, "the simulated prior should leave some gene out of the hub's reach"
    why = explain(run, [hub], unreached[0])
    assert len(why.paths) == 0 and "no path" in why.note
    assert why.terms["paths listed"] == 0 and abs(why.terms[REST]) < 1e-9
    if "knockout" in run.tasks:  # only the common response to any perturbation and a measured correction remain
        assert why.change == pytest.approx(why.terms[COMMON] + why.terms[MEASURED], abs=1e-9)
    else:
        assert why.change == 0.0


def _chain_parts(learned: sparse.csr_matrix | None = None) -> Propagation:
    """0 -> 1 -> 3 and 0 -> 2 -> 3 and 0 -> 3 (weights below); gene 0 knocked out from level 2."""
    a = np.zeros((4, 4))
    a[1, 0], a[2, 0], a[3, 1], a[3, 2], a[3, 0] = 0.5, -0.4, 0.8, 0.5, 0.1
    clamp = np.array([-2.0])
    change = np.zeros(4)
    change[0] = clamp[0]
    change[1], change[2] = a[1, 0] * change[0], a[2, 0] * change[0]
    change[3] = a[3, 1] * change[1] + a[3, 2] * change[2] + a[3, 0] * change[0]
    learned = learned if learned is not None else sparse.csr_matrix((4, 4))
    reach = np.array([1.0, 0.0, 0.0, 0.0])
    reach = reach + learned @ reach + learned @ (learned @ reach)
    carried = learned @ reach
    total = change + carried
    return Propagation(perturbed=np.array([0]), clamp=clamp, removed=np.array([1.0]),
                       linear=sparse.csr_matrix(a), linear_change=change, learned=learned.tocsr(),
                       learned_reach=reach, learned_change=carried, common=np.zeros(4), total=total,
                       scale=np.ones(4))


def test_paths_of_a_small_network_sum_to_its_change_and_rank_by_size():
    parts = _chain_parts()
    found = top_paths(parts, 3, top=10)
    assert [p for p, _ in found] == [(0, 1, 3), (0, 2, 3), (0, 3)]  # -0.8, +0.4, -0.2
    assert [v for _, v in found] == pytest.approx([-0.8, 0.4, -0.2])
    assert sum(v for _, v in found) == pytest.approx(parts.total[3])
    assert top_paths(parts, 3, top=1) == [((0, 1, 3), pytest.approx(-0.8))]
    assert top_paths(parts, 3, top=10, max_length=1) == [((0, 3), pytest.approx(-0.2))]
    assert top_paths(parts, 0) == []  # the perturbed gene itself
    assert [edge_signs(parts, p) for p in [(0, 1, 3), (0, 2, 3), (0, 3)]] == ["+ +", "- +", "+"]


def test_a_learned_strength_adds_to_its_paths_contribution():
    s = np.zeros((4, 4))
    s[1, 0], s[3, 1] = 0.5, 0.4  # the knockout head's learned propagation: 0 -> 1 -> 3 carries 1 x 0.5 x 0.4
    parts = _chain_parts(sparse.csr_matrix(s))
    found = dict(top_paths(parts, 3, top=10))
    assert found[(0, 1, 3)] == pytest.approx(-0.8 + 0.2)
    assert sum(found.values()) == pytest.approx(parts.total[3])


def test_the_change_each_edge_carries_and_the_path_column(run):
    hub = _hub(run)
    parts = propagation(run, [hub])
    prior = run.prior
    into = prior[prior["target"] != hub]
    values = carried(run, parts, into["source"], into["target"])
    per_target = pd.Series(values).groupby(into["target"].to_numpy()).sum()  # a gene's edges deliver its change
    network = (parts.linear_change + parts.learned_change) * parts.scale
    expected = [network[run.gene_index[g]] for g in per_target.index]
    np.testing.assert_allclose(per_target.to_numpy(), expected, atol=1e-9)
    assert (carried(run, parts, prior.loc[prior["target"] == hub, "source"],
                    prior.loc[prior["target"] == hub, "target"]) == 0).all()  # the dose sets the hub
    assert carried(run, parts, [], []).size == 0
    table = predict_knockout(run, [hub])
    column = path_column(run, table, [hub], top=2, limit=5)
    shown = column[~table["perturbed"]]
    assert all(text.startswith(f"{hub} -> ") for text in shown.iloc[:1])
    assert (shown.iloc[5:] == "").all() and column[table["perturbed"]].eq("").all()


def test_a_gene_not_in_the_run_is_a_clear_error(run):
    with pytest.raises(DataValidationError, match="'NOPE' is not in this run"):
        explain(run, [_hub(run)], "NOPE")
    with pytest.raises(DataValidationError, match="is not in this run"):
        propagation(run, ["NOPE"])
