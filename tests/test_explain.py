"""Why a gene moves: the parts read from the model's propagation, each computed from its own term, add up to its
prediction; the measured part is the knockout head's own correction and 0 for a gene whose knockout was never
measured; the direct edge of a hub to its most changed target comes first, and a gene no path reaches gets no path
and no change."""

import copy

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from mtlgrn_core.answers.explain import (
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
from mtlgrn_core.answers.infer import linear_change, predict_knockout, standard_levels
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit

FAST = TrainConfig(epochs=5, patience=5, hidden=16, heads=2)
LINEAR_ONLY = TrainConfig(epochs=5, patience=5, hidden=16, heads=2,
                          task_weights={"edge": 1, "knockout": 0, "expression": 0.3})


@pytest.fixture(scope="module")
def linear_run(dataset):
    return fit(dataset, LINEAR_ONLY)


@pytest.fixture(scope="module")
def partly_measured_run(dataset):
    """A run whose training data never perturbs the prior's hub (every other gene's knockout is measured)."""
    hub = dataset.prior["source"].value_counts().index[0]
    return fit(dataset.without_samples(dataset.samples_perturbing([dataset.gene_index[hub]])), FAST)


def _hub(run):
    return run.prior["source"].value_counts().index[0]


def _unreached(run, gene):
    graph = nx.DiGraph(list(zip(run.prior["source"], run.prior["target"])))
    graph.add_nodes_from(run.genes)
    return sorted(set(run.genes) - nx.descendants(graph, gene) - {gene})


def _second_hub(run):
    return run.prior["source"].value_counts().index[1]


def _measured(run, gene):
    """Whether the run's training data measured ``gene``'s knockout (a row of its knockout responses)."""
    return run.gene_index[gene] in set(np.asarray(run.inputs.ko_genes).tolist())


@pytest.mark.parametrize("which", ["run", "linear_run", "partly_measured_run"])
def test_the_parts_add_up_to_the_prediction(which, request):
    """The sum check can fail: the listed paths (edge strengths), the common response (``ko_offset``) and the
    measured part (the measured responses) are each computed from their own term, the rest is the network's change
    less the listed paths, and ``change`` is the model's own prediction (``knockout_delta``)."""
    run = request.getfixturevalue(which)
    # in partly_measured_run one never measured and one measured: where every perturbed gene's knockout was
    # measured, the learned propagation cancels between the network and the correction (at dose 0)
    genes = [_hub(run), _second_hub(run)]
    parts = propagation(run, genes)
    table = predict_knockout(run, genes).set_index("gene")
    free = np.setdiff1d(np.arange(len(run.genes)), parts.perturbed)
    incoming = np.asarray(parts.effects.sum(axis=1)).ravel()  # each gene's edges deliver its network change
    np.testing.assert_allclose(incoming[free], parts.network[free], atol=1e-9)
    assert np.asarray(parts.effects[parts.perturbed].sum()).item() == 0  # the dose sets a perturbed gene
    # the model computes in float32: its change agrees with the parts up to its rounding
    np.testing.assert_allclose(parts.network + parts.common + parts.measured, parts.total, rtol=1e-5, atol=1e-6)
    for gene in table.index[~table["perturbed"]][:8]:
        why = explain(run, genes, gene)
        assert why.terms.sum() == pytest.approx(why.change, rel=1e-5, abs=1e-7)
        if table.at[gene, "predicted"] > 0:  # not floored at zero: the table's change is the model's
            assert why.change == pytest.approx(table.at[gene, "delta"], rel=1e-5, abs=1e-9)
    if "knockout" not in run.tasks:
        assert not parts.common.any() and not parts.measured.any() and not parts.learned_change.any()
    else:
        assert np.abs(parts.measured).max() > 1e-3  # the sum includes a measured correction worth checking


def test_the_measured_part_is_zero_for_a_knockout_never_measured(partly_measured_run):
    run = partly_measured_run
    hub = _hub(run)
    assert not _measured(run, hub)  # the premise: training never perturbed the hub
    parts = propagation(run, [hub])
    assert not parts.measured.any()  # exactly 0 for every gene, not a rounding remainder
    assert np.abs(parts.total[np.setdiff1d(np.arange(len(run.genes)), parts.perturbed)]).max() > 1e-3  # it moves
    table = predict_knockout(run, [hub])
    for gene in table.loc[~table["perturbed"], "gene"].iloc[:8]:
        assert explain(run, [hub], gene, parts=parts).terms[MEASURED] == 0.0


def _model_correction(run, genes, doses):
    """What the knockout head's measured-response term adds (standard units, every gene): its prediction less
    its prediction with no gene's knockout marked as measured, straight from the model."""
    data, z, model = run.tensors(), run.embeddings(), run.model()
    idx = [run.gene_index[g] for g in genes]
    doses = np.asarray(doses, dtype=np.float32)
    observed = torch.as_tensor(linear_change(run, idx, doses), dtype=torch.float32)[None, :]
    ko_genes = np.asarray(run.inputs.ko_genes, dtype=np.int64)
    seen = torch.as_tensor(run.linear_responses().each_alone(ko_genes, standard_levels(run)), dtype=torch.float32)
    blind = copy.copy(data)
    blind.response_seen = torch.zeros_like(data.response_seen)
    args = (torch.as_tensor(idx), torch.as_tensor(doses), torch.as_tensor([0, len(idx)]), observed, seen)
    with torch.no_grad():
        return (model.knockout_delta(z, data, *args) - model.knockout_delta(z, blind, *args))[0].numpy()


@pytest.mark.parametrize("doses", [(0.0,), (0.5,), (0.5, 0.0)])
def test_the_measured_part_is_the_knockout_heads_correction(partly_measured_run, doses):
    run = partly_measured_run
    genes = [_second_hub(run), _hub(run)][:len(doses)]  # a measured knockout, alone or with one never measured
    assert _measured(run, genes[0]) and (len(genes) == 1 or not _measured(run, genes[1]))
    expected = _model_correction(run, genes, doses)
    assert np.abs(expected).max() > 1e-3
    parts = propagation(run, genes, list(doses))
    np.testing.assert_allclose(parts.measured, expected, rtol=1e-5, atol=1e-6)
    alone = _model_correction(run, genes[:1], (0.0,))  # only the measured gene corrects, scaled by its own depth
    np.testing.assert_allclose(parts.measured, (1.0 - doses[0]) * alone, rtol=1e-5, atol=1e-6)
    free = np.where(np.isin(np.arange(len(run.genes)), parts.perturbed), 0.0, expected)
    g = int(np.argmax(np.abs(free)))  # the gene the correction moves most
    why = explain(run, genes, run.genes[g], list(doses), parts=parts)
    assert why.terms[MEASURED] == pytest.approx(expected[g] * parts.scale[g], rel=1e-5, abs=1e-7)


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
        assert why.change == pytest.approx(why.terms[COMMON] + why.terms[MEASURED], rel=1e-5, abs=1e-7)
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
