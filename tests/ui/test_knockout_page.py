"""The Knockout page: a query's chart, table and downloads, the dose warning, the comparison heatmap, the
network around the perturbed genes and the measured knockout; a hint when no run is selected."""

from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_ui import resources

from .conftest import page
from .hostile import unescaped


def charts(app) -> dict[str, str]:
    """Plotly charts on the page: title -> figure JSON."""
    import json

    out = {}
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"].get("title", {}).get("text", "")] = chart.proto.spec
    return out


def predict(app, genes, dose=0.0):
    app.multiselect(key="ko_genes").set_value(genes)
    app.slider(key="ko_dose").set_value(dose)
    app.button(key="ko_run").click().run()
    assert not app.exception
    return app


def test_knockout_page_without_a_run_shows_a_hint(home):
    app = page("4_Knockout.py").run()
    assert not app.exception
    assert any("No trained run" in i.value for i in app.info)


def test_knockout_query_comparison_and_warning(loaded):
    _, dataset_id, run_id = loaded
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    assert any("press **Predict**" in i.value for i in app.info)
    assert any("learned from perturbation data" in i.value for i in app.info)
    tf = resources.run(run_id).tfs[0]

    predict(app, [tf])
    assert not app.error
    assert not any("dose" in w.value for w in app.warning)  # 0 lies inside the doses seen in training
    assert any("trained on this measured knockout" in w.value for w in app.warning)
    assert app.session_state["ko_history"] == [((tf,), 0.0)]
    titles = charts(app)
    assert any(t.startswith("Most changed genes") for t in titles)
    assert any(t.startswith("Volcano") for t in titles)
    assert any(t.startswith("Targets of") for t in titles)  # the network around the knocked-out TF
    assert any("Pearson r" in t for t in titles)  # the demo has measured knockouts of every gene
    table = next(d.value for d in app.dataframe if "delta" in d.value.columns)
    assert len(table) == 60 and table["delta"].abs().is_monotonic_decreasing
    labels = {b.proto.label for b in app.get("download_button")}
    assert "Download the table (CSV)" in labels
    assert any("Compare" in i.value or "second knockout" in i.value for i in app.info)

    second = resources.run(run_id).tfs[1]
    predict(app, [tf, second], 1.5)
    assert any("overexpression" in w.value for w in app.warning)
    assert any(t.startswith("Knockouts compared") for t in charts(app))
    assert len(app.session_state["ko_history"]) == 2

    app.button(key="ko_clear").click().run()
    assert not app.exception
    assert app.session_state["ko_history"] == []
    assert not any(t.startswith("Knockouts compared") for t in charts(app))


def test_knockout_page_needs_a_gene(loaded):
    _, dataset_id, run_id = loaded
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    app.button(key="ko_run").click().run()
    assert not app.exception
    assert any("at least one gene" in w.value for w in app.warning)


def test_knockout_page_says_where_a_prediction_without_a_knockout_task_comes_from(loaded, demo_dataset):
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    workspace, dataset_id, _ = loaded
    run = fit(demo_dataset, TrainConfig(epochs=2, hidden=16, heads=2,
                                        task_weights={"edge": 1.0, "knockout": 0.0, "expression": 0.3}))
    run.info.update({"name": "no knockout task", "dataset_id": dataset_id})
    run_id = save_run(run, workspace.new_run_path("no knockout task")).name
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception
    assert any("from observational data only" in i.value for i in app.info)
    predict(app, [run.genes[0]])
    assert not app.error and not app.warning  # no "not meaningful" output: the prediction has a real source
    assert sum("from observational data only" in i.value for i in app.info) == 1  # said once


def test_why_a_gene_moves_shows_its_paths_and_the_network_colours_edges_by_their_effect(loaded):
    _, dataset_id, run_id = loaded
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    run = resources.run(run_id)
    hub = run.prior["source"].value_counts().index[0]
    predict(app, [hub])
    assert not app.error
    most_changed = app.selectbox(key="ko_why_gene").value  # the most changed gene is picked first
    assert any(t.startswith(f"Why {most_changed} moves") for t in charts(app))
    paths = next(d.value for d in app.dataframe if "edge_signs" in d.value.columns)
    assert paths["path"].iloc[0].startswith(f"{hub} -> ") and paths["path"].iloc[0].endswith(most_changed)
    assert 1 <= len(paths) <= 5
    terms = next(d.value for d in app.dataframe if "change" in d.value.columns and "paths listed" in d.value.index)
    assert "common response to any perturbation" in terms.index

    unreached = [g for g in app.selectbox(key="ko_why_gene").options if g not in set(run.prior["target"])]
    app.selectbox(key="ko_why_gene").set_value(unreached[0]).run()  # a gene nothing regulates: no path
    assert not app.exception and any("no path" in i.value for i in app.info)

    app.toggle(key="ko_by_effect").set_value(True).run()
    assert not app.exception
    network = next(spec for title, spec in charts(app).items() if title.startswith("Targets of"))
    assert "carries a rise" in network or "carries a fall" in network


def test_a_regulator_the_run_does_not_measure_can_be_knocked_out(loaded, demo_dataset):
    import pandas as pd

    from mtlgrn_core.inputs.data import build_dataset
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    workspace, dataset_id, _ = loaded
    genes = list(demo_dataset.genes)
    extra = pd.DataFrame({"source": ["TFX"] * 3, "target": genes[:3], "sign": [1, 1, -1]})
    dataset = build_dataset(genes=genes, samples=list(demo_dataset.samples), expression=demo_dataset.expression,
                            prior=pd.concat([demo_dataset.prior, extra], ignore_index=True),
                            tfs=list(demo_dataset.tfs), sample_sheet=demo_dataset.sample_sheet,
                            log_transform=False, name="outside")
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2))
    run.info.update({"name": "with an unmeasured TF", "dataset_id": dataset_id})
    run_id = save_run(run, workspace.new_run_path("with an unmeasured TF")).name
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert "TFX" in app.multiselect(key="ko_genes").options[-1]
    predict(app, ["TFX"])
    assert not app.error, [e.value for e in app.error]
    assert any("for TFX: not measured" in i.value.replace("\\", "") for i in app.info)
    # its measured knockouts cannot be looked up gene by gene: the page says why instead of "no measured sample"
    assert any("not measured in the expression" in i.value for i in app.info)
    assert not any("has no measured sample" in i.value for i in app.info)
    assert any("How far to trust it" in c.value and "bench-yeast" in c.value.replace("\\", "") for c in app.caption)
    table = next(d.value for d in app.dataframe if "delta" in d.value.columns).set_index("gene")
    assert table.loc[genes[0], "delta"] < table.loc[genes[2], "delta"]


def test_a_knockout_in_a_context_of_the_sample_information(loaded, demo_dataset):
    import numpy as np
    import pandas as pd
    import pytest

    from mtlgrn_core.inputs.data import build_dataset
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit

    workspace, dataset_id, _ = loaded
    n = len(demo_dataset.samples)
    info = pd.DataFrame({"condition": np.where(np.arange(n) < n // 2, "heat", "cold")},
                        index=pd.Index(demo_dataset.samples, name="sample"))
    dataset = build_dataset(genes=list(demo_dataset.genes), samples=list(demo_dataset.samples),
                            expression=demo_dataset.expression, prior=demo_dataset.prior, tfs=list(demo_dataset.tfs),
                            sample_sheet=demo_dataset.sample_sheet, log_transform=False, sample_info=info)
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2))
    run.info.update({"name": "with conditions", "dataset_id": dataset_id})
    run_id = save_run(run, workspace.new_run_path("with conditions")).name
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    assert app.selectbox(key="ko_context").options == ["the control samples (default)", "condition=cold",
                                                       "condition=heat"]
    app.selectbox(key="ko_context").set_value("condition=heat")
    predict(app, [run.tfs[0]])
    assert not app.error
    assert any("in the context condition=heat" in c.value.replace("\\", "") for c in app.caption)
    table = next(d.value for d in app.dataframe if "delta" in d.value.columns).set_index("gene")
    heat = demo_dataset.expression[:, : n // 2].mean(axis=1)
    assert table["baseline"].reindex(run.genes).to_numpy() == pytest.approx(heat, rel=1e-4, abs=1e-4)


def test_the_knockout_page_compares_an_uploaded_table_and_shows_a_bad_one_as_an_error(loaded):
    from mtlgrn_ui import resources

    _, dataset_id, run_id = loaded
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    tf = resources.run(run_id).tfs[0]
    app.multiselect(key="ko_genes").set_value([tf])
    app.button(key="ko_run").click().run()
    assert not app.exception
    assert any(e.label == "Compare with your experiment" for e in app.expander)
    genes = resources.run(run_id).genes
    good = "\n".join(["gene\tlogFC\tFDR"] + [f"{g}\t{(-1) ** i * (i + 1) / 10}\t0.01" for i, g in enumerate(genes)])
    app.file_uploader(key="ko_de_upload").set_value(("my_ko.tsv", good.encode(), "text/tab-separated-values")).run()
    assert not app.exception and not app.error
    metrics = {m.label: m.value for m in app.metric}
    assert {"Pearson r", "Spearman rho", "Right direction", "Top-50 overlap"} <= set(metrics)
    summary = next(d.value for d in app.dataframe if "meaning" in d.value.columns)
    assert summary.iloc[0]["value"] == f"{len(genes) - 1}"  # every gene but the perturbed one
    labels = {b.proto.label for b in app.get("download_button")}
    assert "Download the matched genes (CSV)" in labels
    assert app.session_state["ko_experiment"][0] == "my_ko.tsv"
    assert any(spec_title.startswith(f"{tf} knockout: predicted against my_ko.tsv") for spec_title in chart_titles(app))

    app.switch_page("app.py").run()  # the uploader is not drawn on another page, and forgets its file
    app.switch_page("pages/4_Knockout.py").run()
    assert not app.exception and app.file_uploader(key="ko_de_upload").value is None
    assert any("my_ko.tsv, uploaded earlier" in unescaped(c.value) for c in app.caption)  # the session kept it
    assert "Top-50 overlap" in {m.label for m in app.metric}
    app.button(key="ko_de_forget").click().run()
    assert app.session_state["ko_experiment"] is None and "Top-50 overlap" not in {m.label for m in app.metric}

    app.file_uploader(key="ko_de_upload").set_value(("bad.tsv", b"probe\tvalue\nA\t1\n", "text/plain")).run()
    assert not app.exception
    errors = [unescaped(e.value) for e in app.error]
    assert any(e.startswith("bad.tsv, line 1: has no gene column") for e in errors), errors
    assert any(t.startswith("Most changed genes") for t in chart_titles(app))  # the prediction is still shown


def chart_titles(app) -> list[str]:
    import json

    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]
