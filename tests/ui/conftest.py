"""Shared fixtures of the dashboard tests: an isolated workspace, a demo dataset, a trained run."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_core.runs.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(epochs=10, patience=10, hidden=16, heads=2)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh workspace folder for the app (cached resources cleared so the app picks it up)."""
    from mtlgrn_ui import background, resources

    monkeypatch.setenv("MTLGRN_HOME", str(tmp_path / "home"))
    server_wide = (resources.workspace, resources.compute_queue, resources.jobs, background.tasks, resources.run,
                   resources.ensemble, resources.dataset)
    for cached in server_wide:
        cached.clear()
    yield Workspace(tmp_path / "home")
    for cached in server_wide:
        cached.clear()


@pytest.fixture(scope="session")
def demo_dataset():
    return simulate(60, seed=0)


@pytest.fixture(scope="session")
def demo_run_template(demo_dataset):
    return fit(demo_dataset, TrainConfig(**FAST))


@pytest.fixture()
def loaded(home, demo_dataset, demo_run_template):
    """A workspace holding the demo dataset and one trained run; returns (workspace, dataset_id, run_id)."""
    dataset_id = home.save_dataset(demo_dataset, "demo")
    demo_run_template.info.update({"name": "demo run", "dataset_id": dataset_id})
    path = save_run(demo_run_template, home.new_run_path("demo run"))
    return home, dataset_id, path.name


def page(name: str, *, dataset_id: str | None = None, run_id: str | None = None, timeout: float = 60) -> AppTest:
    """An AppTest of ``app.py`` switched to ``pages/<name>`` (so page links resolve as in the real app), with
    the session's ids set."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if name != "app.py":
        app.switch_page(f"pages/{name}")
    if dataset_id:
        app.session_state["dataset_id"] = dataset_id
    if run_id:
        app.session_state["run_id"] = run_id
    return app
