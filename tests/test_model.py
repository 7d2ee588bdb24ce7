"""The network itself on tiny hand-made inputs: direction, invariances, the knockout head's algebra."""

import numpy as np
import pytest
import torch

from mtlgrn_core.features import Z_CLIP, ModelInputs, canonical_kmers, kmer_features
from mtlgrn_core.model import GeneTensors, ModelShape, MTLGRN, pair_evidence


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


def test_knockout_head_dose_one_is_no_change_and_dose_scales():
    inputs = _inputs()
    model = _model(inputs)
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        genes = torch.tensor([3, 3, 3])
        doses = torch.tensor([1.0, 0.0, 0.5])
        delta = model.knockout_delta(z, data, genes, doses, torch.tensor([0, 1, 2, 3]))
    assert delta.shape == (3, inputs.n_genes)
    assert delta[0].abs().max() < 1e-6
    assert delta[1].abs().max() > 1e-4
    assert not torch.allclose(delta[1], delta[2])


def test_knockout_head_answers_for_genes_never_knocked_out():
    inputs = _inputs()
    model = _model(inputs)
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        unseen = [g for g in range(inputs.n_genes) if g not in set(inputs.ko_genes)]
        deltas = model.knockout_delta(z, data, torch.tensor(unseen), torch.zeros(len(unseen)),
                                      torch.arange(len(unseen) + 1))
    assert torch.isfinite(deltas).all()
    # different genes give different predictions: the head reads the knocked-out gene's embedding
    assert not torch.allclose(deltas[0], deltas[1])


def test_double_knockout_is_a_single_row():
    inputs = _inputs()
    model = _model(inputs)
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        double = model.knockout_delta(z, data, torch.tensor([1, 2]), torch.zeros(2), torch.tensor([0, 2]))
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
    # the head is additive over perturbed genes (the common response to any knockout counts once); the
    # network part is linear in the change, so only the shared offset separates a double from two singles
    inputs = _inputs()
    model = _model(inputs)
    with torch.no_grad():
        model.ko_offset.copy_(torch.linspace(-1, 1, inputs.n_genes))
    data = GeneTensors(inputs)
    with torch.no_grad():
        z = model.encode(data)
        rows = model.knockout_delta(z, data, torch.tensor([1, 2, 1, 2]), torch.zeros(4), torch.tensor([0, 1, 2, 4]))
    single_1, single_2, double = rows
    assert torch.allclose(double, single_1 + single_2 - model.ko_offset, atol=1e-5)


def _evidence_inputs():
    """Gene 0 regulates gene 1, gene 1 regulates gene 2 (known); knocking out 0 moves 1 and, through it, 2."""
    inputs = _inputs(edges=((1, 2),))
    z = np.zeros((len(inputs.ko_genes), 2, inputs.n_genes), np.float32)
    z[0, 0, 1], z[0, 0, 2], z[0, 0, 0] = 5.0, 3.0, -9.0   # knockout of gene 0 (its own change is -9)
    has = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)  # gene 5: no z-scores measured
    inputs.ko_zscore, inputs.ko_zscore_has = z, has
    return inputs


def test_pair_evidence_reads_knockout_zscores_and_explains_indirect_effects():
    from mtlgrn_core.model import N_PAIR_FEATURES, PAIR_ABS_KO_Z, pair_evidence

    data = GeneTensors(_evidence_inputs())
    ev = pair_evidence(data, torch.tensor([0, 0, 5, 3]), torch.tensor([1, 2, 6, 0])).numpy()
    assert ev.shape == (4, N_PAIR_FEATURES)
    assert ev[0, PAIR_ABS_KO_Z] == pytest.approx(np.log1p(5.0))
    assert ev[1, PAIR_ABS_KO_Z] == pytest.approx(np.log1p(3.0))
    explained = ev[:, 11]
    # 0 -> 2 goes through gene 1, a known regulator of 2 that knockout 0 moves strongly; 0 -> 1 has no such path
    assert explained[1] == pytest.approx(np.log1p(5.0)) and explained[0] == 0.0
    # a perturbation without measured z-scores (gene 5) and a never-perturbed regulator (gene 3) give no evidence
    assert np.all(ev[2, 2:13] == 0) and np.all(ev[3, 2:5] == 0)
    # the strongest response of knockout 0 excludes gene 0's own forced change
    share = ev[:, 10]
    assert share[0] == pytest.approx(1.0) and share[1] == pytest.approx(np.log1p(3.0) / np.log1p(5.0))
    # the known graph is the single edge 1 -> 2 (mean degree 1/12): gene 0 has no known target, gene 2 one
    # known regulator
    degrees = ev[:, 13:15]
    assert degrees[1].tolist() == pytest.approx([0.0, np.log1p(12.0)])


def test_pair_evidence_flags_a_known_reverse_edge():
    from mtlgrn_core.model import pair_evidence

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
    assert torch.equal(logits, shuffled)  # embeddings play no part
    assert logits[0] > logits[1]  # starts from the knockout z-score's ranking


def test_perturbation_zscores_per_kind_against_the_median_of_that_kind():
    import pandas as pd

    from mtlgrn_core.data import build_dataset
    from mtlgrn_core.features import perturbation_zscores

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
        linear = model.pair_linear(pair_evidence(data, src, dst)).squeeze(-1)
    assert torch.equal(logits, shuffled)
    assert not torch.allclose(logits, linear)


def test_no_message_passing_embeds_each_gene_from_its_own_features():
    inputs = _inputs()
    model = _model(inputs, layers=0)
    with torch.no_grad():
        z = model.encode(GeneTensors(inputs))
        inputs.graph = inputs.graph[::-1].copy()
        z_rev = model.encode(GeneTensors(inputs))
    assert torch.equal(z, z_rev)  # the graph plays no part


def test_propagation_sums_the_hops_of_the_signed_edge_strengths():
    inputs = _inputs()
    model = _model(inputs)
    data = GeneTensors(inputs)
    change = torch.zeros(2, inputs.n_genes)
    change[0, 0], change[1, 5] = -1.0, -0.5
    with torch.no_grad():
        z = model.encode(data)
        got = model.propagate(z, data, change, hops=3)
        src, dst = data.graph
        strength = model.edge_strength(torch.cat([z[src], z[dst], data.graph_sign[:, None]], dim=1)).squeeze(-1)
    w = torch.zeros(inputs.n_genes, inputs.n_genes)
    w[dst, src] = strength  # w[g, r]: r -> g
    hop1 = change @ w.T
    hop2, hop3 = hop1 @ w.T, hop1 @ w.T @ w.T
    torch.testing.assert_close(got, hop1 + hop2 + hop3)
    assert got[0, 3] != 0 and got[0, 6] == 0  # 0 -> 1 -> 3 reaches 3; nothing leads from 0 to 6


def test_the_model_clips_the_knockout_zscores_the_inputs_keep():
    inputs = _evidence_inputs()
    inputs.ko_zscore = inputs.ko_zscore.copy()
    inputs.ko_zscore[0, 0, 1] = 1e4
    data = GeneTensors(inputs)
    assert float(data.ko_zscore[0, 0, 1]) == Z_CLIP and inputs.ko_zscore[0, 0, 1] == 1e4
