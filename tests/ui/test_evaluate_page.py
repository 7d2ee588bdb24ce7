"""The Evaluate page: metrics table and curves on the test split and against the truth; the other edge split,
knockout cross-validation and ablation started from the page in the background; a hint when no run is
selected."""

import json
import time

from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_ui import resources

from .conftest import page


def chart_titles(app) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]


def table_with(app, column: str):
    return [d.value for d in app.dataframe if column in d.value.columns]


def wait_for(app, column: str, seconds: float = 40):
    """Rerun the page until a table with ``column`` appears (its background task has finished)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        app.run()
        assert not app.exception and not app.error
        if table_with(app, column):
            return app
        time.sleep(0.3)
    raise AssertionError(f"no table with a '{column}' column within {seconds} s")


def test_evaluate_page_without_a_run_shows_a_hint(home):
    app = page("5_Evaluate.py").run()
    assert not app.exception
    assert any("No trained run" in i.value for i in app.info)


def test_evaluate_page_metrics_and_curves(loaded):
    _, dataset_id, run_id = loaded
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    test_table, truth_table = table_with(app, "auprc")[:2]
    assert list(test_table["method"]) == ["MTLGRN", "random", "degree", "reverse edge", "|Pearson|",
                                          "knockout z-score"]
    stored = resources.run(run_id).metrics["test"]["auprc"]
    assert abs(test_table.loc[0, "auprc"] - stored) < 1e-4
    assert truth_table.loc[0, "n_pairs"] > test_table.loc[0, "n_pairs"]
    titles = chart_titles(app)
    assert {"Precision-recall curves, test split", "ROC curves, test split"} <= set(titles)
    assert sum("ground truth" in t or "truth" in t for t in titles) == 2
    assert any("truth.csv" in m.value for m in app.markdown)
    labels = {b.proto.label for b in app.get("download_button")}
    assert "Download the metrics (CSV)" in labels
    for key in ("genie3_start", "genie3_truth_start", "cv_start", "ablation_start", "other_split_start"):
        assert app.button(key=key)
    assert any("listed in both directions" in m.value for m in app.markdown)  # the demo prior: none is


def test_genie3_is_added_to_both_edge_tabs(loaded):
    _, dataset_id, run_id = loaded
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    app.button(key="genie3_start").click().run()
    assert not app.exception
    deadline = time.time() + 40
    while not all("GENIE3" in set(t["method"]) for t in table_with(app, "auprc")) and time.time() < deadline:
        time.sleep(0.3)
        app.run()
        assert not app.exception and not app.error
    tables = table_with(app, "auprc")
    assert len(tables) == 2 and all(t["method"].iloc[-1] == "GENIE3" for t in tables)
    assert not [b for b in app.button if b.key in ("genie3_start", "genie3_truth_start")]


def test_evaluate_page_when_the_dataset_is_gone(loaded, demo_run_template):
    workspace, dataset_id, _ = loaded
    demo_run_template.info.update({"name": "orphan", "dataset_id": "deleted-dataset"})
    run_id = save_run(demo_run_template, workspace.new_run_path("orphan")).name
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    assert any("no longer in the workspace" in i.value for i in app.info)
    # the run holds its split and inputs: its test split is still scored, with every baseline and the curves
    scored = table_with(app, "auprc")[0]
    assert list(scored["method"]) == ["MTLGRN", "random", "degree", "reverse edge", "|Pearson|", "knockout z-score"]
    assert abs(scored.loc[0, "auprc"] - demo_run_template.metrics["test"]["auprc"]) < 1e-4
    assert {"Precision-recall curves, test split", "ROC curves, test split"} <= set(chart_titles(app))
    knockout = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    knockout.multiselect(key="ko_genes").set_value([knockout.multiselect(key="ko_genes").options[0]])
    knockout.button(key="ko_run").click().run()
    assert not knockout.exception and not knockout.error
    assert any("no longer in the workspace" in i.value for i in knockout.info)


def test_ablation_and_knockout_cross_validation_from_the_page(loaded):
    _, dataset_id, run_id = loaded
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    app.number_input(key="ablation_epochs").set_value(2)
    app.button(key="ablation_start").click().run()
    assert not app.exception
    wait_for(app, "variant")
    ablation = next(t for t in table_with(app, "variant"))
    assert ablation.loc[0, "variant"] == "full model" and len(ablation) >= 5
    assert any(t.startswith("Ablation") for t in chart_titles(app))

    app.number_input(key="cv_epochs").set_value(2)
    app.button(key="cv_start").click().run()
    assert not app.exception
    wait_for(app, "pearson_all")
    cv = next(t for t in table_with(app, "pearson_all"))
    assert list(cv["method"]) == ["MTLGRN", "zero change", "mean training delta", "linear propagation",
                                  "mean training delta + linear propagation"]
    assert {"Download the ablation (CSV)", "Download per-knockout results (CSV)"} <= {
        b.proto.label for b in app.get("download_button")}


def test_the_other_edge_split_is_trained_and_shown_beside(loaded):
    _, dataset_id, run_id = loaded
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    app.button(key="other_split_start").click().run()
    assert not app.exception
    wait_for(app, "edge hold-out, reciprocal pairs grouped")
    beside = table_with(app, "edge hold-out, reciprocal pairs grouped")[0]
    assert list(beside.columns) == ["method", "edge hold-out", "edge hold-out, reciprocal pairs grouped"]
    stored = resources.run(run_id).metrics
    assert abs(beside.loc[0, "edge hold-out"] - stored["test"]["auprc"]) < 1e-9
    assert beside.iloc[0, 2] != beside.iloc[0, 1] and 0 < beside.iloc[0, 2] <= 1


def test_the_report_button_makes_one_file_with_this_sessions_knockouts(loaded):
    _, dataset_id, run_id = loaded
    tf = resources.run(run_id).tfs[0]
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id)
    app.session_state["ko_history"] = [((tf,), 0.0), (("NOT_IN_THIS_RUN",), 0.0)]  # a query of another run
    app.run()
    assert not app.exception
    assert not any(b.proto.label == "Download the report (HTML)" for b in app.get("download_button"))
    app.button(key="evaluate_report_make").click().run()
    assert not app.exception and not app.error
    made = app.session_state["report"]
    assert made["run_id"] == run_id and made["queries"] == ((((tf,), 0.0)),)
    html = made["html"].decode()
    assert html.startswith("<!DOCTYPE html>") and f"Knockout: {tf} knockout" in html
    assert "Precision-recall curves" in html and "NOT_IN_THIS_RUN" not in html
    assert any(b.proto.label == "Download the report (HTML)" for b in app.get("download_button"))


def test_a_thin_prior_says_why_instead_of_printing_edge_figures(home):
    """Issue 26, item 3: a prior with few edges between measured genes leaves too few test edges for an AUPRC
    to mean much; the page says so, and what to do, instead of showing the figures."""
    from mtlgrn_core.evaluation.edge_support import MIN_TEST_POSITIVES
    from mtlgrn_core.inputs.simulate import simulate
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    from .conftest import FAST

    dataset = simulate(20, seed=0)
    run = fit(dataset, TrainConfig(**FAST))
    positives = run.metrics["test"]["n_positives"]
    assert positives < MIN_TEST_POSITIVES
    dataset_id = home.save_dataset(dataset, "small")
    run.info.update({"name": "small run", "dataset_id": dataset_id})
    run_id = save_run(run, home.new_run_path("small run")).name
    app = page("5_Evaluate.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    shown = [w.value for w in app.warning if "Edge figures are not shown" in w.value]
    assert any(f"holds {positives} true edges" in w and "Keep every gene" in w for w in shown)
    (truth_table,) = table_with(app, "auprc")  # the ground truth's: enough true edges to be shown
    assert truth_table.loc[0, "n_positives"] >= MIN_TEST_POSITIVES
    assert not any("test split" in t for t in chart_titles(app))
    assert "genie3_start" not in {b.key for b in app.button} and "genie3_truth_start" in {b.key for b in app.button}
