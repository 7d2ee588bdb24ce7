"""An ensemble from the Train page (a local Dask cluster), its edge stability on the Network page and the spread of
its predicted changes on the Knockout page."""

import json
import time

import pytest

from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit, make_split
from mtlgrn_core.runs.ensemble import save_ensemble
from mtlgrn_ui.background import tasks

from .conftest import FAST, page
from .test_knockout_page import predict


@pytest.fixture()
def ensemble_run(home, demo_dataset):
    """A workspace holding the demo and an ensemble of three members (trained here, one split)."""
    dataset_id = home.save_dataset(demo_dataset, "demo")
    config = TrainConfig(**{**FAST, "epochs": 4, "patience": 4})
    split = make_split(demo_dataset, config.split, config.seed)
    members = {seed: fit(demo_dataset, TrainConfig(**{**config.to_dict(), "seed": seed}), split=split)
               for seed in range(3)}
    out = save_ensemble(members, [], home.new_run_path("ens"), info={"name": "ens", "dataset_id": dataset_id})
    return dataset_id, out.name


def test_train_page_trains_an_ensemble_on_a_local_cluster(home, demo_dataset):
    dataset_id = home.save_dataset(demo_dataset, "demo")
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception
    app.number_input(key="ensemble_members").set_value(2)
    app.number_input(key="ensemble_epochs").set_value(2)
    app.button(key="ensemble_train").click().run()
    assert not app.exception and not app.error
    task = tasks().get((dataset_id, "ensemble"))
    task.join(240)
    deadline = time.time() + 30
    while time.time() < deadline and not app.success:
        app.run()
    assert any("Ensemble of 2 members saved" in s.value for s in app.success), [e.value for e in app.error]
    [entry] = [e for e in home.runs() if e.members]
    assert entry.members == 2 and entry.ok
    assert any("(ensemble of 2)" in name for name in app.dataframe[0].value["run"])


def test_network_page_shows_stability_and_hides_unstable_edges(ensemble_run):
    dataset_id, run_id = ensemble_run
    app = page("3_Network.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    table = next(d.value for d in app.dataframe if "regulator" in d.value.columns)
    assert {"stability", "score spread"} <= set(table.columns)
    assert table["stability"].between(0, 1).all() and (table["stability"] < 1).any()
    app.slider(key="min_stability").set_value(1.0).run()
    stable = next(d.value for d in app.dataframe if "regulator" in d.value.columns)
    assert len(stable) > 0 and (stable["stability"] == 1).all()


def test_knockout_page_shows_the_members_spread(ensemble_run):
    dataset_id, run_id = ensemble_run
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert any("An ensemble of 3 runs" in c.value for c in app.caption)
    from mtlgrn_ui import resources

    run = resources.run(run_id)
    predict(app, list(run.tfs[:2]))  # a double knockout: the members' learned parts differ
    assert not app.exception and not app.error
    table = next(d.value for d in app.dataframe if "delta" in d.value.columns)
    assert {"delta_sd", "delta_low", "delta_high", "uncertain"} <= set(table.columns)
    assert (table["delta_sd"] > 0).any()
    bars = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["error_x"]["symmetric"] is False and "array" in bars["error_x"] and "arrayminus" in bars["error_x"]


def test_evaluate_page_sets_the_ensembles_mean_score_beside_its_first_member(ensemble_run):
    dataset_id, run_id = ensemble_run
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    metrics = next(d.value for d in app.dataframe if "auprc" in d.value.columns)
    assert {"MTLGRN", "MTLGRN ensemble"} <= set(metrics["method"] if "method" in metrics else metrics.index)


def test_train_page_trains_a_bootstrap_ensemble_when_its_box_is_ticked(home, demo_dataset, monkeypatch):
    from mtlgrn_core.runs.cluster import EnsembleOutcome
    from mtlgrn_ui import ensembles

    given = []

    def trained(workspace, dataset_id, config, members, name, **kwargs):  # what the page hands the cluster
        given.append((config, members))
        return EnsembleOutcome(workspace.new_run_path(name), list(range(members)), [])

    monkeypatch.setattr(ensembles, "train_workspace_ensemble", trained)
    dataset_id = home.save_dataset(demo_dataset, "demo")
    app = page("2_Train.py", dataset_id=dataset_id).run()
    box = app.checkbox(key="ensemble_bootstrap")
    assert box.value is False and "a resample of the training samples, drawn with replacement" in box.proto.help
    box.check()
    app.number_input(key="ensemble_members").set_value(2)
    app.button(key="ensemble_train").click().run()
    assert not app.exception and not app.error
    tasks().get((dataset_id, "ensemble")).join(60)
    app.run()
    [(config, members)] = given
    assert config.bootstrap and members == 2
    assert any("Ensemble of 2 bootstrap members saved" in s.value for s in app.success), [e.value for e in app.error]
