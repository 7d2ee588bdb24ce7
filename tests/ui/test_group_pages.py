"""One run per cell group from the Train page, and the groups compared on the Network page."""

import time

import pandas as pd

from mtlgrn_core.runs.groups import MIN_GROUP_SAMPLES
from mtlgrn_ui.background import tasks

from .conftest import page


def _grouped_dataset(home, demo_dataset):
    """The demo with a tissue column splitting its samples in two (and a third, too small group)."""
    dataset = demo_dataset.without_samples(set())
    n = len(dataset.samples)
    labels = ["liver"] * (n // 2) + ["lung"] * (n - n // 2 - 3) + ["rare"] * 3
    dataset.sample_info = pd.DataFrame({"tissue": labels}, index=list(dataset.samples))
    return home.save_dataset(dataset, "demo by tissue")


def _train_groups(home, demo_dataset):
    dataset_id = _grouped_dataset(home, demo_dataset)
    app = page("2_Train.py", dataset_id=dataset_id).run()
    assert not app.exception and app.selectbox(key="group_column").options == ["tissue"]
    app.number_input(key="group_epochs").set_value(3)
    app.button(key="group_train").click().run()
    assert not app.exception and not app.error
    task = tasks().get((dataset_id, "groups"))
    task.join(120)
    deadline = time.time() + 30
    while time.time() < deadline and not any("group runs saved" in s.value for s in app.success):
        app.run()
    assert any("2 group runs saved" in s.value for s in app.success), [e.value for e in app.error]
    assert any("group 'rare' has 3 samples" in c.value for c in app.caption)  # the group left out is named
    return dataset_id, task.snapshot().result.run_ids


def runs_info(home, run_id: str) -> dict:
    from mtlgrn_core.runs.run_folder import load_run

    return load_run(home.run_path(run_id)).info


def test_train_page_trains_one_run_per_group_and_the_network_page_compares_them(home, demo_dataset):
    _, run_ids = _train_groups(home, demo_dataset)
    runs = {e.id: e for e in home.runs()}
    # 'rare' (3 samples, fewer than MIN_GROUP_SAMPLES) is left out
    assert {runs[r].group["value"] for r in run_ids} == {"liver", "lung"}
    assert all(len(home.load_dataset(runs_info(home, r)["dataset_id"]).samples) >= MIN_GROUP_SAMPLES
               for r in run_ids)
    app = page("3_Network.py", run_id=run_ids[0]).run()
    assert not app.exception and not app.error
    assert any("rewiring" in d.value.columns for d in app.dataframe)
    edges = next(d.value for d in app.dataframe if "in liver" in d.value.columns)
    assert {"score liver", "score lung", "in lung", "groups"} <= set(edges.columns)
    assert edges["in liver"].sum() == edges["in lung"].sum() == app.slider(key="group_top").value
    assert any("knockout" in str(c.proto.spec) for c in app.get("plotly_chart"))
    assert any("liver: prediction" in c.value for c in app.caption)


def test_without_groups_both_pages_say_how_to_get_them(loaded):
    _, dataset_id, run_id = loaded
    network = page("3_Network.py", dataset_id=dataset_id, run_id=run_id).run()
    train = page("2_Train.py", dataset_id=dataset_id).run()
    assert not network.exception and not train.exception
    assert any("not one of a set trained per cell group" in i.value for i in network.info)
    assert any("needs a sample column with groups" in c.value for c in train.caption)
