"""Faults during training (a diverging loss, Stop, too little memory) and what two sessions, a server
killed mid-training or mid-save, and a closed browser leave in the workspace."""

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.host_memory import MEMORY_LIMIT_ENV
from mtlgrn_core.inputs.upload import DEMO_MIN_GENES, demo_dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.memory_guard import available_memory, estimate_fit_memory
from mtlgrn_core.model.train import TrainingDiverged, _Trainer, fit
from mtlgrn_core.runs.jobs import FAILED, FINISHED, TrainingJob
from mtlgrn_core.runs.run_folder import load_run, save_run
from mtlgrn_core.runs.workspace import Workspace

FAST = {"epochs": 6, "patience": 6, "hidden": 16, "heads": 2}
# one fit, no refit: the knockout head is not judged on held-out perturbations (see train.fit)
ONE_FIT = {**FAST, "task_weights": {"edge": 1.0, "knockout": 0.0, "expression": 0.3}}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    return demo_dataset(DEMO_MIN_GENES)


@pytest.fixture()
def workspace(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture()
def dataset_id(workspace, tiny):
    return workspace.save_dataset(tiny, "tiny")


def _wait(job, seconds=120):
    deadline = time.time() + seconds
    while not job.snapshot().done and time.time() < deadline:
        time.sleep(0.05)
    return job.snapshot()


def _poison_expression_loss(monkeypatch, from_epoch: int, factor: float) -> None:
    """Multiply the expression loss by ``factor`` from epoch ``from_epoch`` on (it runs once per epoch, after
    the same random draws as before, so the epochs before are unchanged)."""
    original, calls = _Trainer.expression_loss, []

    def poisoned(self, z):
        calls.append(1)
        loss = original(self, z)
        return loss * factor if len(calls) >= from_epoch else loss

    monkeypatch.setattr(_Trainer, "expression_loss", poisoned)


# -- a diverging loss -------------------------------------------------------------------------------------
@pytest.mark.parametrize("factor, reason", [(float("nan"), "loss = nan"), (float("inf"), "loss = inf"),
                                            (1e6, "over 1000 times the lowest so far")])
def test_diverging_loss_stops_and_keeps_the_checkpoint_before_it(tiny, monkeypatch, factor, reason):
    diverges_at = 4
    before = fit(tiny, TrainConfig(**{**ONE_FIT, "epochs": diverges_at - 1}))  # the same epochs, then stops
    _poison_expression_loss(monkeypatch, diverges_at, factor)
    with pytest.raises(TrainingDiverged, match=rf"diverged at epoch {diverges_at} \(.*{reason}") as caught:
        fit(tiny, TrainConfig(**ONE_FIT))
    error = caught.value
    assert error.epoch == diverges_at and "Lower the learning rate (now 0.005), e.g. to 0.0005" in str(error)
    assert f"the best model before that (epoch {before.info['best_epoch']}) is kept" in str(error)
    kept = error.run
    assert len(kept.history) == diverges_at - 1 and kept.info["diverged"].startswith(f"epoch {diverges_at}")
    for name, tensor in before.state.items():
        torch.testing.assert_close(kept.state[name], tensor, rtol=0, atol=0)
    assert kept.metrics["test"] == before.metrics["test"]


def test_divergence_in_the_refit_keeps_the_judged_fit(tiny, monkeypatch):
    judged = fit(tiny, TrainConfig(**FAST))
    assert judged.info["knockout_validation"]["refit"]
    _poison_expression_loss(monkeypatch, judged.info["epochs_run"] + 2, float("nan"))  # the refit's 2nd epoch
    run = fit(tiny, TrainConfig(**FAST))
    validation = run.info["knockout_validation"]
    assert not validation["refit"] and validation["refit_diverged"].startswith("epoch 2 (loss = nan)")
    # the kept model is the judged fit's (without the held-out samples, at its own best epoch), not the refit's
    assert len(run.samples) < len(tiny.samples)
    assert run.info["best_epoch"] == judged.info["knockout_validation"]["judged_best_epoch"]


def test_divergence_in_the_first_epoch_keeps_nothing(tiny, monkeypatch):
    _poison_expression_loss(monkeypatch, 1, float("nan"))
    with pytest.raises(TrainingDiverged, match="epoch 1 .*no model is kept") as caught:
        fit(tiny, TrainConfig(**FAST))
    assert caught.value.run is None


def test_the_command_line_saves_the_kept_model_of_a_diverged_training(tiny, monkeypatch, tmp_path, capsys):
    from mtlgrn_core.cli import EXIT_BAD_INPUT, main
    from mtlgrn_core.inputs.data import write_dataset

    write_dataset(tiny, tmp_path / "data")
    _poison_expression_loss(monkeypatch, 3, float("nan"))
    code = main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "8", "--quiet"])
    assert code == EXIT_BAD_INPUT
    message = capsys.readouterr().err
    assert "diverged at epoch 3" in message and f"kept model is saved in {tmp_path / 'run'}" in message
    assert len(load_run(tmp_path / "run").history) == 2


def test_a_huge_learning_rate_is_caught_before_it_spoils_the_weights(tiny):
    with pytest.raises(TrainingDiverged, match="Lower the learning rate") as caught:
        fit(tiny, TrainConfig(**{**FAST, "lr": 10.0}))
    kept = caught.value.run
    assert kept is not None and all(torch.isfinite(t).all() for t in kept.state.values())


def test_a_diverged_job_saves_the_kept_model_and_says_why(workspace, dataset_id, monkeypatch):
    _poison_expression_loss(monkeypatch, 3, float("nan"))
    snap = _wait(TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "wild").start())
    assert snap.status == FAILED and "diverged at epoch 3" in snap.error and "saved as run 'wild'" in snap.error
    (entry,) = workspace.runs()
    assert entry.ok and entry.id == snap.run_id and entry.name == "wild"
    assert len(load_run(entry.path).history) == 2


# -- Stop --------------------------------------------------------------------------------------------------
def test_stop_ends_after_the_current_epoch_and_the_run_saves(tiny, tmp_path):
    stop = threading.Event()
    run = fit(tiny, TrainConfig(**{**FAST, "epochs": 1000, "patience": 1000}),
              on_epoch=lambda info: info.epoch == 3 and stop.set(), stop=stop)
    assert len(run.history) == 3 and run.info["stopped_early"]
    assert load_run(save_run(run, tmp_path / "run")).info["best_epoch"] == run.info["best_epoch"]


# -- memory ------------------------------------------------------------------------------------------------
def test_memory_estimate_grows_with_the_data():
    config = TrainConfig()
    small, large = (estimate_fit_memory(demo_dataset(n), config) for n in (DEMO_MIN_GENES, 300))
    assert 30 * 2 ** 20 < small < large < 2 ** 30
    assert available_memory(torch.device("cpu")) > 0


def test_too_little_memory_is_refused_before_training(tiny, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1")
    epochs = []
    with pytest.raises(DataValidationError, match=r"needs about \d+ MiB of memory; 1 MiB is available") as caught:
        fit(tiny, TrainConfig(**FAST), on_epoch=epochs.append)
    assert epochs == [] and "fewer genes" in str(caught.value)


def test_a_job_refused_for_memory_saves_nothing(workspace, dataset_id, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1")
    snap = _wait(TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "big").start())
    assert snap.status == FAILED and "MiB of memory" in snap.error and snap.history == []
    assert workspace.runs() == []


# -- sessions, restarts, closed browsers -----------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_two_sessions_training_at_once_both_save_runs_that_load(workspace, dataset_id):
    jobs = [TrainingJob(workspace, dataset_id, TrainConfig(**FAST, seed=s), f"session{s}").start() for s in (0, 1)]
    snaps = [_wait(job) for job in jobs]
    assert [s.status for s in snaps] == [FINISHED, FINISHED]
    runs = [load_run(workspace.run_path(s.run_id)) for s in snaps]
    assert [r.info["name"] for r in runs] == ["session0", "session1"]
    assert not torch.equal(runs[0].state["sample_embedding"], runs[1].state["sample_embedding"])
    assert all(e.ok for e in workspace.runs())


def test_a_closed_browser_still_gets_its_run_saved(workspace, dataset_id):
    TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "orphan").start()  # the session drops the job
    gc.collect()
    deadline = time.time() + 120
    while not workspace.runs() and time.time() < deadline:
        time.sleep(0.05)
    (entry,) = workspace.runs()
    assert entry.ok and entry.name == "orphan" and load_run(entry.path).history


SERVER = """
import sys, time
from pathlib import Path
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.runs.jobs import TrainingJob
from mtlgrn_core.runs import run_folder
from mtlgrn_core.runs.workspace import Workspace

root, dataset_id, moment = sys.argv[1:4]
ready = Path(root) / "ready"

def save_half_then_hang(self, folder):  # the moment of the kill: part of the run's files are written
    (folder / "config.json").write_text('{"format_version"')
    ready.write_text(str(folder))
    time.sleep(600)

if moment == "save":
    run_folder.write_run_files = save_half_then_hang
config = TrainConfig(epochs=6 if moment == "save" else 100000, patience=100000, hidden=16, heads=2)
job = TrainingJob(Workspace(root), dataset_id, config, "killed").start()
while moment == "training" and job.snapshot().epoch < 2:
    time.sleep(0.02)
if moment == "training":
    ready.write_text("training")
job.join()
"""


def _kill_server_at(workspace: Workspace, dataset_id: str, moment: str) -> str:
    """Run a server process training on ``workspace``, SIGKILL it at ``moment``; what it had reported."""
    ready = workspace.root / "ready"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(workspace.root), dataset_id, moment], cwd=REPO,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not ready.exists() and server.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    server.send_signal(signal.SIGKILL)
    _, stderr = server.communicate()
    assert ready.exists(), stderr
    return ready.read_text()


@pytest.mark.parametrize("moment", ["training", "save"])
def test_a_server_killed_mid_training_leaves_every_finished_run_intact(workspace, dataset_id, moment):
    finished = _wait(TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "finished").start())
    folder = workspace.run_path(finished.run_id)
    before = _files(folder)
    report = _kill_server_at(workspace, dataset_id, moment)
    restarted = Workspace(workspace.root)
    (entry,) = restarted.runs()  # the interrupted run is not listed at all
    assert entry.ok and entry.id == finished.run_id and _files(folder) == before
    assert load_run(folder).info["name"] == "finished"
    if moment == "save":  # its half-written folder stays hidden, and goes at the first start an hour later
        partial = Path(report)
        assert partial.parent == restarted.runs_dir and partial.name.startswith(".") and partial.is_dir()
        old = time.time() - 2 * 3600
        os.utime(partial, (old, old))
        assert Workspace(workspace.root).runs() == [entry] and not partial.exists()
