"""Ensembles trained as Dask tasks: on a LocalCluster, on a scheduler and a worker started here on 127.0.0.1,
with a member that fails or whose worker dies; and what an ensemble tells a user (edge stability, knockout
uncertainty)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mtlgrn_core.answers.infer import predict_knockout, score_edges
from mtlgrn_core.cli import main
from mtlgrn_core.inputs.data import write_dataset
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import make_split
from mtlgrn_core.runs.cluster import EnsembleJob, dask_client, train_ensembles, train_member
from mtlgrn_core.runs.ensemble import ensemble_edges, ensemble_knockout, load_ensemble
from mtlgrn_core.runs.run_folder import is_ensemble

ROOT = Path(__file__).resolve().parents[1]
FAST = TrainConfig(epochs=4, patience=4, hidden=16, heads=2)


@pytest.fixture(scope="module")
def demo():
    return simulate(40, seed=2)


@pytest.fixture(scope="module")
def local_ensemble(demo, tmp_path_factory):
    """Three members trained on a LocalCluster of two worker processes."""
    out = tmp_path_factory.mktemp("ensemble") / "ens"
    events = []
    with dask_client(workers=2) as client:
        [outcome] = train_ensembles([EnsembleJob(demo, FAST, 3, out)], client, on_event=events.append)
    return outcome, events


def test_an_ensemble_on_a_local_cluster_is_a_run_folder_listing_its_members(demo, local_ensemble):
    outcome, events = local_ensemble
    assert outcome.trained == [0, 1, 2] and outcome.failures == [] and len(events) == 3
    assert is_ensemble(outcome.out)
    listing = json.loads((outcome.out / "ensemble.json").read_text())
    assert [m["path"] for m in listing["members"]] == [".", "members/seed-1", "members/seed-2"]
    ensemble = load_ensemble(outcome.out)
    assert ensemble.seeds == [0, 1, 2]
    assert [m.config.seed for m in ensemble.members] == [0, 1, 2]
    split = make_split(demo, FAST.split, FAST.seed)
    for member in ensemble.members:  # one split for all; the seed changes the model only
        np.testing.assert_array_equal(member.split.role, split.role)
    # a member trained in a worker process is the run the same seed gives here (up to the order of float sums:
    # the worker uses one thread)
    alone = train_member(demo, TrainConfig(**{**FAST.to_dict(), "seed": 1}), split)
    for name, value in alone.state.items():
        torch.testing.assert_close(ensemble.members[1].state[name], value, rtol=1e-4, atol=1e-5)
    assert not torch.equal(ensemble.members[0].state["ko_offset"], ensemble.members[1].state["ko_offset"])


def test_ensemble_edges_carry_stability_and_spread(local_ensemble):
    ensemble = load_ensemble(local_ensemble[0].out)
    table = ensemble_edges(ensemble, top=40, stability_top=20)
    assert list(table.columns) == ["rank", "source", "target", "score", "score_sd", "stability", "in_prior"]
    assert len(table) == 40 and table["score"].is_monotonic_decreasing
    assert set(np.round(table["stability"] * 3).astype(int)) <= {0, 1, 2, 3}
    assert (table["stability"] > 0).any() and (table["score_sd"] > 0).any()
    member_tables = [score_edges(m, top=None).set_index(["source", "target"])["score"] for m in ensemble.members]
    for row in table.head(10).itertuples():
        scores = np.array([t.loc[(row.source, row.target)] for t in member_tables])
        assert row.score == pytest.approx(scores.mean(), abs=1e-6)
        assert row.score_sd == pytest.approx(scores.std(ddof=1), abs=1e-6)
        in_top = [(row.source, row.target) in set(t.sort_values(ascending=False).index[:20]) for t in member_tables]
        assert row.stability == pytest.approx(np.mean(in_top))


def test_ensemble_knockout_carries_the_spread_and_marks_uncertain_changes(demo, local_ensemble):
    ensemble = load_ensemble(local_ensemble[0].out)
    unmeasured = next(g for g in ensemble.first.genes if g not in set(ensemble.first.tfs))
    table = ensemble_knockout(ensemble, [unmeasured])
    assert {"delta_sd", "delta_low", "delta_high", "uncertain"} <= set(table.columns)
    members = [predict_knockout(m, [unmeasured]).set_index("gene")["delta"] for m in ensemble.members]
    for row in table.head(5).itertuples():
        deltas = np.array([d.loc[row.gene] for d in members])
        assert row.delta == pytest.approx(deltas.mean(), abs=1e-9)
        assert row.delta_low <= row.delta <= row.delta_high
        assert row.uncertain == (row.delta_low <= 0 <= row.delta_high)
    assert table.attrs["members"] == 3


def _fails_for_seed_1(dataset, config, split):
    if config.seed == 1:
        raise RuntimeError("simulated failure of member 1")
    return train_member(dataset, config, split)


def _fails_once_for_seed_2(dataset, config, split):
    marker = Path(os.environ["MTLGRN_TEST_MARKER"])
    if config.seed == 2 and not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("simulated transient failure")
    return train_member(dataset, config, split)


def test_a_failing_member_is_retried_once_then_left_out(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("MTLGRN_TEST_MARKER", str(tmp_path / "marker"))
    events = []
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        [broken] = train_ensembles([EnsembleJob(demo, FAST, 3, tmp_path / "broken")], client,
                                   work=_fails_for_seed_1, on_event=events.append)
        [flaky] = train_ensembles([EnsembleJob(demo, FAST, 3, tmp_path / "flaky")], client,
                                  work=_fails_once_for_seed_2, on_event=events.append)
    assert broken.trained == [0, 2]
    assert [(f["seed"], f["attempt"]) for f in broken.failures] == [(1, 1), (1, 2)]
    assert "simulated failure of member 1" in broken.failures[-1]["error"]
    assert load_ensemble(broken.out).seeds == [0, 2]
    assert json.loads((broken.out / "ensemble.json").read_text())["failed"][0]["seed"] == 1
    assert flaky.trained == [0, 1, 2] and [f["seed"] for f in flaky.failures] == [2]
    assert any("trying it once more" in e for e in events) and any("left out" in e for e in events)


def _kills_its_worker_for_seed_1(dataset, config, split):
    if config.seed == 1:
        os._exit(1)  # the worker process dies mid-task
    return train_member(dataset, config, split)


def test_a_member_whose_worker_dies_is_reported_and_the_others_kept(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the workers import this module's functions
    events = []
    with dask_client(workers=2) as client:
        [outcome] = train_ensembles([EnsembleJob(demo, FAST, 3, tmp_path / "ens")], client,
                                    work=_kills_its_worker_for_seed_1, on_event=events.append)
    assert outcome.trained == [0, 2]
    assert [f["seed"] for f in outcome.failures] == [1, 1]
    assert "KilledWorker" in outcome.failures[0]["error"]
    assert load_ensemble(outcome.out).seeds == [0, 2]


def _worker_settings() -> dict:
    import mtlgrn_core  # noqa: F401 - a member's first import on a worker (it sets the threads)

    return {**{k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_WAIT_POLICY", "MTLGRN_THREADS")},
            "torch_threads": torch.get_num_threads()}


def test_local_workers_share_the_threads_and_keep_glibcs_own_malloc(tmp_path, monkeypatch):
    """Each of two local workers gets half of MTLGRN_THREADS=2, threads that sleep while they wait, and no
    MALLOC_TRIM_THRESHOLD_ (Dask's default for it made every tensor a fresh mmap: a member trained 1.75x slower)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the workers import this module's functions
    monkeypatch.setenv("MTLGRN_THREADS", "2")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with dask_client(workers=2) as client:
        seen = client.run(_worker_settings)
    assert len(seen) == 2
    for settings in seen.values():
        assert settings == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_WAIT_POLICY": "PASSIVE", "MTLGRN_THREADS": "1",
                            "torch_threads": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def scheduler_address():
    """A Dask scheduler and one worker, started as separate processes on 127.0.0.1 (as on a cluster)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scheduler = subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--no-dashboard", "--host", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(30)


def test_cli_trains_an_ensemble_on_a_scheduler_and_predicts_with_it(demo, tmp_path, scheduler_address, capsys):
    write_dataset(demo, tmp_path / "data")
    out = tmp_path / "ensemble"
    code = main(["train", "--data", str(tmp_path / "data"), "--out", str(out), "--seeds", "3", "--epochs", "3",
                 "--scheduler", scheduler_address, "--quiet"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["ensembles"][str(out)]["members"] == [0, 1, 2]
    assert load_ensemble(out).seeds == [0, 1, 2]
    assert main(["predict", "--run", str(out), "--out", str(tmp_path / "edges.csv"), "--top", "30"]) == 0
    edges = pd.read_csv(tmp_path / "edges.csv")
    assert {"score_sd", "stability"} <= set(edges.columns) and len(edges) == 30
    gene = demo.genes[0]
    assert main(["knockout", "--run", str(out), "--genes", gene, "--out", str(tmp_path / "ko.csv")]) == 0
    knockout = pd.read_csv(tmp_path / "ko.csv")
    assert {"delta_sd", "delta_low", "delta_high", "uncertain"} <= set(knockout.columns)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ensemble"]["members"] == 3 and 0 <= report["ensemble"]["auprc"] <= 1


def test_cli_says_when_no_scheduler_answers(demo, tmp_path, capsys):
    write_dataset(demo, tmp_path / "data")
    start = time.perf_counter()
    code = main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "e"), "--seeds", "2",
                 "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--quiet"])
    assert code == 2
    assert "no Dask scheduler answers at tcp://127.0.0.1:" in capsys.readouterr().err
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "e").exists()


def test_a_stop_keeps_the_finished_members_and_cancels_the_rest(demo, tmp_path):
    import threading

    from distributed import Client, LocalCluster

    stop = threading.Event()
    stop.set()  # pressed while the first member trains: it is kept, the others never start
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        [outcome] = train_ensembles([EnsembleJob(demo, FAST, 3, tmp_path / "ens")], client, stop=stop)
    assert len(outcome.trained) == 1 and outcome.failures == []
    assert load_ensemble(outcome.out).seeds == outcome.trained


def test_a_broken_ensemble_is_named_and_listed_as_unusable(local_ensemble, tmp_path, capsys):
    import shutil

    from mtlgrn_core.runs.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    broken = workspace.runs_dir / "broken"
    shutil.copytree(local_ensemble[0].out, broken)
    shutil.rmtree(broken / "members" / "seed-2")
    [entry] = workspace.runs()
    assert not entry.ok and "ensemble member seed 2, members/seed-2" in entry.problem
    assert main(["knockout", "--run", str(broken), "--genes", "G001", "--out", str(tmp_path / "k.csv")]) == 2
    assert "ensemble member seed 2" in capsys.readouterr().err
    (broken / "ensemble.json").write_text("{oops")
    assert not workspace.runs()[0].ok and "ensemble.json cannot be read" in workspace.runs()[0].problem
