"""bench/observational.py (BENCHMARK.md section 4) on DREAM4 net 1, seed 0, baselines only. Skipped when
``../shared/data/dream4_insilico`` is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import dream4_data  # noqa: E402

try:
    dream4_data.dream4_dir()
except FileNotFoundError as exc:
    pytest.skip(f"../shared/data/dream4_insilico not found: {exc}", allow_module_level=True)

import observational  # noqa: E402
from common import Clock  # noqa: E402


def test_observational_data_keep_no_perturbed_sample():
    data = observational.observational(dream4_data.load_dream4(1, promoters=False))
    assert not data.perturbations() and len(data.samples) == 311  # wild type, 100 multifactorial, 210 time points
    assert not any(s.startswith(("ko_", "kd_")) for s in data.samples)


def test_every_prior_regulator_is_knocked_out_and_linear_propagation_beats_zero():
    rows = observational.run_net(1, [0], model=False, epochs=None, shared=None, clock=Clock())
    by_method = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    linear = by_method[observational.LINEAR]
    assert len(linear) == len(by_method[observational.ZERO]) == 36  # regulators of the seed-0 prior on net 1
    zero_r = np.mean([r["pearson_top"] for r in by_method[observational.ZERO]])
    linear_r = np.mean([r["pearson_top"] for r in linear])
    gold_r = np.mean([r["pearson_top"] for r in by_method[observational.LINEAR_GOLD]])
    assert zero_r == 0.0 and linear_r > 0.3 and gold_r > linear_r  # measured: 0, 0.414, 0.510
    assert np.mean([r["sign_acc_targets"] for r in linear]) > 0.8  # measured 0.897
