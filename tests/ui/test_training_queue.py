"""Trainings of several users take turns: a training started while another holds the server's only slot waits in
the queue, says so on the Train page, and its Stop takes it out. Nothing is trained here: the test holds the slot."""

import time

import pytest

from mtlgrn_ui import resources
from mtlgrn_ui.background import tasks

from .conftest import page

TIMEOUT = 10


@pytest.fixture()
def busy_server(home, demo_dataset, monkeypatch):
    """A workspace with the demo dataset and a server queue of one slot held by another user's training."""
    monkeypatch.delenv("MTLGRN_TRAINING_SLOTS", raising=False)
    dataset_id = home.save_dataset(demo_dataset, "demo")
    queue = resources.compute_queue()
    other = queue.enter("Training 'first'")
    assert queue.wait(other)
    yield dataset_id
    queue.release(other)


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_a_training_started_on_a_busy_server_waits_in_the_queue(busy_server):
    app = page("2_Train.py", dataset_id=busy_server).run()
    assert not app.exception
    assert any("one at a time" in c and "MTLGRN_TRAINING_SLOTS" in c for c in _texts(app.caption))
    app.number_input(key="epochs").set_value(2)
    app.text_input(key="run_name").set_value("second")
    app.button[0].click().run()  # the form's submit button
    assert not app.exception
    job = resources.jobs().get(app.session_state["job_id"])
    snap = job.snapshot()
    assert (snap.status, snap.position, snap.ahead) == ("queued", 1, ("Training 'first'",))
    note = next(i for i in _texts(app.info) if i.startswith("Queued"))
    assert "1 training ahead of yours (Training 'first')" in note and "one at a time" in note
    assert not app.get("plotly_chart")  # no progress of a training that has not started

    app.button(key="stop_training").click().run()
    job.join(TIMEOUT)
    app.run()  # the progress notices the end and reruns the page
    assert not app.exception
    assert job.snapshot().status == "stopped" and job.snapshot().run_id is None
    assert resources.compute_queue().waiting() == ()  # it left the queue
    assert app.session_state["job_id"] is None
    assert any("stopped before it started" in i for i in _texts(app.info))


def test_an_ensemble_on_a_busy_server_shows_its_place_instead_of_a_bar(busy_server):
    app = page("2_Train.py", dataset_id=busy_server).run()
    app.number_input(key="ensemble_members").set_value(2)
    app.number_input(key="ensemble_epochs").set_value(1)
    app.button(key="ensemble_train").click().run()
    assert not app.exception
    task = tasks().get((busy_server, "ensemble"))
    assert task.snapshot().status == "queued"
    assert any("Training an ensemble: queued (position 1), behind 1 training (Training 'first')" in i
               for i in _texts(app.info))
    assert not app.get("progress")
    app.button(key="stop_ensemble").click().run()
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and task.snapshot().status != "stopped":
        time.sleep(0.01)
    app.run()
    assert not app.exception and task.snapshot().status == "stopped"
    assert any("Training an ensemble was stopped" in i for i in _texts(app.info))


def test_a_server_with_more_slots_says_so(home, demo_dataset, monkeypatch):
    monkeypatch.setenv("MTLGRN_TRAINING_SLOTS", "3")
    resources.compute_queue.clear()
    dataset_id = home.save_dataset(demo_dataset, "demo")
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception
    assert any("run 3 at a time" in c for c in _texts(app.caption))
    assert not any("MTLGRN_TRAINING_SLOTS" in c for c in _texts(app.caption))
