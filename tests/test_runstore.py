"""The run store: atomic saves, damaged or foreign run folders listed (never a crash), the versions a run
records, and weights that never load through arbitrary unpickling."""

import io
import json
import os
import pickle
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from mtlgrn_core.answers.infer import predict_knockout, score_edges
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.upload import DEMO_MIN_GENES, demo_dataset
from mtlgrn_core.model import run as runstore
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.linear_model import fit_observational_model
from mtlgrn_core.model.network import MTLGRN
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs import run_folder
from mtlgrn_core.runs.run_cache import CACHE_FILES, EMBEDDINGS_FILE, RESPONSES_FILE
from mtlgrn_core.runs.run_folder import FILES, FORMAT_VERSION, load_run, save_run
from mtlgrn_core.runs.workspace import Workspace
from mtlgrn_core.version import __version__


@pytest.fixture(scope="module")
def run():
    return fit(demo_dataset(DEMO_MIN_GENES), TrainConfig(epochs=3, patience=3, hidden=16, heads=2))


@pytest.fixture()
def workspace(tmp_path, run):
    """A workspace with one good run, ``good``, and a copy of it, ``victim``, for a test to damage."""
    ws = Workspace(tmp_path / "ws")
    save_run(run, ws.runs_dir / "good")
    save_run(run, ws.runs_dir / "victim")
    return ws


def _entries(ws: Workspace) -> dict:
    return {e.id: e for e in ws.runs()}


# -- what a run records ---------------------------------------------------------------------------------------
def test_a_run_records_its_format_and_the_versions_it_was_made_with(workspace):
    config = json.loads((workspace.runs_dir / "good" / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["versions"]["mtlgrn"] == __version__ and config["versions"]["torch"] == torch.__version__
    assert {"torch_geometric", "python"} <= set(config["versions"])


@pytest.mark.parametrize("version", [3, FORMAT_VERSION + 1, None])
def test_a_run_of_another_format_version_says_so(workspace, version):
    path = workspace.runs_dir / "victim" / "config.json"
    config = json.loads(path.read_text())
    config["format_version"] = version
    config["versions"]["mtlgrn"] = "9.9.9"
    path.write_text(json.dumps(config))
    expected = f"incompatible: saved by MTLGRN 9.9.9 in run format {version}; this MTLGRN reads formats 4 and " \
               f"{FORMAT_VERSION}"
    with pytest.raises(DataValidationError, match="open it with the MTLGRN version that saved it") as caught:
        load_run(path.parent)
    assert expected in str(caught.value)
    entries = _entries(workspace)
    assert not entries["victim"].ok and entries["victim"].problem == expected and entries["good"].ok


def test_a_run_of_format_4_is_read_without_its_old_knockout_head(workspace, run):
    # format 4's knockout head had a per-gene MLP that format 5 dropped: such a run still opens, its edges
    # scored exactly as before, its knockouts by the format-5 head
    folder = workspace.runs_dir / "good"
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    state = torch.load(folder / "weights.pt", weights_only=True)
    torch.save({**state, "ko_source.weight": torch.zeros(4, 4), "ko_combine.0.bias": torch.zeros(4)},
               folder / "weights.pt")
    old = load_run(folder)
    assert "format 4" in old.info["format_upgrade"]
    assert score_edges(old).equals(score_edges(run))
    assert np.isfinite(predict_knockout(old, [run.tfs[0]])["delta"]).all()


def test_a_run_keeps_the_split_it_was_trained_on(workspace, run):
    loaded = load_run(workspace.runs_dir / "good")
    assert (loaded.split.kind, loaded.split.seed) == (run.split.kind, run.split.seed) == ("edge", 0)
    assert (loaded.split.role == run.split.role).all() and (loaded.split.positive == run.split.positive).all()
    assert (loaded.split.tfs == run.split.tfs).all() and loaded.split.n_genes == run.split.n_genes
    assert loaded.metrics == run.metrics


# -- damaged folders ------------------------------------------------------------------------------------------
def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "missing weights": (lambda f: (f / "weights.pt").unlink(), "incomplete: missing weights.pt"),
    "missing everything": (lambda f: [p.unlink() for p in f.iterdir()], "incomplete: missing config.json"),
    "truncated config": (lambda f: _truncate(f / "config.json"), "corrupt: config.json cannot be read"),
    "config not a dict": (lambda f: (f / "config.json").write_text("[]"), "corrupt: config.json or metrics"),
    "truncated metrics": (lambda f: _truncate(f / "metrics.json"), "corrupt: metrics.json cannot be read"),
    "garbage weights": (lambda f: (f / "weights.pt").write_bytes(os.urandom(2000)),
                        "corrupt: weights.pt is not a saved tensor file"),
    "truncated weights": (lambda f: _truncate(f / "weights.pt"), "corrupt: weights.pt is not a saved tensor"),
    "truncated inputs": (lambda f: _truncate(f / "inputs.pt"), "corrupt: inputs.pt is not a saved tensor"),
    "weights a foreign zip": (lambda f: (f / "weights.pt").write_bytes(_zip_of_text()), "corrupt"),
    "truncated genes": (lambda f: _truncate(f / "genes.json"), "corrupt"),
    "missing split": (lambda f: (f / "split.npz").unlink(), "incomplete: missing split.npz"),
    "truncated split": (lambda f: _truncate(f / "split.npz"), "corrupt: split.npz is not a saved array file"),
    "split holding a pickle": (lambda f: _pickled_npz(f / "split.npz"), "corrupt"),
}


def _pickled_npz(path):
    import numpy as np

    np.savez(path, tfs=np.array([object()], dtype=object))  # would unpickle on load: refused instead


def _zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not tensors")
    return buffer.getvalue()


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_run_is_listed_as_such_and_refused_with_a_message(workspace, damage):
    spoil, problem = DAMAGE[damage]
    spoil(workspace.runs_dir / "victim")
    with pytest.raises(DataValidationError, match=r"run 'victim' cannot be used \(.*Train it again, or delete"):
        load_run(workspace.runs_dir / "victim")
    entries = _entries(workspace)
    assert entries["good"].ok and load_run(entries["good"].path).genes
    if damage in ("weights a foreign zip", "truncated genes", "split holding a pickle"):  # only loading finds these
        assert entries["victim"].ok
    else:
        assert not entries["victim"].ok and entries["victim"].problem.startswith(problem)


def test_a_stray_file_or_odd_config_never_breaks_the_list(workspace):
    (workspace.runs_dir / "notes.txt").write_text("a file, not a run")
    config = json.loads((workspace.runs_dir / "victim" / "config.json").read_text())
    config["info"] = {"name": 5, "tasks": 3}  # valid JSON, wrong shapes
    (workspace.runs_dir / "victim" / "config.json").write_text(json.dumps(config))
    entries = _entries(workspace)
    assert set(entries) == {"good", "victim"} and entries["good"].ok and not entries["victim"].ok


# -- no arbitrary unpickling ----------------------------------------------------------------------------------
class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``: stands for any code an attacker would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_weights_file_that_would_run_code_is_refused_not_run(workspace, tmp_path, writer):
    marker = tmp_path / "code-ran"
    weights = workspace.runs_dir / "victim" / "weights.pt"
    payload = {"encoders.expression.weight": _Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, weights)
    else:
        weights.write_bytes(pickle.dumps(payload))
    with pytest.raises(DataValidationError, match="run 'victim' cannot be used"):
        load_run(weights.parent)
    assert not marker.exists()
    if writer == "torch.save":  # the payload is live: unrestricted unpickling would have run it
        torch.load(weights, weights_only=False)
        assert marker.is_dir()


# -- atomic writes ----------------------------------------------------------------------------------------------
def _hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_a_run_folder_appears_only_when_complete(run, tmp_path, monkeypatch):
    target = tmp_path / "runs" / "new"
    seen = []
    original = run_folder.write_run_files

    def watched(self, folder):
        original(self, folder)
        seen.append((target.exists(), folder.parent == target.parent, folder.name.startswith(".")))

    monkeypatch.setattr(run_folder, "write_run_files", watched)
    save_run(run, target)
    assert seen == [(False, True, True)] and load_run(target).genes == run.genes
    assert _hidden(target.parent) == []


def test_a_failed_save_keeps_the_run_that_was_there(run, workspace, monkeypatch):
    path = workspace.runs_dir / "good"
    before = {f.name: f.read_bytes() for f in path.iterdir()}

    def fail_halfway(self, folder):
        (folder / "config.json").write_text("{")
        raise OSError("disk full")

    monkeypatch.setattr(run_folder, "write_run_files", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_run(run, path)
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before
    assert _hidden(workspace.runs_dir) == [] and _entries(workspace)["good"].ok


def test_deleting_a_run_leaves_nothing_behind(workspace):
    workspace.delete_run("victim")
    assert set(_entries(workspace)) == {"good"} and _hidden(workspace.runs_dir) == []


def test_only_stale_temporaries_are_cleaned_when_a_workspace_opens(workspace):
    fresh, stale = workspace.runs_dir / ".new.abc", workspace.datasets_dir / ".tmp-xyz"
    for folder in (fresh, stale):
        folder.mkdir()
        (folder / "config.json").write_text("{")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert set(_entries(workspace)) == {"good", "victim"}  # temporaries are never listed
    Workspace(workspace.root)
    assert fresh.exists() and not stale.exists()


# -- what a query would recompute, saved with the run --------------------------------------------------------
def _fresh_responses(run):
    edges = np.stack([run.prior[column].map(run.gene_index).to_numpy(np.int64) for column in ("source", "target")])
    return fit_observational_model(run.inputs.expression, edges)


def _no_recomputing(monkeypatch):
    """Make refitting the linear responses or recomputing the embeddings fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("recomputed what the run folder holds")

    monkeypatch.setattr(runstore, "fit_observational_model", refuse)
    monkeypatch.setattr(MTLGRN, "encode", refuse)


def test_a_saved_run_answers_a_knockout_from_its_saved_responses_and_embeddings(run, tmp_path, monkeypatch):
    assert "knockout" in run.tasks  # the knockout head reads the embeddings
    folder = save_run(run, tmp_path / "saved")
    assert {RESPONSES_FILE, EMBEDDINGS_FILE} <= {p.name for p in folder.iterdir()}
    assert not set(CACHE_FILES) & set(FILES)  # optional: a folder without them is complete
    gene = run.tfs[0]
    expected = predict_knockout(run, [gene, run.tfs[1]], dose=0.3)
    _no_recomputing(monkeypatch)
    loaded = load_run(folder)
    pd.testing.assert_frame_equal(predict_knockout(loaded, [gene, run.tfs[1]], dose=0.3), expected)
    assert torch.equal(loaded.embeddings(), run.embeddings())
    monkeypatch.undo()
    fresh = _fresh_responses(loaded)
    saved = loaded.linear_responses()
    assert saved.weights.nnz == fresh.weights.nnz > 0 and (saved.weights != fresh.weights).nnz == 0
    np.testing.assert_array_equal(saved.weights.indptr, fresh.weights.indptr)
    assert saved.gain == fresh.gain


def test_a_run_folder_saved_without_them_computes_them_on_first_use(run, tmp_path, monkeypatch):
    folder = save_run(run, tmp_path / "older")
    for name in CACHE_FILES:
        (folder / name).unlink()
    fits = []
    original = runstore.fit_observational_model
    monkeypatch.setattr(runstore, "fit_observational_model", lambda *a: fits.append(1) or original(*a))
    loaded = load_run(folder)
    assert fits == []  # nothing computed until a query needs it
    pd.testing.assert_frame_equal(predict_knockout(loaded, [run.tfs[0]]), predict_knockout(run, [run.tfs[0]]))
    assert fits == [1]
    assert (loaded.linear_responses().weights != _fresh_responses(loaded).weights).nnz == 0


def _genes_of(folder):
    return json.loads((folder / "genes.json").read_text())["genes"]


SPOILED_CACHE = {
    "garbage responses": lambda f: (f / RESPONSES_FILE).write_bytes(os.urandom(500)),
    "responses of another gene count": lambda f: np.savez(f / RESPONSES_FILE, data=np.ones(1), indices=np.zeros(1),
                                                          indptr=np.array([0, 1, 1]), shape=np.array([2, 2]),
                                                          gain=np.float64(1.0)),
    "responses holding a pickle": lambda f: np.savez(f / RESPONSES_FILE, data=np.array([object()], dtype=object),
                                                     indices=np.zeros(1), indptr=np.array([0, 1]),
                                                     shape=np.array([len(_genes_of(f))] * 2), gain=np.float64(1)),
    "truncated embeddings": lambda f: _truncate(f / EMBEDDINGS_FILE),
    "embeddings of another shape": lambda f: torch.save(torch.zeros(3, 3), f / EMBEDDINGS_FILE),
}


@pytest.mark.parametrize("spoil", SPOILED_CACHE)
def test_a_damaged_saved_response_or_embedding_is_recomputed_not_trusted(run, tmp_path, spoil):
    folder = save_run(run, tmp_path / "spoiled")
    SPOILED_CACHE[spoil](folder)
    loaded = load_run(folder)
    pd.testing.assert_frame_equal(predict_knockout(loaded, [run.tfs[0]]), predict_knockout(run, [run.tfs[0]]))
    assert torch.equal(loaded.embeddings(), run.embeddings())


def test_saved_embeddings_that_would_run_code_are_refused_not_run(run, tmp_path):
    folder = save_run(run, tmp_path / "payload")
    marker = tmp_path / "code-ran"
    torch.save({"z": _Payload(marker)}, folder / EMBEDDINGS_FILE)
    loaded = load_run(folder)
    assert torch.equal(loaded.embeddings(), run.embeddings()) and not marker.exists()
