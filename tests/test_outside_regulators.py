"""Knockouts of regulators the expression does not measure (issue 25, item 3): the prior names them and their
targets, so their change starts at their targets (mtlgrn_core.model.outside_regulators)."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from mtlgrn_core.answers.infer import predict_knockout, predict_knockouts
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import build_dataset
from mtlgrn_core.model.linear_model import LinearModel
from mtlgrn_core.model.outside_regulators import (
    DEFAULT_STEP,
    MIN_EDGES,
    common_share,
    learn_transfer,
    start_change,
    trimmed_mean,
)
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs.run_folder import load_run, save_run
from tests.conftest import FAST

GENES = [f"G{i}" for i in range(30)]


def _edges(rows):
    return pd.DataFrame(rows, columns=["source", "target", "sign"])


def test_learned_step_is_how_far_direct_targets_moved_beyond_the_common_response():
    rng = np.random.default_rng(0)
    common = rng.normal(size=len(GENES))
    regulators = [f"TF{k}" for k in range(6)]
    rows = []
    responses = np.tile(common, (len(regulators), 1))
    for r, tf in enumerate(regulators):
        for t in range(r * 4, r * 4 + 4):
            sign = -1 if t % 4 == 0 else 1
            rows.append((tf, GENES[t], sign))
            responses[r, t] += -sign * 0.8  # activated targets down, repressed ones up
    transfer = learn_transfer(responses, regulators, _edges(rows), GENES)
    assert transfer.step_edges == 24 and transfer.perturbations == 6
    # each target moved in one of the six deletions: the trimmed mean leaves that move out of the shared response
    assert transfer.step == pytest.approx(0.8)
    assert transfer.common == pytest.approx(common)


def test_the_shared_response_is_a_trimmed_mean_of_the_finite_values():
    values = np.array([[1.0, 0.0, np.nan], [1.2, 0.1, np.nan], [0.8, -0.1, np.nan], [1.1, 0.0, np.nan],
                       [0.9, 50.0, np.nan], [1.0, 0.0, np.nan], [1.0, 0.0, np.nan], [1.0, 0.0, np.nan],
                       [1.0, 0.0, np.nan], [1.0, 0.0, 2.0]])
    shared = trimmed_mean(values)
    assert shared[0] == pytest.approx(1.0, abs=0.03) and shared[1] == pytest.approx(0.0, abs=0.03)  # 50 left out
    assert shared[2] == 2.0  # a single finite value is its own mean
    assert not trimmed_mean(np.full((3, 2), np.nan)).any()


def test_a_perturbed_genes_own_change_is_not_a_response():
    responses = np.zeros((3, len(GENES)))
    for r in range(3):
        responses[r, r] = -10.0  # the knocked-out gene itself
    transfer = learn_transfer(responses, GENES[:3], _edges([("G0", "G5", 1)]), GENES)
    assert np.abs(transfer.common).max() == 0.0


def test_too_few_direct_targets_keep_the_default_step_and_no_perturbation_no_common_response():
    few = learn_transfer(np.ones((3, len(GENES))), ["A", "B", "C"],
                         _edges([("A", "G1", 1), ("B", "G2", 1)]), GENES)
    assert MIN_EDGES > 2 and few.step == DEFAULT_STEP and few.step_edges == 0
    assert few.common == pytest.approx(np.ones(len(GENES)))
    none = learn_transfer(np.zeros((0, len(GENES))), [], _edges([("A", "G1", 1)]), GENES)
    assert none.perturbations == 0 and not none.common.any() and none.step == DEFAULT_STEP
    assert "no measured perturbation" in none.describe()


def test_start_change_follows_edge_sign_and_dose():
    index = {g: i for i, g in enumerate(GENES)}
    edges = _edges([("TF", "G1", 1), ("TF", "G2", -1), ("TF", "G3", 0), ("TF", "absent", 1)])
    knockout = start_change(["TF"], [0.0], edges, index, 0.5)
    assert knockout[[1, 2, 3]] == pytest.approx([-0.5, 0.5, -0.5])
    assert np.count_nonzero(knockout) == 3
    assert start_change(["TF"], [0.5], edges, index, 0.5)[1] == pytest.approx(-0.25)
    assert start_change(["TF"], [2.0], edges, index, 0.5)[1] == pytest.approx(0.5)
    assert common_share([0.0]) == 1.0 and common_share([0.5]) == 0.5 and common_share([2.0]) == 0.0


def test_propagation_holds_a_start_and_carries_it_downstream():
    w = sparse.csr_matrix(([0.5, -0.4], ([1, 2], [0, 1])), shape=(3, 3))  # 0 -> 1 -> 2
    model = LinearModel(weights=w, gain=1.0)
    delta = model.propagate([], np.zeros(3), start=np.array([1.0, 0.0, 0.0]))
    assert delta == pytest.approx([1.0, 0.5, -0.2], abs=1e-8)


@pytest.fixture(scope="module")
def outside_dataset(dataset):
    genes = list(dataset.genes)
    extra = _edges([("TFX", genes[0], 1), ("TFX", genes[1], 1), ("TFX", genes[2], -1), ("TFX", "NOT_MEASURED", 1)])
    prior = pd.concat([dataset.prior, extra], ignore_index=True)
    return build_dataset(genes=genes, samples=list(dataset.samples), expression=dataset.expression, prior=prior,
                         tfs=list(dataset.tfs), log_transform=False, name="outside")


def test_the_dataset_keeps_edges_from_regulators_it_does_not_measure(outside_dataset):
    assert set(outside_dataset.outside_prior["source"]) == {"TFX"}
    assert len(outside_dataset.outside_prior) == 3
    assert "TFX" not in set(outside_dataset.prior["source"])
    assert any("can still be knocked out" in w for w in outside_dataset.warnings)


@pytest.fixture(scope="module")
def outside_run(outside_dataset, tmp_path_factory):
    run = fit(outside_dataset, FAST)
    return load_run(save_run(run, tmp_path_factory.mktemp("runs") / "outside"))


def test_an_unmeasured_regulators_knockout_starts_at_its_targets(outside_run):
    table = predict_knockout(outside_run, "TFX").set_index("gene")
    genes = outside_run.genes
    assert table.loc[genes[0], "delta"] < 0 and table.loc[genes[1], "delta"] < 0  # activated targets go down
    assert table.loc[genes[2], "delta"] > 0  # the repressed one goes up
    assert not table["perturbed"].any()
    assert table.attrs["not_measured"] == ["TFX"]
    assert "TFX: not measured" in table.attrs["source"]
    assert outside_run.regulators_not_measured() == ["TFX"]
    # observational: nothing learned from perturbations, so no range, and the evidence says what that is worth
    assert "range_low" not in table.columns
    assert "prior's targets alone" in table.attrs["evidence"] and "make bench-yeast" in table.attrs["evidence"]


def test_an_unmeasured_regulator_with_a_measured_gene_and_in_a_batch(outside_run):
    gene = outside_run.genes[5]
    single = predict_knockout(outside_run, ["TFX", gene]).set_index("gene")
    assert single.loc[gene, "perturbed"]
    batch = predict_knockouts(outside_run, [["TFX"], ["TFX", gene]])
    assert list(batch.columns[2:]) == ["TFX", f"{gene}+TFX"]
    alone = predict_knockout(outside_run, "TFX").set_index("gene")["delta"]
    assert batch.set_index("gene")["TFX"].to_numpy() == pytest.approx(alone.reindex(batch["gene"]).to_numpy(),
                                                                      abs=1e-6)


def test_a_gene_neither_measured_nor_a_prior_regulator_is_named(outside_run):
    with pytest.raises(DataValidationError, match="'TFY'.*nor one of the 1 regulators its prior names"):
        predict_knockout(outside_run, "TFY")
    with pytest.raises(DataValidationError, match="did you mean 'TFX'"):
        predict_knockout(outside_run, "tfx")


def _with_tfx_deletions(dataset, perturbation="TFX"):
    """``dataset`` plus 4 samples deleting the unmeasured TFX (prior: it activates genes 0-11, 12 edges):
    copies of control samples with those targets lowered by one standard deviation."""
    genes = list(dataset.genes)
    controls = np.resize(dataset.control_samples(), 4)
    extra = dataset.expression[:, controls].astype(np.float64).copy()
    sd = dataset.expression.std(axis=1)
    extra[:12] -= sd[:12, None]
    names = [f"tfx_{k}" for k in range(4)]
    sheet = pd.concat([dataset.sample_sheet, pd.DataFrame({"sample": names, "perturbation": perturbation,
                                                             "dose": 0.0})], ignore_index=True)
    prior = pd.concat([dataset.prior, _edges([("TFX", g, 1) for g in genes[:12]])], ignore_index=True)
    return build_dataset(genes=genes, samples=[*dataset.samples, *names],
                         expression=np.concatenate([dataset.expression, extra], axis=1), prior=prior,
                         tfs=list(dataset.tfs), sample_sheet=sheet, log_transform=False, name="tfx deletions")


def test_deletions_of_an_unmeasured_regulator_teach_its_step_and_survive_a_reload(dataset, tmp_path):
    data = _with_tfx_deletions(dataset)
    assert [p[1] for p in data.outside_perturbations()] == [("TFX",)] * 4
    assert not set(data.control_samples()) & {p[0] for p in data.outside_perturbations()}
    run = fit(data, FAST)
    transfer = run.transfer_response()
    regulators = set(data.prior["source"]) | {"TFX"}
    measured = [data.genes[g] for g in run.inputs.ko_genes]
    assert transfer.perturbations == sum(g in regulators for g in [*measured, "TFX"])
    assert transfer.step_edges >= 12 and transfer.step > 0
    reloaded = load_run(save_run(run, tmp_path / "tfx"))
    again = reloaded.transfer_response()
    assert again.step == pytest.approx(transfer.step) and again.common == pytest.approx(transfer.common)
    table = predict_knockout(reloaded, "TFX").set_index("gene")
    z = table["delta"] / pd.Series(reloaded.inputs.scale, index=list(reloaded.genes))
    assert (table["range_low"] <= table["delta"]).all() and (table["delta"] <= table["range_high"]).all()
    assert (table["range_high"] > table["range_low"]).any()
    assert "r = 0.31" in table.attrs["evidence"]
    assert z.loc[list(data.genes[:12])].mean() < z.loc[list(data.genes[12:])].mean() - 0.1  # its targets go down


def test_a_perturbed_gene_neither_measured_nor_in_the_prior_is_refused(dataset):
    with pytest.raises(DataValidationError, match="'TFZ'.*nor a regulator of a measured gene in the prior"):
        _with_tfx_deletions(dataset, perturbation="TFZ")


def test_a_prior_whose_regulators_are_all_unmeasured_is_used_for_their_knockouts(dataset):
    genes = list(dataset.genes)
    prior = _edges([("TFX", g, 1) for g in genes[:12]])
    data = build_dataset(genes=genes, samples=list(dataset.samples), expression=dataset.expression, prior=prior,
                         log_transform=False, name="outside only")
    assert len(data.prior) == 0 and len(data.outside_prior) == 12
    assert any("none of its 12 edges joins two measured genes" in w and "can still be knocked out" in w
               for w in data.warnings)
    run = fit(data, FAST)
    assert predict_knockout(run, "TFX").set_index("gene").loc[genes[:12], "delta"].lt(0).all()
    with pytest.raises(DataValidationError, match="none of its 3 edges joins two genes"):
        build_dataset(genes=genes, samples=list(dataset.samples), expression=dataset.expression,
                      prior=prior.iloc[:3], log_transform=False)  # too few to be more than a naming accident


def test_a_saved_dataset_keeps_its_unmeasured_regulators_and_their_deletions(dataset, tmp_path):
    from mtlgrn_core.inputs.data import load_dataset, write_dataset

    data = _with_tfx_deletions(dataset)
    again = load_dataset(write_dataset(data, tmp_path / "saved"))  # a workspace reloads its datasets this way
    pd.testing.assert_frame_equal(again.outside_prior.sort_values(["source", "target"]).reset_index(drop=True),
                                  data.outside_prior.sort_values(["source", "target"]).reset_index(drop=True),
                                  check_dtype=False)
    assert len(again.prior) == len(data.prior)
    assert [p[1] for p in again.outside_perturbations()] == [("TFX",)] * 4
