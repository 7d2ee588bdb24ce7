"""Scoring every pair at once (mtlgrn_core.model.block_scoring) gives what the model's pair-by-pair decoder gives, and
score_edges keeps exactly the best pairs."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtlgrn_core.answers.infer import score_edges
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.block_scoring import EdgeBlockScorer
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.pair_scoring import score_pairs
from mtlgrn_core.model.train import fit

FAST = {"epochs": 3, "patience": 3, "hidden": 16, "heads": 2}


@pytest.fixture(scope="module")
def perturbed():
    """Simulated data with knockouts and knockdowns: every feature of the pair evidence is non-zero."""
    return simulate(40, seed=1)


@pytest.fixture(scope="module")
def observational(perturbed):
    return perturbed.without_samples({perturbed.samples[p.sample] for p in perturbed.perturbations()})


DECODERS = [{}, {"edge_decoder": "evidence"}, {"edge_decoder": "evidence_mlp"}, {"edge_decoder": "validated"},
            {"pair_evidence": False}]


@pytest.mark.parametrize("decoder", DECODERS, ids=["full", "evidence", "evidence_mlp", "validated", "no_evidence"])
@pytest.mark.parametrize("data", ["perturbed", "observational"])
def test_blocks_equal_the_pair_decoder(request, decoder, data):
    run = fit(request.getfixturevalue(data), TrainConfig(**FAST, **decoder))
    model, z, tensors = run.model(), run.embeddings(), run.tensors()
    regulators = torch.as_tensor([run.gene_index[t] for t in run.tfs])
    src = regulators.repeat_interleave(tensors.n_genes)
    dst = torch.arange(tensors.n_genes).repeat(len(regulators))
    assert len(regulators) % 4 != 0
    assert (tensors.ko_zscore.shape[0] > 0) == (data == "perturbed")
    # the validated decoder's two decoders (validation decides which a run keeps)
    for gate in ([1.0, 0.0] if model.evidence_mlp is not None else [None]):
        if gate is not None:
            model.embedding_gate.fill_(gate)
        scorer = EdgeBlockScorer(model, z, tensors, block=4)  # several blocks, the last one shorter
        blocks = torch.cat([scorer(regulators[i:i + 4]).clone() for i in range(0, len(regulators), 4)])
        with torch.no_grad():
            pairs = model.edge_logits(z, tensors, src, dst).reshape(len(regulators), -1)
        assert pairs.std() > 0
        torch.testing.assert_close(blocks, pairs, rtol=1e-5, atol=1e-5)


def test_score_edges_keeps_the_best_pairs(perturbed):
    run = fit(perturbed, TrainConfig(**FAST))
    regulators = np.array([run.gene_index[t] for t in run.tfs])
    src = np.repeat(regulators, len(run.genes))
    dst = np.tile(np.arange(len(run.genes)), len(regulators))
    src, dst = src[src != dst], dst[src != dst]
    every = score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src), torch.as_tensor(dst))
    for top, batch in [(25, 1), (25, 3), (1, 2), (len(every), 5)]:
        table = score_edges(run, top=top, tf_batch=batch)
        assert len(table) == top
        best = np.sort(every)[::-1][:top]
        np.testing.assert_allclose(table["score"].to_numpy(), best, rtol=1e-5, atol=1e-6)
        names = np.array(run.genes)
        by_pair = pd.Series(every, index=pd.MultiIndex.from_arrays([names[src], names[dst]]))
        looked_up = by_pair.loc[list(zip(table["source"], table["target"]))].to_numpy()
        np.testing.assert_allclose(table["score"].to_numpy(), looked_up, rtol=1e-5, atol=1e-6)
    assert score_edges(run, top=0).empty


def test_score_edges_reports_progress(perturbed):
    run = fit(perturbed, TrainConfig(**FAST))
    seen = []
    score_edges(run, tf_batch=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == -(-len(run.tfs) // 2)


def test_many_pairs_are_scored_by_rows_as_one_by_one(perturbed, monkeypatch):
    from mtlgrn_core.model import pair_scoring

    run = fit(perturbed, TrainConfig(**FAST))
    rng = np.random.default_rng(0)
    regulators = np.array([run.gene_index[t] for t in run.tfs])
    src = rng.choice(regulators, 600)
    dst = rng.integers(0, len(run.genes), 600)
    args = (run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src), torch.as_tensor(dst))
    one_by_one = score_pairs(*args)
    monkeypatch.setattr(pair_scoring, "ROW_SCORING_MIN_PAIRS", 100)
    assert pair_scoring._rows_are_cheaper(torch.as_tensor(src), len(run.genes))
    by_rows = score_pairs(*args)
    np.testing.assert_allclose(by_rows, one_by_one, rtol=1e-5, atol=1e-6)
