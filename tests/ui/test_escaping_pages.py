"""The pages show hostile gene, sample, dataset, run and file names as text: no Markdown element, chart or
network view holds one unescaped. The Data page states its upload limits, and a failed upload shows the error
with its fix while the dataset already loaded stays selected."""

from __future__ import annotations

import json
import re

import pytest

from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_core.viz.escape import markdown_text, plotly_text

from .conftest import FAST, page
from .hostile import (
    AMP,
    DATASET,
    IMG,
    LINK,
    RAW,
    RUN,
    SAMPLE,
    SCRIPT,
    STORED_QUOTE,
    hostile_dataset,
    unescaped,
)

STORED = (IMG, SCRIPT, STORED_QUOTE, LINK, AMP)  # the gene names as a workspace stores them
NAMES = (*STORED, SAMPLE, DATASET, RUN)


@pytest.fixture(scope="module")
def hostile_template():
    dataset = hostile_dataset(quote=STORED_QUOTE)
    return dataset, fit(dataset, TrainConfig(**FAST))


@pytest.fixture()
def hostile_loaded(home, hostile_template):
    """A workspace holding the hostile dataset (named :data:`DATASET`) and a run on it (named :data:`RUN`)."""
    dataset, run = hostile_template
    dataset_id = home.save_dataset(dataset, DATASET)
    assert set(STORED) <= set(home.load_dataset(dataset_id).genes)  # the names survive the workspace
    run.info.update({"name": RUN, "dataset_id": dataset_id})
    path = save_run(run, home.new_run_path("hostile run"))
    return home, dataset_id, path.name


def markdown_texts(app) -> list[str]:
    """Every string the page renders as Markdown (sidebar included)."""
    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success",
                 "toast"):
        texts += [str(e.value) for e in getattr(app, kind)]
    for metric in app.metric:
        texts += [metric.label, str(metric.value)]
    return texts


def assert_all_escaped(app, shown=()) -> list[str]:
    """No Markdown element holds a hostile name as typed; each of ``shown`` appears Markdown-escaped."""
    assert not app.exception
    texts = markdown_texts(app)
    for text in texts:
        for name in NAMES:
            assert not re.search(r"(?<!\\)" + re.escape(name), text), (name, text)
        assert not any(raw in text for raw in RAW), text
    for name in shown:
        assert any(markdown_text(name) in text for text in texts), name
    return texts


def chart_specs(app) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def assert_charts_escaped(app, shown=()):
    specs = chart_specs(app)
    assert specs
    joined = "\n".join(json.dumps(json.loads(s)) for s in specs)  # the figures as the browser gets them
    assert not any(raw in joined for raw in RAW)
    assert not re.search(r"&amp;(?!amp;)", joined)  # the gene "&amp;" is drawn as "&amp;amp;"
    for name in shown:
        assert json.dumps(plotly_text(name))[1:-1] in joined, name


def test_home_shows_dataset_and_run_names_as_text(hostile_loaded):
    _, dataset_id, run_id = hostile_loaded
    app = page("app.py", dataset_id=dataset_id, run_id=run_id).run()
    texts = assert_all_escaped(app, shown=(DATASET, RUN))
    assert any(unescaped(t) == DATASET for t in texts) and any(unescaped(t) == RUN for t in texts)  # the metrics
    assert any(unescaped(t) == f"Data: {DATASET}" for t in texts)  # the sidebar


def test_data_page_shows_names_as_text(hostile_loaded):
    _, dataset_id, _ = hostile_loaded
    app = page("1_Data.py", dataset_id=dataset_id).run()
    assert not app.error
    texts = assert_all_escaped(app, shown=(DATASET,))
    assert f"Selected: {DATASET}" in [unescaped(h.value) for h in app.header]
    assert_charts_escaped(app, shown=(SAMPLE,))  # sample names in the PCA and the boxes
    expression = next(d.value for d in app.dataframe if d.value.index.name == "gene")
    assert IMG in expression.index and SAMPLE in expression.columns  # tables show the names as typed
    assert texts


def test_network_page_shows_gene_names_as_text(hostile_loaded):
    _, dataset_id, run_id = hostile_loaded
    app = page("3_Network.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.error
    assert_all_escaped(app)
    edges = next(d.value for d in app.dataframe if "regulator" in d.value.columns)
    assert {IMG, SCRIPT, STORED_QUOTE} <= set(edges["regulator"])  # names as typed in the table
    assert IMG in app.selectbox(key="edge_gene").options  # and in the gene picker (plain text)
    app.radio(key="view_mode").set_value("gene").run()
    app.selectbox(key="view_gene").set_value(IMG).run()
    assert not app.exception and not app.error
    srcdoc = app.get("iframe")[0].proto.srcdoc
    for raw in (*RAW, STORED_QUOTE):
        assert raw not in srcdoc
    assert "Neighbourhood of &lt;img src=x onerror=alert(1)&gt;" in srcdoc  # the legend's title, as text
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in srcdoc  # the node, as escaped JSON
    assert_all_escaped(app)


def test_knockout_page_shows_gene_names_as_text(hostile_loaded):
    _, dataset_id, run_id = hostile_loaded
    app = page("4_Knockout.py", dataset_id=dataset_id, run_id=run_id).run()
    app.multiselect(key="ko_genes").set_value([IMG, LINK])
    app.button(key="ko_run").click().run()
    assert not app.exception and not app.error
    texts = assert_all_escaped(app, shown=(f"{IMG}+{LINK} knockout",))
    assert f"Predicted effect: {IMG}+{LINK} knockout" in [unescaped(t) for t in texts]
    assert_charts_escaped(app, shown=(IMG,))


def test_train_page_run_list_shows_names_as_text(hostile_loaded):
    _, dataset_id, run_id = hostile_loaded
    app = page("2_Train.py", dataset_id=dataset_id, run_id=run_id).run()
    app.button(key="delete_run").click().run()
    assert not app.exception
    assert_all_escaped(app, shown=(RUN,))
    assert any(RUN in unescaped(w.value) for w in app.warning)  # "Delete '<run> (<date>)' from disk?"


# -- uploads on the Data page ------------------------------------------------------------------------------
GOOD = b"gene,s1,s2,s3\nA,1,2,3\nB,2,3,1\nC,3,1,2\n"
BAD = b"gene,s1,s2\nA,1,2\nB,1,oops\n"


def test_data_page_states_the_upload_limits(home):
    app = page("1_Data.py").run()
    assert not app.exception
    assert "1 GB per file" in app.file_uploader(key="upload_expression").help
    assert "2 GB unpacked" in app.file_uploader(key="upload_zip").help
    assert any("Upload limits" in c.value and "1 GB" in c.value for c in app.caption)


def test_a_bad_upload_shows_its_fix_and_keeps_the_loaded_dataset(home):
    app = page("1_Data.py").run()
    app.file_uploader(key="upload_expression").set_value(("good_counts.csv", GOOD, "text/csv"))
    app.button(key="load_files").click().run()
    assert not app.exception and not app.error
    (entry,) = home.datasets()
    assert entry.name == "good_counts" and app.session_state["dataset_id"] == entry.id

    app.file_uploader(key="upload_expression").set_value((f"{IMG}.csv", BAD, "text/csv"))
    app.button(key="load_files").click().run()
    assert not app.exception
    (error,) = app.error
    message = unescaped(error.value)
    assert message.startswith(f"{IMG}.csv, line 3: cell 'oops'")  # the user's file, the line, the cell ...
    assert message.endswith("is not a number. Expression values must be numbers.")  # ... and the fix
    assert_all_escaped(app)  # the file name shows as text
    assert app.session_state["dataset_id"] == entry.id and [e.id for e in home.datasets()] == [entry.id]
    assert "Selected: good\\_counts" in [h.value for h in app.header]  # still shown below the error
