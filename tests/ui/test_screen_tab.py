"""The Knockout page's Screen tab: a target screen from typed and pasted genes runs in the background and shows
its ranked regulators, chart, pairs and downloads; bad targets and a dose of 1 are refused with their reason; a
run without sample groups says why it has no state screen."""

import json
import time

from mtlgrn_ui import resources

from .conftest import page


def wait_for_hits(app, seconds: float = 60):
    """Rerun the page until the screen's table of regulators appears (its background task has finished)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        app.run()
        assert not app.exception and not app.error
        tables = [d.value for d in app.dataframe if "regulator" in d.value.columns]
        if tables:
            return tables[0]
        time.sleep(0.3)
    raise AssertionError(f"no screen result within {seconds} s")


def test_a_target_screen_from_the_page(loaded):
    _, dataset_id, run_id = loaded
    run = resources.run(run_id)
    targets = [g for g in run.genes if g not in set(run.tfs)][:3]
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception
    app.multiselect(key="sc_targets").set_value(targets[:2])
    app.text_area(key="sc_paste").set_value(f"{targets[2]}\nNOT_A_GENE")
    app.button(key="sc_run").click().run()
    assert any("NOT\\_A\\_GENE" in e.value and "not among this run's" in e.value for e in app.error)

    app.text_area(key="sc_paste").set_value(targets[2])
    app.slider(key="sc_dose").set_value(1.0)
    app.button(key="sc_run").click().run()
    assert any("dose 1 leaves every gene" in e.value for e in app.error)

    app.slider(key="sc_dose").set_value(0.0)
    app.number_input(key="sc_pairs").set_value(3)
    app.button(key="sc_run").click().run()
    hits = wait_for_hits(app)
    assert hits["rank"].tolist() == list(range(1, len(hits) + 1)) and not set(targets) & set(hits["regulator"])
    pairs = next(d.value for d in app.dataframe if "synergy" in d.value.columns)
    assert len(pairs) == 3
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]
    assert "Best regulators to move the targets" in titles
    labels = {b.proto.label for b in app.get("download_button")}
    assert {"Download every candidate (CSV)", "Download the pairs (CSV)"} <= labels

    app.radio(key="sc_kind").set_value("Turn one group into another").run()
    assert not app.exception
    assert any("compares two groups of samples" in i.value for i in app.info)
