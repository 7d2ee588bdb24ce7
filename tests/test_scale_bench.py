"""bench/scale.py (BENCHMARK.md section 3): its synthetic data and one tiny measured size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scale  # noqa: E402


def test_the_synthetic_data_follow_their_network():
    dataset = scale.linear_dataset(400, n_samples=200)
    assert dataset.n_genes == 400 and len(dataset.samples) == 200 and len(dataset.tfs) == 30
    assert set(dataset.prior["source"]) <= set(dataset.tfs) and 120 <= len(dataset.prior) <= 144
    # a target correlates with its regulator far more than two genes picked at random
    x = dataset.expression
    src = dataset.prior["source"].map(dataset.gene_index).to_numpy()
    dst = dataset.prior["target"].map(dataset.gene_index).to_numpy()
    linked = np.mean([abs(np.corrcoef(x[a], x[b])[0, 1]) for a, b in zip(src, dst)])
    rng = np.random.default_rng(0)
    random = np.mean([abs(np.corrcoef(x[a], x[b])[0, 1]) for a, b in rng.integers(0, 400, (200, 2)) if a != b])
    assert linked > 3 * random


def test_one_size_is_measured_and_tabulated():
    row = scale.measure(200, epochs=2, genie3_targets=2)
    assert row["genes"] == 200 and row["pairs"] == 15 * 199 and row["epochs"] == 2
    assert all(row[k] > 0 for k in ("epoch_s", "train_s", "score_s", "knockout_ms", "genie3_s", "peak_gib"))
    text = scale.table([row])
    assert text.count("\n") == 2 and "| 200 | 2,985 |" in text
