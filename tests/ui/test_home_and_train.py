"""Home and Train pages through AppTest."""

import time

from mtlgrn_ui import resources

from .conftest import page


def _wait_for_job(app, seconds=120):
    job = resources.jobs().get(app.session_state["job_id"])
    deadline = time.time() + seconds
    while not job.snapshot().done and time.time() < deadline:
        time.sleep(0.1)
    return job.snapshot()


def test_home_starts_on_the_demo_data(home):
    app = page("app.py").run()
    assert not app.exception
    assert [e.name for e in home.datasets()] == ["demo-150-seed0"]
    assert app.session_state["dataset_id"] == home.datasets()[0].id
    assert app.button(key="quick_start")
    # the sidebar is drawn after the demo is loaded, so it names it on the first visit already
    sidebar = [c.value for c in app.sidebar.caption]
    assert any(c.startswith("Data: demo") for c in sidebar), sidebar


def test_quick_start_trains_and_selects_the_run(home):
    app = page("app.py").run()
    app.button(key="quick_start").click().run()
    assert not app.exception
    snap = _wait_for_job(app)
    assert snap.status == "finished", snap.error
    app.run()  # the progress fragment notices the end
    app.run()
    assert not app.exception
    assert app.session_state["run_id"] == snap.run_id
    assert home.runs()[0].ok


def test_train_page_without_data_gives_a_hint(home):
    app = page("2_Train.py").run()
    assert not app.exception
    assert any("No data loaded" in i.value for i in app.info)


def test_train_page_form_starts_a_job_and_lists_the_run(loaded):
    workspace, dataset_id, run_id = loaded
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception
    app.number_input(key="epochs").set_value(5)
    app.number_input(key="hidden").set_value(16)
    app.text_input(key="run_name").set_value("from the form")
    app.button[0].click().run()  # the form's submit button
    assert not app.exception
    snap = _wait_for_job(app)
    assert snap.status == "finished", snap.error
    app.run()
    app.run()
    names = {e.name for e in workspace.runs()}
    assert {"from the form", "demo run"} <= names
    assert app.session_state["run_id"] == snap.run_id


def test_train_page_switching_a_task_off(loaded):
    workspace, dataset_id, _ = loaded
    app = page("2_Train.py", dataset_id=dataset_id).run()
    app.checkbox(key="task_knockout").uncheck()
    app.number_input(key="epochs").set_value(3)
    app.button[0].click().run()
    snap = _wait_for_job(app)
    from mtlgrn_core.runs.run_folder import load_run

    assert "knockout" not in load_run(workspace.run_path(snap.run_id)).tasks


def test_saved_runs_select_and_delete(loaded):
    workspace, dataset_id, run_id = loaded
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception
    app.button(key="use_run").click().run()
    assert app.session_state["run_id"] == run_id
    assert app.get("download_button")
    app.button(key="delete_run").click().run()
    app.button(key="confirm_delete_button").click().run()
    assert not app.exception
    assert workspace.runs() == []
    assert app.session_state["run_id"] is None


def test_a_corrupt_run_folder_is_listed_not_a_crash(loaded):
    workspace, dataset_id, _ = loaded
    (workspace.runs_dir / "29990101-000000-broken-000000").mkdir()
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception
    table = app.dataframe[0].value
    assert table["status"].str.startswith("unusable").sum() == 1


def test_train_page_makes_a_report_of_the_selected_run(loaded):
    _, dataset_id, run_id = loaded
    app = page("2_Train.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception
    app.button(key="train_report_make").click().run()
    assert not app.exception and not app.error
    assert app.session_state["report"]["run_id"] == run_id
    assert "No knockout was queried" in app.session_state["report"]["html"].decode()
    assert any(b.proto.label == "Download the report (HTML)" for b in app.get("download_button"))
