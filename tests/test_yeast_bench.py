"""BENCHMARK.md section 5's harness (bench/yeast.py, bench/yeast_data.py): folds that hold whole deletions out,
the baselines, the metrics; and the real yeast files where the shared data folder is present."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import yeast  # noqa: E402
from shared_data import shared_data_dir  # noqa: E402
from yeast_data import DeletionSet, load  # noqa: E402


@pytest.fixture()
def small():
    """Six measured genes; deletions of A (measured, twice not: once), B and C (not measured), D (no target)."""
    genes = ["A", "g1", "g2", "g3", "g4", "g5"]
    prior = pd.DataFrame({"source": ["A", "A", "B", "C", "C"], "target": ["g1", "g2", "g3", "g4", "A"],
                          "sign": [1, -1, 1, 1, -1]})
    profiles = np.array([[-3.0, 0.1, 0.2, 0.0, 0.1],
                         [-1.5, 0.0, 0.1, 0.2, 0.0],
                         [1.2, 0.3, 0.0, 0.1, 0.2],
                         [0.1, -2.0, 0.0, 0.0, 0.3],
                         [0.0, 0.1, -1.1, 0.4, 0.0],
                         [0.2, 0.0, 0.1, 0.0, 0.5]])
    return DeletionSet("small", genes, profiles, ["A", "B", "C", "D", "E"], prior, np.zeros((6, 1)))


def test_folds_hold_out_each_regulator_with_a_target_once(small):
    for seed in (0, 1):
        parts = yeast.folds(small, seed)
        assert len(parts) == min(yeast.FOLDS, 3)  # three regulators with a target: three folds, none empty
        held = [g for part in parts for g in part]
        assert sorted(held) == ["A", "B", "C"] and len(set(held)) == len(held)  # D and E regulate nothing


def test_baselines_predict_from_the_training_columns_and_the_prior_signs(small):
    train = np.array([1, 2, 3, 4])  # A held out
    assert np.allclose(yeast.mean_training_deletion(small, train, "A"), small.profiles[:, 1:].mean(axis=1))
    # A activates g1 (down when A is gone) and represses g2 (up)
    assert yeast.prior_direct_sign(small, train, "A").tolist() == [0, -1, 1, 0, 0, 0]
    assert not yeast.zero(small, train, "A").any()


def test_metrics_leave_the_measured_deleted_gene_out(small):
    measured = small.profiles[:, 0]  # A's deletion: A itself -3 (left out), g1 -1.5 and g2 +1.2 strong
    perfect = yeast.deletion_metrics(small, measured.copy(), 0)
    assert perfect["pearson_all"] == pytest.approx(1.0) and perfect["auroc_strong"] == 1.0
    wrong_only_on_a = measured.copy()
    wrong_only_on_a[0] = 100.0  # the deleted gene's own value does not count
    assert yeast.deletion_metrics(small, wrong_only_on_a, 0) == perfect
    flat = yeast.deletion_metrics(small, np.zeros(6), 0)
    assert flat["sign_acc_top"] == 0.0 and flat["auroc_strong"] == 0.5
    assert np.isnan(yeast.deletion_metrics(small, measured, 4)["auroc_strong"])  # E: no |log2| >= 1 change


def test_no_held_out_profile_reaches_the_mean_baseline(small):
    seen = []
    rows = yeast.run_set(small, [0], {"spy": lambda d, train, gene: seen.append((gene, set(train))) or
                                      np.zeros(6)}, yeast.Clock())
    assert {r["deletion"] for r in rows} == {"A", "B", "C"}
    for gene, train in seen:
        assert small.deleted.index(gene) not in train


SHARED = shared_data_dir() / "yeast_deletions"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared yeast data are not at {SHARED} (CI has them)")
def test_the_real_sets_load_as_section_5_describes():
    kemmeren = load("kemmeren", shared_data_dir())
    assert kemmeren.profiles.shape == (194, 1484) and "WT" not in kemmeren.deleted
    held = kemmeren.regulators_with_targets()
    assert len(held) == 122 and sum(g in kemmeren.genes for g in held) == 24
    tfs = load("tf_knockouts", shared_data_dir())
    assert tfs.profiles.shape == (573, 179)
    held = tfs.regulators_with_targets()
    assert len(held) == 104 and not set(held) & set(tfs.genes)  # no deleted TF is measured
    assert set(tfs.prior["sign"]) == {-1, 1} and set(tfs.prior["target"]) <= set(tfs.genes)


def test_propagation_rows_are_the_products_knockout_of_a_regulator_through_its_targets(small, tmp_path):
    from mtlgrn_core.answers.infer import predict_knockout
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    train = np.array([0, 2, 3, 4])  # B held out: B activates g3
    linear = yeast.METHODS["linear propagation through the prior"](small, train, "B")
    assert linear[3] < 0 and np.count_nonzero(linear) == 1  # nothing in the prior is downstream of g3
    dataset = yeast.fold_dataset(small, train)
    assert dataset.sample_sheet["perturbation"].tolist() == ["A", "C", "other", "other", "control"]
    assert "B" in set(dataset.outside_prior["source"])  # B is not measured: the prior names it and g3
    run = fit(dataset, TrainConfig(epochs=2, hidden=8, heads=1))
    product = predict_knockout(run, "B").set_index("gene")["delta"].reindex(small.genes).to_numpy()
    assert yeast.METHODS[yeast.MODEL](small, train, "B") == pytest.approx(product, abs=1e-5)
