"""Many knockouts in one call (issue 24): :func:`mtlgrn_core.answers.infer.predict_knockouts` gives each perturbation the
change its single query gives, the perturbation file is read with the line of any mistake, and an ensemble's
members are averaged."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtlgrn_core.answers import infer
from mtlgrn_core.answers.infer import KNOCKOUT_HEAD_SOURCE, LINEAR_SOURCE, predict_knockout, predict_knockouts
from mtlgrn_core.cli import main
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs.ensemble import ensemble_knockout, ensemble_knockouts, load_ensemble, save_ensemble
from mtlgrn_core.runs.run_cache import CACHE_FILES
from mtlgrn_core.runs.run_folder import load_run, save_run
from tests.conftest import FAST

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def partly_measured():
    """A run whose TFs' knockouts were measured and other genes' never: both ways the knockout head predicts."""
    return fit(simulate(40, seed=3, knockouts="tfs"), FAST)


def _perturbations(run):
    """A gene whose knockout was measured, one never perturbed (where the run has one), the two together, and
    another measured one."""
    measured = {run.genes[i] for i in run.inputs.ko_genes}
    a, c = run.tfs[:2]
    b = next((g for g in run.genes if g not in measured), run.genes[-1])
    return [[a], [b], [a, b], [c]]


def _assert_each_is_its_single_query(run, perturbations, dose):
    batch = predict_knockouts(run, perturbations, dose)
    names = ["+".join(genes) for genes in perturbations]
    assert list(batch.columns) == ["gene", "baseline", *names]
    assert list(batch["gene"]) == list(run.genes)
    np.testing.assert_array_equal(batch["baseline"], run.inputs.baseline.astype(np.float64))
    for genes, name in zip(perturbations, names):
        single = predict_knockout(run, genes, dose).set_index("gene").loc[list(run.genes)]
        np.testing.assert_allclose(batch[name], single["delta"], rtol=0, atol=TOLERANCE, err_msg=name)
    return batch


@pytest.mark.parametrize("dose", [0.0, 0.5])
def test_each_batched_perturbation_is_its_single_query(partly_measured, dose):
    run = partly_measured
    measured, unmeasured = _perturbations(run)[2]
    assert "knockout" in run.tasks and run.gene_index[measured] in run.inputs.ko_genes
    assert run.gene_index[unmeasured] not in run.inputs.ko_genes
    batch = _assert_each_is_its_single_query(run, _perturbations(run), dose)
    assert batch.attrs == {"warnings": [], "source": KNOCKOUT_HEAD_SOURCE}
    assert batch.loc[run.gene_index[measured], measured] == pytest.approx((dose - 1) * batch["baseline"].iloc[
        run.gene_index[measured]])  # the dose sets the perturbed gene
    assert not np.allclose(batch[measured], batch[f"{measured}+{unmeasured}"])


def test_perturbations_split_over_several_head_batches_give_the_same_changes(partly_measured, monkeypatch):
    run = partly_measured
    perturbations = _perturbations(run) + [[g] for g in run.tfs[:3] if [g] not in _perturbations(run)]
    whole = predict_knockouts(run, perturbations)
    monkeypatch.setattr(infer, "head_batch_size", lambda n_genes: 2)
    split = predict_knockouts(run, perturbations)
    np.testing.assert_allclose(split.iloc[:, 2:], whole.iloc[:, 2:], rtol=0, atol=TOLERANCE)


def test_a_run_without_a_knockout_head_batches_its_linear_responses(dataset):
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2, task_weights={"edge": 1, "knockout": 0,
                                                                                "expression": 0.3}))
    batch = _assert_each_is_its_single_query(run, _perturbations(run), 0.0)
    assert batch.attrs["source"] == LINEAR_SOURCE


def test_overexpression_warns_once_for_the_batch(run):
    with pytest.warns(infer.ExtrapolationWarning, match="overexpression"):
        batch = predict_knockouts(run, [[run.tfs[0]], [run.tfs[1]]], dose=1.5)
    assert len(batch.attrs["warnings"]) == 1


def test_a_perturbation_given_twice_is_refused(run):
    with pytest.raises(DataValidationError, match=f"perturbation {run.tfs[0]} is given more than once"):
        predict_knockouts(run, [[run.tfs[0]], [run.tfs[1]], [run.tfs[0]]])


# -- the perturbation file ---------------------------------------------------------------------------------
def test_the_perturbation_file_skips_comments_and_blank_lines(run, tmp_path):
    a, b, c = run.tfs[:3]
    path = tmp_path / "perturbations.txt"
    path.write_text(f"# regulators to knock out\n{a}\n\n  {b} + {c}  \n#{c}\n{c}\n")
    assert infer.read_perturbation_file(run, path) == [[a], [b, c], [c]]


@pytest.mark.parametrize("text, expected", [
    ("{a}\n# note\n{lower}\n", r"perturbations.txt, line 3: gene '{lower}' \(did you mean '{a}'\?\)"),
    ("{a}+NOPE\n", r"perturbations.txt, line 1: gene 'NOPE' is not in this run's"),
    ("{a}\n{b}\n{a}\n", r"perturbations.txt, line 3: {a} repeats line 1"),
    ("# nothing\n\n", r"perturbations.txt lists no perturbation"),
])
def test_a_bad_perturbation_file_names_its_line_and_gene(run, tmp_path, text, expected):
    a, b = run.tfs[:2]
    path = tmp_path / "perturbations.txt"
    path.write_text(text.format(a=a, b=b, lower=a.lower()))
    with pytest.raises(DataValidationError, match=expected.format(a=a, lower=a.lower())):
        infer.read_perturbation_file(run, path)


# -- ensembles ---------------------------------------------------------------------------------------------
def test_an_ensemble_averages_its_members_changes(run, dataset, tmp_path):
    first = load_run(save_run(run, tmp_path / "first"))  # a copy: saving an ensemble changes its members' info
    second = fit(dataset, TrainConfig(epochs=2, patience=2, hidden=16, heads=2, seed=1))
    folder = save_ensemble({0: first, 1: second}, [], tmp_path / "ensemble")
    for member in (folder, folder / "members" / "seed-1"):  # every member keeps what its queries would recompute
        assert all((member / name).is_file() for name in CACHE_FILES)
    ensemble = load_ensemble(folder)
    assert torch.equal(ensemble.members[1].embeddings(), second.embeddings())
    perturbations = _perturbations(run)[:3]
    batch = ensemble_knockouts(ensemble, perturbations)
    assert batch.attrs["members"] == 2 and list(batch["gene"]) == list(run.genes)
    for genes in perturbations:
        single = ensemble_knockout(ensemble, genes).set_index("gene").loc[list(run.genes)]
        np.testing.assert_allclose(batch["+".join(genes)], single["delta"], rtol=0, atol=TOLERANCE)
    members = [predict_knockouts(m, perturbations) for m in ensemble.members]
    assert not np.allclose(members[0].iloc[:, 2:], members[1].iloc[:, 2:])  # the mean is not one member's
    listing = tmp_path / "perturbations.txt"
    listing.write_text("\n".join("+".join(genes) for genes in perturbations))
    assert main(["knockout", "--run", str(folder), "--genes-file", str(listing), "--out", str(tmp_path / "o.csv")]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "o.csv").iloc[:, 1:], batch.iloc[:, 1:], rtol=1e-12)
