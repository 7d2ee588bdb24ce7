"""Bootstrap ensembles: each member trains on its own resample of the samples (mtlgrn_core.inputs.bootstrap), so that the
spread of an observational run's knockouts, 0 across members that differ only in their seed, reflects the data."""

import contextlib
import json
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest

from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockout
from mtlgrn_core.cli import main
from mtlgrn_core.inputs.bootstrap import bootstrap_dataset, bootstrap_draws, copy_names, sample_kinds
from mtlgrn_core.inputs.data import write_dataset
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model import train as train_module
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.features import standardise_rows
from mtlgrn_core.model.linear_model import fit_observational_model
from mtlgrn_core.model.train import fit, make_split
from mtlgrn_core.runs.cluster import EnsembleOutcome, train_member
from mtlgrn_core.runs.ensemble import BOOTSTRAP_SPREAD, SEED_SPREAD, ensemble_knockout, load_ensemble, save_ensemble
from mtlgrn_core.runs.run_cache import RESPONSES_FILE
from mtlgrn_core.runs.run_folder import load_run

FAST = TrainConfig(epochs=3, patience=3, hidden=16, heads=2)


@pytest.fixture(scope="module")
def observational():
    """The 40-gene demo without its perturbed samples: every knockout is predicted by the linear responses."""
    dataset = simulate(40, seed=2)
    return dataset.without_samples({dataset.samples[p.sample] for p in dataset.perturbations()})


def _members(dataset, bootstrap: bool) -> dict:
    """Members seeds 0 and 1 on one split, as cluster.train_member trains them."""
    split = make_split(dataset, FAST.split, FAST.seed)
    return {seed: train_member(dataset, replace(FAST, seed=seed, bootstrap=bootstrap), split) for seed in (0, 1)}


@pytest.fixture(scope="module")
def bootstrap_ensemble(observational, tmp_path_factory):
    """A saved bootstrap ensemble of two members, and the members as trained (before saving)."""
    members = _members(observational, bootstrap=True)
    out = save_ensemble(members, [], tmp_path_factory.mktemp("boot") / "ens")
    return out, members


def _knockout(ensemble, gene):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return ensemble_knockout(ensemble, [gene])


def _regulator_with_targets(run) -> str:
    return run.prior["source"].value_counts().index[0]


def test_the_resample_draws_each_kind_of_training_sample_with_replacement_the_same_per_seed(dataset):
    draws = bootstrap_draws(dataset, 3)
    np.testing.assert_array_equal(draws, bootstrap_draws(dataset, 3))
    assert not np.array_equal(draws, bootstrap_draws(dataset, 4))
    assert draws.size == len(dataset.samples) and np.unique(draws).size < draws.size  # repeats: with replacement
    for kind in sample_kinds(dataset):  # controls, other unperturbed, perturbed: as many of each as the data have
        assert np.isin(draws, kind).sum() == kind.size
    resample = bootstrap_dataset(dataset, 3)
    assert len(set(resample.samples)) == len(resample.samples)
    assert set(resample.samples[j] for j in np.flatnonzero(np.diff(draws, prepend=-1))) <= set(dataset.samples)
    np.testing.assert_array_equal(resample.expression, dataset.expression[:, draws])
    assert len(resample.perturbations()) == len(dataset.perturbations())
    assert resample.control_samples().size == dataset.control_samples().size
    assert copy_names(["a", "a", "b", "a", "a#2"]) == ["a", "a#2#", "b", "a#3", "a#2"]


def test_a_bootstrap_fit_trains_on_its_resample_and_never_on_the_held_out_samples(dataset, monkeypatch):
    seen = []

    class Recorded(train_module._Stage):
        def __init__(self, data, *args, validation=None, **kwargs):
            seen.append((set(data.samples), None if validation is None else set(validation.samples)))
            super().__init__(data, *args, validation=validation, **kwargs)

    monkeypatch.setattr(train_module, "_Stage", Recorded)
    config = replace(FAST, epochs=2, patience=2, seed=5, bootstrap=True)
    run = fit(dataset, config)
    resample = bootstrap_dataset(dataset, 5)
    assert run.samples == resample.samples and run.info["bootstrap"] == {
        "seed": 5, "samples": len(dataset.samples), "distinct": len(set(bootstrap_draws(dataset, 5)))}
    [(judged, held), (refit, _)] = seen  # the judged fit, then the refit on the whole resample
    held_out = dataset.samples_perturbing(train_module.knockout_validation_genes(dataset, config))
    assert held == held_out and refit == set(resample.samples)
    assert not {name.split("#")[0] for name in judged} & held_out  # no copy of a held-out sample trains the judged fit
    np.testing.assert_allclose(run.inputs.expression, standardise_rows(resample.expression))


def test_a_plain_fit_says_it_is_no_bootstrap_member(run):
    assert run.info["bootstrap"] is None and not run.config.bootstrap


def test_bootstrap_members_spread_an_observational_knockout_where_seed_members_do_not(observational, bootstrap_ensemble,
                                                                                     tmp_path):
    out, members = bootstrap_ensemble
    gene = _regulator_with_targets(members[0])
    plain = load_ensemble(save_ensemble(_members(observational, bootstrap=False), [], tmp_path / "plain"))
    same = _knockout(plain, gene)
    assert np.abs(same["delta_sd"]).max() == 0 and not same.attrs["bootstrap"] and same.attrs["spread"] == SEED_SPREAD
    spread = _knockout(load_ensemble(out), gene)
    moved = spread[~spread["perturbed"] & (spread["delta"].abs() > 1e-9)]
    assert len(moved) and (moved["delta_sd"] > 0).all()
    assert spread.attrs["bootstrap"] and spread.attrs["spread"] == BOOTSTRAP_SPREAD
    for seed, member in members.items():  # each member's linear responses are fitted on its own resample
        resample = bootstrap_dataset(observational, seed)
        edges = np.stack([member.prior[c].map(member.gene_index).to_numpy() for c in ("source", "target")])
        expected = fit_observational_model(standardise_rows(resample.expression), edges).weights
        np.testing.assert_allclose(member.linear_responses().weights.toarray(), expected.toarray(), atol=1e-6)


def test_a_reloaded_bootstrap_member_refits_the_same_responses_and_predicts_as_before(bootstrap_ensemble, tmp_path):
    saved, members = bootstrap_ensemble
    out = shutil.copytree(saved, tmp_path / "ens")
    listing = json.loads((out / "ensemble.json").read_text())
    assert listing["bootstrap"] is True
    ensemble = load_ensemble(out)
    assert ensemble.bootstrap and ensemble.seeds == [0, 1]
    gene = _regulator_with_targets(members[0])
    for seed, loaded in zip(ensemble.seeds, ensemble.members):
        assert loaded.info["bootstrap"]["seed"] == seed and loaded.config.bootstrap
        assert loaded.info["ensemble"] == {"seed": seed, "members": 2, "bootstrap": True}
        (loaded.path / RESPONSES_FILE).unlink()  # no saved responses: the reloaded member fits them again
        refitted = load_run(loaded.path)
        for run in (loaded, refitted):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExtrapolationWarning)
                before = predict_knockout(members[seed], [gene]).set_index("gene")["delta"]
                after = predict_knockout(run, [gene]).set_index("gene")["delta"]
            np.testing.assert_allclose(after.loc[before.index], before, atol=1e-9)


def test_bootstrap_needs_an_ensemble(observational, tmp_path, capsys):
    folder = write_dataset(observational, tmp_path / "data")
    for seeds in ([], ["--seeds", "1"]):
        assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--bootstrap", *seeds]) == 2
        error = capsys.readouterr().err
        assert "--bootstrap" in error and "--seeds N (N >= 2)" in error and "Traceback" not in error
    assert not (tmp_path / "run").exists()


def test_train_seeds_bootstrap_hands_the_members_a_bootstrap_config(observational, tmp_path, capsys, monkeypatch):
    import mtlgrn_core.runs.cluster as cluster

    jobs = []

    def trained(given, client, on_event=None):
        jobs.extend(given)
        return [EnsembleOutcome(job.out, job.seeds, []) for job in given]

    monkeypatch.setattr(cluster, "dask_client", lambda *args, **kwargs: contextlib.nullcontext())
    monkeypatch.setattr(cluster, "train_ensembles", trained)
    folder = write_dataset(observational, tmp_path / "data")
    argv = ["train", "--data", str(folder), "--out", str(tmp_path / "ens"), "--seeds", "3", "--bootstrap"]
    assert main(argv) == 0
    [job] = jobs
    assert job.config.bootstrap and job.seeds == [0, 1, 2]
    error = capsys.readouterr().err
    assert "each on its own bootstrap resample" in error and BOOTSTRAP_SPREAD in error
