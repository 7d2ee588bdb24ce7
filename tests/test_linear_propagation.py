"""Linear propagation of a knockout through the prior (BENCHMARK.md section 4's baseline)."""

import numpy as np
from scipy import sparse

from mtlgrn_core.linear_propagation import fit_linear_responses, propagate


def _chain_data(n_samples=400, seed=0):
    """Genes 0 -> 1 -> 2 (gains 2 and -0.5) and an unconnected gene 3, as genes x samples."""
    rng = np.random.default_rng(seed)
    a = rng.normal(5.0, 1.0, n_samples)
    b = 1.0 + 2.0 * a + rng.normal(0, 0.1, n_samples)
    c = 8.0 - 0.5 * b + rng.normal(0, 0.1, n_samples)
    d = rng.normal(3.0, 1.0, n_samples)
    return np.stack([a, b, c, d])


def test_ridge_recovers_the_gains_and_a_knockout_follows_the_chain():
    x = _chain_data()
    responses = fit_linear_responses(x, np.array([0, 1]), np.array([1, 2]))
    coef = responses.coef.toarray()
    assert abs(coef[1, 0] - 2.0) < 0.05 and abs(coef[2, 1] + 0.5) < 0.05
    assert np.count_nonzero(coef) == 2  # only the prior's edges carry a response
    levels = x.mean(axis=1)
    delta = responses.knockout([0], levels)
    assert np.isclose(delta[0], -levels[0])  # clamped to minus its level
    assert np.isclose(delta[1], coef[1, 0] * delta[0]) and np.isclose(delta[2], coef[2, 1] * delta[1])
    assert delta[3] == 0.0  # no path from the knocked-out gene
    half = responses.knockout([0], levels, dose=0.5)
    assert np.allclose(half, delta / 2)


def test_a_knockdown_of_a_downstream_gene_does_not_move_its_regulator():
    x = _chain_data()
    responses = fit_linear_responses(x, np.array([0, 1]), np.array([1, 2]))
    delta = responses.knockout([1], x.mean(axis=1))
    assert delta[0] == 0.0 and delta[2] > 0  # B down, C (repressed by B) up


def test_a_damped_cycle_converges_and_an_amplifying_one_stops():
    damped = sparse.csr_matrix(np.array([[0, 0, 0], [1.0, 0, 0.5], [0, 0.5, 0]]))  # 0 -> 1 <-> 2, gain 0.25
    delta = propagate(damped, np.array([0]), np.array([-1.0]))
    # steady state: d1 = -1 + 0.5 d2, d2 = 0.5 d1  =>  d1 = -4/3, d2 = -2/3
    assert np.allclose(delta, [-1.0, -4 / 3, -2 / 3], atol=1e-8)
    amplifying = sparse.csr_matrix(np.array([[0, 0, 0], [1.0, 0, 2.0], [0, 2.0, 0]]))
    delta = propagate(amplifying, np.array([0]), np.array([-1.0]), max_steps=10)
    assert np.all(np.isfinite(delta)) and delta[0] == -1.0


def test_a_prior_without_edges_predicts_no_change():
    responses = fit_linear_responses(_chain_data(), np.array([], dtype=int), np.array([], dtype=int))
    assert not responses.knockout([0], np.ones(4))[1:].any()


def test_a_run_without_perturbation_data_predicts_knockouts_along_the_signed_network():
    import warnings

    from mtlgrn_core.config import TrainConfig
    from mtlgrn_core.infer import LINEAR_SOURCE, ExtrapolationWarning, predict_knockout
    from mtlgrn_core.simulate import simulate
    from mtlgrn_core.train import fit

    dataset = simulate(150, seed=0)
    observed = dataset.without_samples({dataset.samples[p.sample] for p in dataset.perturbations()})
    run = fit(observed, TrainConfig(epochs=3, hidden=16, heads=2))
    assert "knockout" not in run.tasks
    graph = set(zip(run.prior["source"], run.prior["target"]))  # the known network the user gave
    truth = dataset.truth[dataset.truth["sign"] != 0]
    right, silent = [], []
    for regulator in truth["source"].value_counts().index[:5]:  # the five largest hubs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            table = predict_knockout(run, [regulator])
        assert table.attrs["source"] == LINEAR_SOURCE
        delta = table.set_index("gene")["delta"]
        for edge in truth[truth["source"] == regulator].itertuples():
            if (regulator, edge.target) in graph:  # a known edge: an activated target falls, a repressed one rises
                right.append(np.sign(delta[edge.target]) == -edge.sign)
        reachable = _reachable(graph, regulator)
        silent += [delta[g] == 0.0 for g in run.genes if g not in reachable]
    assert len(right) > 30 and np.mean(right) >= 0.95  # measured: every one of 82 (seeds 0-2 of the simulator)
    assert silent and all(silent)  # no path from the knocked-out gene, no change


def _reachable(graph: set[tuple[str, str]], start: str) -> set[str]:
    seen, frontier = {start}, [start]
    while frontier:
        node = frontier.pop()
        for s, t in graph:
            if s == node and t not in seen:
                seen.add(t)
                frontier.append(t)
    return seen
