"""The workspace (datasets and runs on disk) and background training jobs."""

import time

import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.runs.jobs import FAILED, FINISHED, STOPPED, TrainingJob
from mtlgrn_core.runs.workspace import Workspace, safe_name

FAST = dict(epochs=8, patience=8, hidden=16, heads=2)


@pytest.fixture()
def workspace(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture()
def dataset_id(workspace):
    return workspace.save_dataset(simulate(40, seed=2), "tiny demo")


def _wait(job, seconds=120):
    deadline = time.time() + seconds
    while not job.snapshot().done and time.time() < deadline:
        time.sleep(0.05)
    return job.snapshot()


def test_saved_dataset_is_listed_and_loads_back(workspace, dataset_id):
    (entry,) = workspace.datasets()
    assert entry.id == dataset_id and entry.name == "tiny demo" and entry.summary["genes"] == 40
    assert workspace.load_dataset(dataset_id).n_genes == 40


def test_job_trains_saves_and_reports_progress(workspace, dataset_id):
    job = TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "first").start()
    snap = _wait(job)
    assert snap.status == FINISHED and snap.error is None
    assert [row["epoch"] for row in snap.history] == list(range(1, len(snap.history) + 1))
    (entry,) = workspace.runs()
    assert entry.ok and entry.id == snap.run_id and entry.name == "first"
    assert entry.test is not None and "auprc" in entry.test


def test_two_jobs_at_once_keep_both_runs(workspace, dataset_id):
    jobs = [TrainingJob(workspace, dataset_id, TrainConfig(**FAST, seed=s), f"run{s}").start() for s in (0, 1)]
    snaps = [_wait(job) for job in jobs]
    assert all(s.status == FINISHED for s in snaps)
    assert snaps[0].run_id != snaps[1].run_id
    assert {e.name for e in workspace.runs()} == {"run0", "run1"}


def test_stop_keeps_the_best_model_so_far(workspace, dataset_id):
    job = TrainingJob(workspace, dataset_id, TrainConfig(**{**FAST, "epochs": 10_000, "patience": 10_000}),
                      "stopped")
    job.start()
    while job.snapshot().epoch < 2:
        time.sleep(0.02)
    job.stop()
    snap = _wait(job)
    assert snap.status == STOPPED and snap.run_id
    assert workspace.runs()[0].ok


def test_failure_is_reported_not_raised(workspace):
    job = TrainingJob(workspace, "no-such-dataset", TrainConfig(**FAST), "broken").start()
    snap = _wait(job)
    assert snap.status == FAILED and "no-such-dataset" in snap.error
    assert workspace.runs() == []


def test_partial_run_folder_is_listed_as_such(workspace, dataset_id):
    job = TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "ok").start()
    _wait(job)
    (workspace.runs_dir / "20990101-000000-partial-abc").mkdir()
    (workspace.runs_dir / "20990101-000000-partial-abc" / "config.json").write_text("{")
    entries = workspace.runs()
    partial = [e for e in entries if not e.ok]
    assert len(partial) == 1 and "missing" in partial[0].problem
    assert sum(e.ok for e in entries) == 1


def test_delete_and_archive(workspace, dataset_id):
    job = TrainingJob(workspace, dataset_id, TrainConfig(**FAST), "x").start()
    run_id = _wait(job).run_id
    archive = workspace.run_archive(run_id)
    assert archive[:2] == b"PK" and len(archive) > 1000
    workspace.delete_run(run_id)
    assert workspace.runs() == []
    with pytest.raises(DataValidationError):
        workspace.run_path(run_id)


@pytest.mark.parametrize("raw, expected", [("../../etc/passwd", "etc-passwd"), ("my run 1", "my-run-1"),
                                           ("", "item"), ("<img src=x>", "img-src-x")])
def test_names_never_become_paths(raw, expected):
    assert safe_name(raw) == expected


def test_a_dataset_is_stored_exactly_as_a_binary_matrix(workspace, tmp_path):
    """The workspace keeps the expression as float32 with its names (not a text table): it comes back bit for bit,
    and an older dataset stored as expression.csv still loads."""
    import numpy as np

    from mtlgrn_core.inputs.data import STORED_EXPRESSION, load_dataset, write_dataset

    original = simulate(30, seed=4)
    entry = workspace.save_dataset(original, "exact")
    folder = workspace.dataset_path(entry)
    assert (folder / STORED_EXPRESSION).exists() and not (folder / "expression.csv").exists()
    back = workspace.load_dataset(entry)
    assert back.genes == original.genes and back.samples == original.samples
    assert back.expression.dtype == np.float32 and np.array_equal(back.expression, original.expression)
    older = write_dataset(original, tmp_path / "older")  # expression.csv, as every dataset was stored before
    np.testing.assert_allclose(load_dataset(older, log_transform=False).expression, original.expression, rtol=1e-5)
    (folder / STORED_EXPRESSION).write_bytes(b"not a zip")
    with pytest.raises(DataValidationError, match=r"expression.npz: the stored matrix cannot be read.*Load the"):
        load_dataset(folder, log_transform=False)
