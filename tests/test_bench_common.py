"""The benchmark harness's own rules (bench/common.py, bench/dream4.py): development and reporting seeds, the
one-sd rule for a win, the TF hold-out's run as users get it, and what the double-knockout run may know.
Needs no shared data: a simulated dataset stands in for DREAM4."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import dream4  # noqa: E402
from conftest import FAST  # noqa: E402

from mtlgrn_core.model.splits import EDGE, TEST, TF, TRAIN, VAL
from mtlgrn_core.model.train import make_split


def test_seeds_default_to_development_and_reporting_groups():
    args = dream4.parse_args([])
    assert args.seeds == list(range(10))
    assert [common.seed_group(s) for s in (0, 4, 5, 9, 11)] == ["development"] * 2 + ["reporting"] * 2 + ["other"]


def _frame(dev, rep):
    rows = [{"method": "A", "seed": s, "auprc": v} for s, v in zip(range(5), dev)]
    rows += [{"method": "A", "seed": s, "auprc": v} for s, v in zip(range(5, 10), rep)]
    return pd.DataFrame(rows)


def test_tables_show_each_seed_group_and_name_a_disagreement_beyond_one_sd():
    apart = common.markdown_table(_frame([0.50, 0.52, 0.48, 0.51, 0.49], [0.70, 0.72, 0.68, 0.71, 0.69]),
                                  ["A"], ["auprc"], ["AUPRC"], {})
    assert apart.index("Reporting seeds 5-9") < apart.index("Development seeds 0-4")
    assert "0.700 ± 0.016" in apart and "0.500 ± 0.016" in apart
    assert "A AUPRC 0.500 -> 0.700" in apart
    level = common.markdown_table(_frame([0.50, 0.60, 0.40, 0.55, 0.45], [0.52, 0.62, 0.42, 0.57, 0.47]),
                                  ["A"], ["auprc"], ["AUPRC"], {})
    assert "agree within one sd everywhere" in level


def test_a_win_counts_only_beyond_the_larger_sd():
    a = pd.Series([0.30, 0.32, 0.28])  # mean 0.30, sd 0.02
    assert common.beyond_one_sd(a, pd.Series([0.27, 0.27, 0.27])) == 1  # 0.03 > 0.02
    assert common.beyond_one_sd(a, pd.Series([0.29, 0.29, 0.29])) == 0  # 0.01: a tie
    assert common.beyond_one_sd(pd.Series([0.20, 0.21, 0.22]), a) == -1
    assert common.beyond_one_sd(a, pd.Series([0.25, 0.35, 0.15])) == 0  # the other's sd (0.1) decides


def test_the_tf_holdout_also_fits_the_run_as_users_get_it(dataset):
    tf_split = make_split(dataset, TF, 0)
    extra = common.dashboard_variant(FAST, tf_split)
    assert [(name, config.edge_decoder) for name, config in extra] == [(common.AS_DASHBOARD, "validated")]
    assert common.dashboard_variant(FAST, make_split(dataset, EDGE, 0)) == []
    assert common.dashboard_variant(replace(FAST, edge_decoder="full"), tf_split) == []


def test_the_double_knockout_run_knows_only_the_train_positives(dataset):
    split = make_split(dataset, EDGE, 0)
    run = dream4.double_knockout_run(dataset, split, replace(FAST, split=EDGE))
    index = {g: i for i, g in enumerate(dataset.genes)}
    known = set(zip(run.prior["source"].map(index), run.prior["target"].map(index)))
    assert known == set(zip(*split.positives(TRAIN)))
    for role in (VAL, TEST):
        held = set(zip(*split.positives(role)))
        assert held and not known & held
    # the linear responses every knockout prediction starts from run along those edges only
    weights = run.linear_responses().weights.tocoo()
    carried = {(int(r), int(g)) for g, r, w in zip(weights.row, weights.col, weights.data) if w != 0}
    assert carried and carried <= known
