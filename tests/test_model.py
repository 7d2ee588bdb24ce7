"""The network itself on tiny hand-made inputs: direction, invariances, the knockout head's algebra."""

import numpy as np
import pytest
import torch

from mtlgrn_core.features import Z_CLIP, ModelInputs, canonical_kmers, kmer_features
from mtlgrn_core.model import (
    MTLGRN,
    N_PAIR_FEATURES,
    N_SIMILARITY_FEATURES,
    GeneTensors,
    ModelShape,
    pair_evidence,
    regulator_similarity_rows,
)


def _inputs(n_genes=12, n_samples=9, edges=((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (6, 7)), seed=0,
            with_ko=True):
    rng = np.random.default_rng(seed)
    expr = rng.normal(size=(n_genes, n_samples)).astype(np.float32)
    ko_genes = np.array([0, 5], dtype=np.int64) if with_ko else np.zeros(0, dtype=np.int64)
    ko_resp = rng.normal(size=(len(ko_genes), n_genes)).astype(np.float32)
    feats = {"expression": expr}
    if with_ko:
        feats["knockout_in"] = ko_resp.T.copy()
        feats["knockout_out"] = ko_resp
    graph = np.array(edges, dtype=np.int64).T
    return ModelInputs(features=feats, graph=graph, graph_sign=np.ones(graph.shape[1], np.float32), expression=expr,
                       baseline=np.ones(n_genes, np.float32), scale=np.ones(n_genes, np.float32),
                       ko_genes=ko_genes, ko_response=ko_resp, pert_genes=ko_genes,
                       pert_doses=np.zeros(len(ko_genes), np.float32),
                       pert_offsets=np.arange(len(ko_genes) + 1, dtype=np.int64),
                       pert_samples=np.arange(len(ko_genes), dtype=np.int64), dose_range=(0.0, 1.0))


def _model(inputs, **kw):
    torch.manual_seed(0)
    shape = ModelShape(feature_dims={k: v.shape[1] for k, v in inputs.features.items()},
                       n_genes=inputs.n_genes, n_samples=inputs.expression.shape[1], hidden=16, heads=2, **kw)
    return MTLGRN(shape).eval()


@pytest.mark.parametrize("pair_evidence", [True, False])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_edge_scores_depend_on_direction(pair_evidence, layers):
    inputs = _inputs()
    model = _model(inputs, pair_evidence=pair_evidence, layers=layers)
    data = GeneTensors(inputs)
    src = torch.tensor([0, 1, 2, 5, 3])
    dst = torch.tensor([1, 3, 4, 6, 8])
    with torch.no_grad():
        z = model.encode(data)
        forward = model.edge_logits(z, data, src, dst)
        backward = model.edge_logits(z, data, dst, src)
    assert not torch.allclose(forward, backward, atol=1e-4)
    assert (forward - backward).abs().min() > 1e-6


def test_reversing_the_graph_changes_embeddings():
    inputs = _inputs()
    model = _model(inputs)
    with torch.no_grad():
        z = model.encode(GeneTensors(inputs))
        inputs.graph = inputs.graph[::-1].copy()
        z_rev = model.encode(GeneTensors(inputs))
    assert not torch.allclose(z, z_rev, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffling_edge_order_changes_nothing(seed):
    inputs = _inputs()
    model = _model(inputs)
    with torch.no_grad():
        z = model.encode(GeneTensors(inputs))
        perm = np.random.default_rng(seed).permutation(inputs.graph.shape[1])
        inputs.graph = inputs.graph[:, perm].copy()
        z_shuffled = model.encode(GeneTensors(inputs))
    torch.testing.assert_close(z, z_shuffled, atol=1e-5, rtol=1e-5)


def _none(n_perturbations: int, inputs) -> torch.Tensor:
    """No change predicted by the observational linear responses (the head's part alone)."""
    return torch.zeros(n_perturbations, inputs.n_genes)


def _alone(inputs) -> torch.Tensor:
    """No change predicted by the linear responses for the measured genes knocked out alone."""
    return torch.zeros(len(inputs.ko_genes), inputs.n_genes)


def _knockouts(model, inputs, data, genes, doses, offsets, observed=None) -> torch.Tensor:
    with torch.no_grad():
        z = model.encode(data)
        observed = _none(len(offsets) - 1, inputs) if observed is None else observed
        return model.knockout_delta(z, data, torch.tensor(genes), torch.tensor(doses, dtype=torch.float32),
                                    torch.tensor(offsets), observed, _alone(inputs))


def _offset_model(inputs):
    model = _model(inputs)
    with torch.no_grad():
        model.ko_offset.copy_(torch.linspace(-1, 1, inputs.n_genes))
    return model


def test_knockout_head_dose_one_is_no_change_and_dose_scales():
    inputs = _inputs()
    data = GeneTensors(inputs)
    for gene in (0, 1):  # knockout measured / never measured
        delta = _knockouts(_offset_model(inputs), inputs, data, [gene] * 3, [1.0, 0.0, 0.5], [0, 1, 2, 3])
        assert delta.shape == (3, inputs.n_genes)
        assert delta[0].abs().max() < 1e-6
        assert delta[1].abs().max() > 1e-4
        torch.testing.assert_close(delta[2], delta[1] / 2)  # linear in the depth


def test_a_measured_knockout_alone_is_predicted_as_measured():
    inputs = _inputs()
    data = GeneTensors(inputs)
    observed = torch.linspace(1, -1, inputs.n_genes)[None, :]
    for gene, row in ((0, 0), (5, 1)):
        delta = _knockouts(_offset_model(inputs), inputs, data, [gene], [0.0], [0, 1])[0]
        torch.testing.assert_close(delta, torch.as_tensor(inputs.ko_response[row]))
    # the observational part of a combination counts; a measured gene alone is its measurement whatever it is
    both = _knockouts(_offset_model(inputs), inputs, data, [1], [0.0], [0, 1], observed)[0]
    torch.testing.assert_close(both, _knockouts(_offset_model(inputs), inputs, data, [1], [0.0], [0, 1])[0] + observed[0])


def test_a_gene_never_knocked_out_moves_genes_through_the_network_only():
    inputs = _inputs()
    model = _offset_model(inputs)
    data = GeneTensors(inputs)
    # gene 1 (never knocked out) regulates gene 3: the learned propagation moves 3, and only its descendants
    via_network = _knockouts(model, inputs, data, [1], [0.0], [0, 1])[0]
    # gene 3 regulates nothing: only the common response to any knockout
    leaf = _knockouts(model, inputs, data, [3], [0.0], [0, 1])[0]
    torch.testing.assert_close(leaf, model.ko_offset.detach())
    moved = (via_network - model.ko_offset).abs() > 1e-6
    assert moved[3] and not moved[[0, 2, 4, 5, 6, 7]].any()
    # gene 0's knockout was measured: hidden from the head (as the trainer does), it is predicted by the network
    data.response_seen[0] = 0.0
    unread = _knockouts(model, inputs, data, [0], [0.0], [0, 1])[0]
    assert not torch.allclose(unread, torch.as_tensor(inputs.ko_response[0]))
    assert not ((unread - model.ko_offset).abs() > 1e-6)[[5, 6, 7]].any()  # only gene 0's descendants move


def test_double_knockout_is_a_single_row():
    inputs = _inputs()
    model = _model(inputs)
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        double = model.knockout_delta(z, data, torch.tensor([1, 2]), torch.zeros(2), torch.tensor([0, 2]),
                                     _none(1, inputs), _alone(inputs))
    assert double.shape == (1, inputs.n_genes)


def test_model_runs_without_knockout_features():
    inputs = _inputs(with_ko=False)
    model = _model(inputs)
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        logits = model.edge_logits(z, data, torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert torch.isfinite(logits).all()


def test_kmer_features_are_strand_symmetric_and_missing_genes_zero():
    assert len(canonical_kmers(3)) == 32
    seq = "ACGTTGCAAGGCTTACGATCGATCGGGAAATTTCCC"
    rc = seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    feats = kmer_features({"a": seq, "b": rc, "c": "AAAAAAAAAAAAAAAA"}, ("a", "b", "c", "d"), k=3)
    np.testing.assert_allclose(feats[0], feats[1], atol=1e-5)
    assert not np.allclose(feats[0], feats[2])
    assert np.all(feats[3] == 0)


def test_double_knockout_is_the_sum_of_the_singles_less_the_shared_response():
    # the network part is linear in the change and each measured gene's correction is its own, so only the
    # common response to any knockout (counted once) separates a double from two singles: for genes never
    # knocked out (1, 2) and for measured ones (0, 5) alike
    inputs = _inputs()
    model = _offset_model(inputs)
    data = GeneTensors(inputs)
    for a, b in ((1, 2), (0, 5)):
        single_a, single_b, double = _knockouts(model, inputs, data, [a, b, a, b], [0.0] * 4, [0, 1, 2, 4])
        torch.testing.assert_close(double, single_a + single_b - model.ko_offset.detach())


def test_regulator_similarity_reads_who_else_regulates_the_target():
    inputs = _inputs()  # edges 0->1, 0->2, 1->3, 2->4, 5->6, 6->7
    data = GeneTensors(inputs)
    x = torch.as_tensor(inputs.expression)
    corr = (x @ x.T / x.shape[1]).abs()
    rows = torch.tensor([3, 5])
    top, total = regulator_similarity_rows(data, rows)
    assert top[0, 1] == pytest.approx(float(corr[3, 0]))  # gene 1's only known regulator is 0
    assert top[1, 6] == 0  # 5 is 6's only regulator: not its own evidence
    assert top[0, 0] == 0 and top[0, 3] == pytest.approx(float(corr[3, 1]))
    mean_degree = 6 / inputs.n_genes
    assert total[0, 2] == pytest.approx(float(torch.log1p(corr[3, 0] / mean_degree)))
    src, dst = torch.tensor([3, 5, 3]), torch.tensor([1, 7, 4])
    plain, with_similarity = pair_evidence(data, src, dst), pair_evidence(data, src, dst, similarity=True)
    assert plain.shape[1] == N_PAIR_FEATURES and with_similarity.shape[1] == N_PAIR_FEATURES + N_SIMILARITY_FEATURES
    torch.testing.assert_close(with_similarity[:, :N_PAIR_FEATURES], plain)
    assert with_similarity[1, N_PAIR_FEATURES] == pytest.approx(float(corr[5, 6]))  # 7's regulator is 6
    assert with_similarity[2, N_PAIR_FEATURES] == pytest.approx(float(corr[3, 2]))


def test_a_shape_without_regulator_similarity_keeps_the_earlier_decoder_width():
    inputs = _inputs()
    old, new = _model(inputs), _model(inputs, regulator_similarity=True)
    assert old.pair_mlp[0].in_features == N_PAIR_FEATURES  # what runs saved before it existed hold
    assert new.pair_mlp[0].in_features == N_PAIR_FEATURES + N_SIMILARITY_FEATURES
    data = GeneTensors(inputs)
    with torch.no_grad():
        for model in (old, new):
            assert model.edge_logits(model.encode(data), data, torch.tensor([0, 1]), torch.tensor([3, 4])).shape == (2,)


def test_the_pairs_similarity_equals_the_rows_one_and_the_rows_are_computed_once():
    rng = np.random.default_rng(3)
    edges = tuple({(int(a), int(b)) for a, b in rng.integers(0, 30, size=(80, 2)) if a != b})
    data = GeneTensors(_inputs(n_genes=30, n_samples=12, edges=edges))
    src, dst = torch.as_tensor(rng.integers(0, 30, 200)), torch.as_tensor(rng.integers(0, 30, 200))
    unique, where = torch.unique(src, return_inverse=True)
    rows = regulator_similarity_rows(data, unique)
    pairs = pair_evidence(data, src, dst, similarity=True)[:, N_PAIR_FEATURES:]
    torch.testing.assert_close(pairs, rows[:, where, dst].T)
    cached = data.abs_correlations(unique)[0]
    assert cached.shape[0] == unique.numel()  # every regulator's row once, however often it was asked for
