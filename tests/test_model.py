"""The network itself on tiny hand-made inputs: direction, invariances, the knockout head's algebra."""

import numpy as np
import pytest
import torch

from mtlgrn_core.model.features import (
    Z_CLIP,
    ModelInputs,
    canonical_kmers,
    indirect_paths,
    kmer_features,
    perturbation_zscores,
)
from mtlgrn_core.model.network import (
    MTLGRN,
    N_PAIR_FEATURES,
    N_SIMILARITY_FEATURES,
    PAIR_ABS_KO_Z,
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


_CHAIN = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (6, 7), (3, 8), (8, 9))  # the default graph, one chain longer


def _dense_strengths(model, data) -> torch.Tensor:
    """``w[g, r]``: the learned signed strength of the prior edge ``r -> g`` (0 where there is none)."""
    with torch.no_grad():
        z = model.encode(data)
        src, dst = data.graph
        strength = model.edge_strength(torch.cat([z[src], z[dst], data.graph_sign[:, None]], dim=1)).squeeze(-1)
    w = torch.zeros(data.n_genes, data.n_genes)
    w[dst, src] = strength
    return w


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


def test_knockout_head_answers_for_genes_never_knocked_out():
    # every gene never knocked out, in one call: the common response plus the learned propagation of its own
    # knockout along the prior (computed here from the edge strengths), nothing read from a measurement
    inputs = _inputs(edges=_CHAIN)
    model = _offset_model(inputs)
    data = GeneTensors(inputs)
    unseen = [g for g in range(inputs.n_genes) if g not in set(inputs.ko_genes)]
    deltas = _knockouts(model, inputs, data, unseen, [0.0] * len(unseen), list(range(len(unseen) + 1)))
    assert torch.isfinite(deltas).all()
    w = _dense_strengths(model, data)
    one_hot = torch.eye(inputs.n_genes)[unseen]
    hop1 = one_hot @ w.T
    expected = model.ko_offset.detach() + hop1 + hop1 @ w.T + hop1 @ w.T @ w.T
    torch.testing.assert_close(deltas, expected)
    # different genes give different predictions: genes 1 and 2 regulate different genes (3 and 4)
    assert not torch.allclose(deltas[unseen.index(1)], deltas[unseen.index(2)])
    assert (deltas[unseen.index(1), 9] - model.ko_offset[9]).abs() > 1e-6  # 1 -> 3 -> 8 -> 9: three hops


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


def _evidence_inputs():
    """Gene 0 regulates gene 1, gene 1 regulates gene 2 (known); knocking out 0 moves 1 and, through it, 2."""
    inputs = _inputs(edges=((1, 2),))
    z = np.zeros((len(inputs.ko_genes), 2, inputs.n_genes), np.float32)
    z[0, 0, 1], z[0, 0, 2], z[0, 0, 0] = 5.0, 3.0, -9.0   # knockout of gene 0 (its own change is -9)
    has = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)  # gene 5: no z-scores measured
    inputs.ko_zscore, inputs.ko_zscore_has = z, has
    inputs.ko_path = indirect_paths(z, inputs.ko_genes)  # as build_inputs derives it (no two-step path here)
    return inputs


def test_pair_evidence_reads_knockout_zscores_and_explains_indirect_effects():
    data = GeneTensors(_evidence_inputs())
    ev = pair_evidence(data, torch.tensor([0, 0, 5, 3]), torch.tensor([1, 2, 6, 0])).numpy()
    assert ev.shape == (4, N_PAIR_FEATURES)
    assert ev[0, PAIR_ABS_KO_Z] == pytest.approx(np.log1p(5.0))
    assert ev[1, PAIR_ABS_KO_Z] == pytest.approx(np.log1p(3.0))
    assert ev[0, PAIR_ABS_KO_Z - 1] == pytest.approx(np.log1p(5.0)) and ev[0, PAIR_ABS_KO_Z + 1] == 1.0  # signed, has
    explained = ev[:, 11]
    # 0 -> 2 goes through gene 1, a known regulator of 2 that knockout 0 moves strongly; 0 -> 1 has no such path
    assert explained[1] == pytest.approx(np.log1p(5.0)) and explained[0] == 0.0
    # a perturbation without measured z-scores (gene 5) and a never-perturbed regulator (gene 3) give no evidence
    assert np.all(ev[2, 2:13] == 0) and np.all(ev[3, 2:5] == 0)
    # the strongest response of knockout 0 excludes gene 0's own forced change
    share = ev[:, 10]
    assert share[0] == pytest.approx(1.0) and share[1] == pytest.approx(np.log1p(3.0) / np.log1p(5.0))
    # the reverse knockout z: 1 -> 0 reads gene 1's response to knockout 0 (a target rarely moves its regulator)
    reverse = pair_evidence(data, torch.tensor([1, 0]), torch.tensor([0, 5])).numpy()[:, 8:10]
    assert reverse[0].tolist() == pytest.approx([np.log1p(5.0), 1.0]) and reverse[1].tolist() == [0.0, 0.0]
    # the known graph is the single edge 1 -> 2 (mean degree 1/12): gene 0 has no known target, gene 2 one
    # known regulator
    degrees = ev[:, 13:15]
    assert degrees[1].tolist() == pytest.approx([0.0, np.log1p(12.0)])


def test_pair_evidence_flags_a_known_reverse_edge():
    data = GeneTensors(_evidence_inputs())  # the known graph is the single edge 1 -> 2
    reverse_known = pair_evidence(data, torch.tensor([2, 1, 0]), torch.tensor([1, 2, 2])).numpy()[:, 15]
    assert reverse_known.tolist() == [1.0, 0.0, 0.0]  # 2 -> 1 has its reverse known; 1 -> 2 itself does not count


def test_evidence_decoder_scores_from_the_pairwise_evidence_alone():
    inputs = _evidence_inputs()
    model = _model(inputs, edge_decoder="evidence")
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        logits = model.edge_logits(z, data, torch.tensor([0, 0]), torch.tensor([1, 2]))
        shuffled = model.edge_logits(torch.randn_like(z), data, torch.tensor([0, 0]), torch.tensor([1, 2]))
        bias = float(model.pair_linear.bias)
    assert torch.equal(logits, shuffled)  # embeddings play no part
    assert logits[0] > logits[1]  # starts from the knockout z-score's ranking
    # the start: 2 |knockout z| - the two-step path (none here) + the bias
    assert logits.tolist() == pytest.approx([2 * np.log1p(5.0) + bias, 2 * np.log1p(3.0) + bias], rel=1e-5)


def test_perturbation_zscores_per_kind_against_the_median_of_that_kind():
    import pandas as pd

    from mtlgrn_core.inputs.data import build_dataset

    genes = ("A", "B", "C", "D", "E", "F")
    samples = ("wt",) + tuple(f"ko{g}" for g in genes) + ("kdA",)
    rng = np.random.default_rng(0)
    expr = 1.0 + 0.1 * rng.normal(size=(6, 8))
    expr[1, 1] = 3.0  # knocking out A raises B
    sheet = pd.DataFrame({"sample": samples, "perturbation": ["control", *genes, "A"],
                          "dose": [1.0] + [0.0] * 6 + [0.5]})
    ds = build_dataset(genes=genes, samples=samples, expression=expr, sample_sheet=sheet)
    z, has = perturbation_zscores(ds, np.arange(6))
    ko = expr[:, 1:7]
    assert z[0, 0, 1] == pytest.approx((3.0 - np.median(ko[1])) / ko[1].std(), rel=1e-5)
    # one knockdown only: compared with the control, scaled by the gene's overall spread
    assert z[0, 1, 1] == pytest.approx((expr[1, 7] - expr[1, 0]) / expr[1].std(), rel=1e-5)
    assert has.tolist() == [[1.0, 1.0]] + [[1.0, 0.0]] * 5
    assert np.all(z[1:, 1] == 0)


def test_evidence_mlp_decoder_reads_no_embedding_but_more_than_the_linear_term():
    inputs = _evidence_inputs()
    model = _model(inputs, edge_decoder="evidence_mlp")
    data = GeneTensors(inputs)
    src, dst = torch.tensor([0, 0, 1]), torch.tensor([1, 2, 2])
    with torch.no_grad():
        z = model.encode(data)
        logits = model.edge_logits(z, data, src, dst)
        shuffled = model.edge_logits(torch.randn_like(z), data, src, dst)
        evidence = pair_evidence(data, src, dst)
        linear = model.pair_linear(evidence).squeeze(-1)
        through_mlp = model.edge_mlp(torch.nn.functional.gelu(model.pair_mlp(evidence))).squeeze(-1)
    assert torch.equal(logits, shuffled)
    assert not torch.allclose(logits, linear)
    torch.testing.assert_close(logits, through_mlp + linear)  # the evidence through the decoder's network


def test_no_message_passing_embeds_each_gene_from_its_own_features():
    inputs = _inputs()
    model = _model(inputs, layers=0)
    with torch.no_grad():
        z = model.encode(GeneTensors(inputs))
        inputs.graph = inputs.graph[::-1].copy()
        z_rev = model.encode(GeneTensors(inputs))
        inputs.features["expression"] = inputs.features["expression"].copy()
        inputs.features["expression"][3] += 1.0
        z_moved = model.encode(GeneTensors(inputs))
    assert torch.equal(z, z_rev)  # the graph plays no part
    changed = (z_moved - z).abs().amax(dim=1) > 1e-6
    assert changed.tolist() == [g == 3 for g in range(inputs.n_genes)]  # only gene 3 reads gene 3's features


def test_propagation_sums_the_hops_of_the_signed_edge_strengths():
    inputs = _inputs(edges=_CHAIN)  # 0 -> 1 -> 3 -> 8 -> 9: three hops reach 8, not 9
    model = _model(inputs)
    data = GeneTensors(inputs)
    change = torch.zeros(2, inputs.n_genes)
    change[0, 0], change[1, 5] = -1.0, -0.5
    with torch.no_grad():
        got = model.propagate(model.encode(data), data, change, hops=3)
    w = _dense_strengths(model, data)  # w[g, r]: r -> g
    hop1 = change @ w.T
    hop2, hop3 = hop1 @ w.T, hop1 @ w.T @ w.T
    torch.testing.assert_close(got, hop1 + hop2 + hop3)
    assert got[0, 3] != 0 and got[0, 6] == 0  # 0 -> 1 -> 3 reaches 3; nothing leads from 0 to 6
    assert got[0, 8] != 0 and got[0, 9] == 0  # the third hop counts, a fourth is not taken


def test_the_model_clips_the_knockout_zscores_the_inputs_keep():
    inputs = _evidence_inputs()
    inputs.ko_zscore = inputs.ko_zscore.copy()
    inputs.ko_zscore[0, 0, 1], inputs.ko_zscore[0, 0, 2] = 1e4, -1e4
    data = GeneTensors(inputs)
    assert float(data.ko_zscore[0, 0, 1]) == Z_CLIP and inputs.ko_zscore[0, 0, 1] == 1e4
    assert float(data.ko_zscore[0, 0, 2]) == -Z_CLIP and inputs.ko_zscore[0, 0, 2] == -1e4
    # what the pair evidence reads is the clipped value
    ev = pair_evidence(data, torch.tensor([0]), torch.tensor([1])).numpy()
    assert ev[0, PAIR_ABS_KO_Z] == pytest.approx(np.log1p(Z_CLIP))


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
