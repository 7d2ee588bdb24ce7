"""Names from user files never reach HTML, plotly text, Markdown or a file path unescaped.

Every figure builder and export is fed a dataset whose genes are named ``<img src=x onerror=alert(1)>``,
``<script>alert(1)</script>``, ``"onmouseover="alert(1)``, ``[click](javascript:alert(1))`` and ``&amp;`` (and
a sample ``<img src=x onerror=alert(2)>``); the pages themselves are checked in tests/ui/test_escaping_pages.py.
Also: uploaded file names stay inside the workspace, and the server's upload limit matches the app's own.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
import zipfile
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers import analysis
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.upload import MAX_ARCHIVE_BYTES, MAX_FILE_BYTES, dataset_from_files, dataset_from_zip
from mtlgrn_core.runs.workspace import Workspace
from mtlgrn_core.viz import data as viz_data
from mtlgrn_core.viz import evaluate as viz_eval
from mtlgrn_core.viz import knockout as viz_ko
from mtlgrn_core.viz import network as viz_net
from mtlgrn_core.viz import train as viz_train
from mtlgrn_core.viz.escape import csv_safe, html_text, markdown_text, plotly_text
from mtlgrn_core.viz.export import figure_html
from tests.figure_strings import figure_strings
from tests.ui.hostile import (
    AMP,
    DATASET,
    HOSTILE,
    IMG,
    LINK,
    QUOTE,
    RAW,
    RUN,
    SAMPLE,
    SCRIPT,
    hostile_dataset,
    markdown_literal,
)

ROOT = Path(__file__).resolve().parents[1]
_PLOTLY_TAGS = re.compile(r"</?(b|br|extra)>")  # the tags our own templates and titles use


@pytest.fixture(scope="module")
def hostile():
    return hostile_dataset()


def check_figure(fig, shown=()) -> list[str]:
    """No string of ``fig`` holds markup except our own ``<b> <br> <extra>``; every name in ``shown`` is there,
    escaped; the figure's HTML export holds no raw tag either. Returns the figure's strings."""
    strings = figure_strings(fig)
    for s in strings:
        assert "<" not in _PLOTLY_TAGS.sub("", s), s
        assert not any(raw in s for raw in RAW), s
    joined = "\n".join(strings)
    for name in shown:
        assert plotly_text(name) in joined, name
    page = figure_html(fig)
    assert not any(raw in page for raw in RAW)
    assert QUOTE not in page  # the JSON inside the page escapes the quotes
    if IMG in shown:
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
    if SCRIPT in shown:
        assert "&lt;script&gt;alert(1)&lt;" in page
    if AMP in shown:
        assert "&amp;amp;" in page  # shows as "&amp;", not as "&"
    return strings


# -- the helpers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*HOSTILE, SAMPLE, DATASET, RUN, "![x](http://e.invalid/x.png)", "<http://e.invalid>",
                                  ":red[x] :material/home: $x$ `c` *a* _b_ ~~s~~ # h", "1. a\\b"])
def test_markdown_text_escapes_every_special_character(name):
    assert markdown_literal(markdown_text(name)) == name


def test_html_and_plotly_text():
    assert html_text(QUOTE) == "&quot;onmouseover=&quot;alert(1)"
    assert html_text(IMG) == "&lt;img src=x onerror=alert(1)&gt;" and html_text(AMP) == "&amp;amp;"
    assert plotly_text(QUOTE) == QUOTE  # plotly shows "&quot;" literally; without "<" no tag can form
    assert plotly_text(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;" and plotly_text(AMP) == "&amp;amp;"
    assert plotly_text(LINK) == LINK


def test_csv_safe_defuses_formulas_and_keeps_numbers():
    frame = pd.DataFrame({"gene": ["=HYPERLINK(\"http://e.invalid\")", "+1", "-x", "@SUM(A1)", "\tx", "G1"],
                          "score": [-1.5, 2.0, -3.0, 0.0, 1.0, 1.0]}, index=["=a", "b", "c", "d", "e", "f"])
    frame["=col"] = "ok"
    safe = csv_safe(frame)
    assert list(safe["gene"]) == ["'=HYPERLINK(\"http://e.invalid\")", "'+1", "'-x", "'@SUM(A1)", "'\tx", "G1"]
    assert list(safe["score"]) == [-1.5, 2.0, -3.0, 0.0, 1.0, 1.0] and safe["score"].dtype == float
    assert list(safe.columns) == ["gene", "score", "'=col"] and safe.index[0] == "'=a"
    assert frame["gene"].iloc[0].startswith("=")  # the input is not modified


# -- figures -----------------------------------------------------------------------------------------------
def test_data_figures_escape_sample_names(hostile):
    assert SAMPLE in hostile.samples and set(HOSTILE) <= set(hostile.genes)
    shown = {"distribution": [SAMPLE], "pca": [SAMPLE], "degree": []}
    for which, (_title, builder) in viz_data.FIGURES.items():
        check_figure(builder(hostile), shown[which])


def hostile_network(dataset):
    """The analysed network of the dataset's prior (scored by position), with its missed truth edges."""
    prior = dataset.prior
    edges = pd.DataFrame({"source": prior["source"], "target": prior["target"],
                          "score": np.linspace(0.95, 0.3, len(prior)), "in_prior": True})
    extra = pd.DataFrame({"source": [IMG, SCRIPT], "target": [AMP, LINK], "score": [0.99, 0.98], "in_prior": False})
    edges = pd.concat([extra, edges]).drop_duplicates(["source", "target"]).reset_index(drop=True)
    edges.insert(0, "rank", np.arange(1, len(edges) + 1))
    edges = analysis.annotate_edges(edges, prior, expression=dataset.expression, genes=dataset.genes,
                                    truth=dataset.truth)
    result = analysis.analyse_network(edges, dataset.tfs)
    missed = analysis.compare_truth(result.edges, dataset.truth, genes=dataset.genes, regulators=dataset.tfs).missed
    return result, analysis.with_missed_edges(result.graph, missed)


def drawn_nodes(page: str) -> list[dict]:
    found = re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", page, re.DOTALL)
    return json.loads(found.group(1))


@pytest.mark.parametrize("color_by, edge_color_by", [("role", "sign"), ("community", "truth"),
                                                      ("pagerank", "truth")])
def test_network_page_and_figure_escape_gene_names(hostile, color_by, edge_color_by):
    _result, graph = hostile_network(hostile)
    assert set(HOSTILE) <= set(graph)
    title = f"Neighbourhood of {IMG} and {QUOTE}"
    page = viz_net.network_html(graph, color_by=color_by, edge_color_by=edge_color_by, title=title)
    for raw in (*RAW, QUOTE, "<script>alert(1)</script>"):
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt; and &quot;onmouseover=&quot;alert(1)" in page  # the legend's title
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page  # names travel as escaped JSON ...
    nodes = drawn_nodes(page)
    assert set(HOSTILE) <= {n["label"] for n in nodes}  # ... that decodes to the exact names (drawn on a canvas)
    assert any(n["title"].startswith(IMG) for n in nodes)  # tooltips are plain text (vis-network: innerText)
    assert "popup.innerHTML" not in page  # pyvis's HTML tooltip option stays off
    fig = viz_net.network_figure(graph, color_by=color_by, edge_color_by=edge_color_by, title=title)
    check_figure(fig, HOSTILE)
    assert plotly_text(title) == fig.layout.title.text


def test_graphml_and_csv_exports_of_the_network(hostile):
    result, graph = hostile_network(hostile)
    data = analysis.graphml_bytes(graph)
    assert not any(raw.encode() in data for raw in RAW)
    assert set(HOSTILE) <= set(nx.read_graphml(io.BytesIO(data)))  # XML-escaped, read back exactly
    text = csv_safe(result.edges).to_csv(index=False)
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert set(HOSTILE) <= set(back["source"]) | set(back["target"])  # none starts with = + - @


def knockout_table(dataset, perturbed=(IMG,)):
    rng = np.random.default_rng(0)
    n = dataset.n_genes
    baseline = rng.uniform(1, 5, n)
    delta = rng.normal(0, 1, n)
    table = pd.DataFrame({"gene": list(dataset.genes), "baseline": baseline, "predicted": baseline + delta,
                          "delta": delta, "log2fc": np.log2((baseline + delta).clip(0.1) / baseline),
                          "z": delta / 0.5, "perturbed": [g in perturbed for g in dataset.genes]})
    return table.reindex(table["delta"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def test_knockout_figures_escape_gene_names(hostile):
    table = knockout_table(hostile)
    others = [n for n in HOSTILE if n != IMG]
    check_figure(viz_ko.changes_bar(table, top=hostile.n_genes, title=f"after {IMG} knockout"), HOSTILE)
    check_figure(viz_ko.volcano(table, label_top=hostile.n_genes, title=f"{SCRIPT}"), HOSTILE)
    matrix = pd.DataFrame({f"{IMG} knockout": table["delta"].to_numpy(), f"{LINK}+{AMP} knockout": 0.0},
                          index=table["gene"])
    check_figure(viz_ko.comparison_heatmap(matrix), HOSTILE)
    nodes = table[["gene", "delta", "z", "perturbed"]]
    edges = pd.DataFrame({"source": IMG, "target": others, "score": 0.9, "known": [True, False, True, False]})
    check_figure(viz_ko.neighbourhood_figure(nodes[nodes["gene"].isin(HOSTILE)], edges, title=f"Targets of {IMG}"),
                 HOSTILE)
    frame = pd.DataFrame({"gene": table["gene"], "predicted": table["delta"], "measured": table["delta"] * 0.8})
    check_figure(viz_ko.measured_scatter(frame, {"pearson_all": 0.8}, title=f"{IMG}: predicted"), HOSTILE)


def test_evaluate_and_training_figures_escape_names():
    curve = {"roc": pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1]}),
             "pr": pd.DataFrame({"recall": [0, 0.5, 1], "precision": [1, 0.6, 0.3]})}
    curves = {name: curve for name in HOSTILE}
    metrics = pd.DataFrame({"auroc": 0.7, "auprc": 0.5}, index=list(HOSTILE))
    check_figure(viz_eval.roc_figure(curves, metrics, title=IMG), HOSTILE)
    check_figure(viz_eval.pr_figure(curves, metrics, 0.3, title=IMG), HOSTILE)
    check_figure(viz_eval.ablation_figure(pd.DataFrame({"variant": ["full model", *HOSTILE], "auprc": 0.5,
                                                        "auroc": 0.6}), title=SCRIPT), HOSTILE)
    cv = pd.DataFrame({"pearson_all": 0.5, "pearson_top": 0.4, "sign_acc_top": 0.8}, index=list(HOSTILE))
    check_figure(viz_eval.knockout_cv_figure(cv, title=IMG), HOSTILE)
    history = [{"epoch": e, "loss_total": 1 / e, "loss_edge": 1 / e, "val_auprc": 0.1 * e} for e in range(1, 4)]
    check_figure(viz_train.history_figure(history, title=IMG), [IMG])
    check_figure(viz_train.runs_comparison_figure({RUN: history, IMG: history}), [RUN, IMG])


# -- uploaded file names -----------------------------------------------------------------------------------
GOOD = b"gene,s1,s2,s3\nA,1,2,3\nB,2,3,1\nC,3,1,2\n"
# a long name makes an id longer than the 60 characters of safe_name: it must still be found again
HOSTILE_FILES = ["../../etc/passwd", "..\\evil.csv", "a/b.csv", "con.csv",
                 pytest.param("x" * 300 + ".csv", id="300-chars"), "a\x00b.csv",
                 f"{IMG}.csv", "/abs/olute.csv", "..", ""]


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().parent == folder.resolve()


@pytest.mark.parametrize("file_name", HOSTILE_FILES)
def test_uploaded_file_names_stay_inside_the_workspace(tmp_path, file_name):
    workspace = Workspace(tmp_path / "home")
    dataset = dataset_from_files({"expression": (file_name, GOOD)})
    assert "/" not in dataset.name and "\\" not in dataset.name  # only the base name is kept (as a label)
    for name in (None, file_name):  # the default name (from the file) and the name given as is
        entry = workspace.save_dataset(dataset, name)
        stored = workspace.datasets_dir / entry
        assert stored.is_dir() and _inside(stored, workspace.datasets_dir) and len(entry) < 100
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", entry) and ".." not in entry
        assert workspace.dataset_path(entry) == stored  # and it can be opened again
        assert workspace.load_dataset(entry).genes == ("A", "B", "C")
    assert _inside(workspace.new_run_path(file_name), workspace.runs_dir)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("expression.csv", GOOD)
    zipped = dataset_from_zip(archive.getvalue(), file_name=file_name)
    entry = workspace.save_dataset(zipped)
    assert _inside(workspace.dataset_path(entry), workspace.datasets_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing written beside the workspace
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["datasets", "runs"]


@pytest.mark.parametrize("entry_id", ["../../etc", "..", "../runs", "a/../../b", "x\x00y"])
def test_ids_from_outside_cannot_leave_the_workspace(tmp_path, entry_id):
    workspace = Workspace(tmp_path / "home")
    (tmp_path / "etc").mkdir()
    for lookup in (workspace.dataset_path, workspace.run_path):
        with pytest.raises(DataValidationError):
            lookup(entry_id)


def test_archive_entries_never_become_paths(tmp_path):
    for member in ("../expression.csv", "/expression.csv", "C:/expression.csv"):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(member, GOOD)
        with pytest.raises(DataValidationError, match="refused for safety"):
            dataset_from_zip(archive.getvalue())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("expression.csv", GOOD)
        zf.writestr(f"{IMG}.csv", GOOD)
    dataset = dataset_from_zip(archive.getvalue())
    assert any(IMG in w for w in dataset.warnings)  # ignored, named in a warning (the Data page escapes it)


# -- upload size limits ------------------------------------------------------------------------------------
def test_server_upload_limit_matches_the_app_limits():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server_bytes = config["server"]["maxUploadSize"] * (1 << 20)  # Streamlit: megabytes of 2**20 bytes
    assert server_bytes == MAX_FILE_BYTES  # a file the server accepts is one the loader accepts, and back
    assert server_bytes <= MAX_ARCHIVE_BYTES  # a zip the server accepts is never refused for its own size
    from mtlgrn_ui.data_loading import FILE_LIMIT_HELP, ZIP_LIMIT_HELP, size_text

    assert f"At most {size_text(MAX_FILE_BYTES)} per file" in FILE_LIMIT_HELP
    assert size_text(server_bytes) in ZIP_LIMIT_HELP and size_text(MAX_ARCHIVE_BYTES) in ZIP_LIMIT_HELP
    assert size_text(1 << 30) == "1 GB" and size_text(200 << 20) == "200 MB"


# -- an uncaught error ---------------------------------------------------------------------------------------
def test_an_uncaught_error_shows_no_traceback_or_message(tmp_path, monkeypatch):
    """Pages catch errors themselves; a bug that escapes them is redacted by the server setting (the message
    could hold names and paths from the user's files)."""
    from streamlit.testing.v1 import AppTest

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    script = tmp_path / "boom.py"
    script.write_text(f"raise RuntimeError('{IMG} /home/lab/secret.csv')\n")
    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working folder
    app = AppTest.from_file(str(script)).run()
    shown = " ".join(e.message + "".join(e.stack_trace) for e in app.exception)
    assert app.exception and "secret.csv" not in shown and "Traceback" not in shown
