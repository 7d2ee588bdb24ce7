"""A run's figures on the test pairs of its own split, beside the baselines on the same pairs: what
``metrics.json`` holds, what ``fit`` computes at its end and ``python -m mtlgrn_core evaluate --run`` prints."""

from __future__ import annotations

import torch

from mtlgrn_core.model.baselines import baseline_scores
from mtlgrn_core.model.metrics import edge_metrics
from mtlgrn_core.model.pair_scoring import score_pairs
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import TEST, TRAIN


def test_metrics(run: Run) -> dict:
    """Test-split metrics of the run and of the baselines on the same pairs, from the run alone (its stored
    split and inputs): what ``metrics.json`` holds and ``python -m mtlgrn_core evaluate --run`` prints."""
    split = run.split
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    out: dict = {"tasks": run.tasks, "split": {"kind": split.kind, "seed": split.seed},
                 "test_pairs": int(len(labels)), "test_positives": int(labels.sum())}
    if len(labels) == 0 or not labels.any():
        out["test"] = None
        return out
    model_scores = score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src),
                               torch.as_tensor(dst))
    baselines = baseline_scores(run, split.positives(TRAIN), src, dst)
    out["test"] = _rounded(edge_metrics(model_scores, labels))
    out["baselines"] = {name: _rounded(edge_metrics(s, labels)) for name, s in baselines.items()}
    return out


def _rounded(metrics: dict) -> dict:
    return {k: (round(float(v), 5) if isinstance(v, float) else v) for k, v in metrics.items()}
