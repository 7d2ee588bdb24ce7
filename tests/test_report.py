"""The report in one file: self-contained (no external src / href), holds the metrics and the figures, escapes
names from the user's files, and is the same file when made twice from the same run."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.report.html_report import build_report, parse_knockout, screen_from_spec, write_report
from mtlgrn_core.runs.run_folder import load_run, save_run
from mtlgrn_core.viz.escape import html_text
from mtlgrn_core.viz.export import chromium_path
from tests.ui.hostile import HOSTILE, RAW, RUN, hostile_dataset

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
HAS_CHROMIUM = chromium_path() is not None


class _Links(HTMLParser):
    """Every src / href attribute and the ids of the plot divs (script bodies are not parsed as markup)."""

    def __init__(self):
        super().__init__()
        self.links, self.plots, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.links += [values[a] for a in ("src", "href") if values.get(a)]
        self.plots += [values["id"]] if tag == "div" and str(values.get("id", "")).startswith("figure-") else []
        self.scripts += tag == "script"


def _parsed(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A run whose test split holds enough true edges for its edge figures to be shown (60 genes: 23)."""
    from tests.conftest import FAST

    run = fit(simulate(60, seed=1), FAST)
    return load_run(save_run(run, tmp_path_factory.mktemp("report") / "run"))


@pytest.fixture(scope="module")
def report(saved_run):
    hub = saved_run.prior["source"].value_counts().index[0]
    return build_report(saved_run, [((hub,), 0.0), ((hub, saved_run.genes[-1]), 0.5)], created=WHEN)


def test_the_report_is_one_file_with_no_external_link(report):
    parsed = _parsed(report)
    assert all(link.startswith(("data:", "#")) for link in parsed.links), parsed.links
    body = report.split("</head>", 1)[1]  # (plotly.js in the head names its CDN for maps, never fetched here)
    assert "cdn.plot.ly" not in body and "<script src" not in report  # plotly.js is inline
    assert report.count("<html") == 1 and parsed.scripts >= 6


def test_the_report_holds_the_metrics_and_the_figures(report, saved_run):
    auprc = saved_run.metrics["test"]["auprc"]
    assert f"{auprc:.4g}" in report and "knockout z-score" in report and "degree" in report
    plots = _parsed(report).plots
    assert len(plots) >= 7  # training, PR, ROC, network, a chart per knockout, a path figure
    for title in ("Training curves", "Precision-recall curves", "ROC curves", "best edges", "Most changed genes after",
                  "Why "):
        assert title in report, title
    for section in ("Dataset", "Validation notes", "Training settings", "Versions", "Hubs of the"):
        assert section in report, section
    assert re.search(r"\w+ -&gt; \w+ \([+-]\d", report)  # paths in the knockout tables ("->" escaped)
    if HAS_CHROMIUM:
        assert report.count('href="data:image/svg+xml;base64,') == len(plots)


def test_a_thin_test_split_is_said_instead_of_its_edge_figures(run):
    """The 40-gene run's test split holds 15 true edges: too few for an AUPRC to mean much (issue 26)."""
    assert run.metrics["test"]["n_positives"] < 20
    html = build_report(run, [], created=WHEN)
    assert "Edge figures are not shown: the held-out part of the prior holds 15 true edges" in html
    assert "Precision-recall curves" not in html and "Training curves" in html


def test_a_report_made_twice_is_the_same_file(saved_run, report):
    hub = saved_run.prior["source"].value_counts().index[0]
    again = build_report(saved_run, [((hub,), 0.0), ((hub, saved_run.genes[-1]), 0.5)], created=WHEN)
    assert again == report
    later = build_report(saved_run, [((hub,), 0.0), ((hub, saved_run.genes[-1]), 0.5)],
                         created=datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert later != report and later.replace("2027-01-01 00:00", "2026-01-02 03:04") == report


def test_names_from_the_users_files_are_escaped(tmp_path):
    dataset = hostile_dataset()
    run = fit(dataset, TrainConfig(epochs=2, hidden=16, heads=2))
    run.info["name"] = RUN
    regulators = [g for g in HOSTILE if g in set(run.prior["source"])]
    assert regulators, "the hostile dataset should name a regulator after an injection"
    html = build_report(run, [((regulators[0],), 0.0)], created=WHEN, svg=False)
    body = html.split("</head>", 1)[1]
    assert not any(raw in body for raw in (*RAW, "<script>alert(4)"))
    assert html_text(regulators[0]) in body and "&lt;script&gt;alert(4)&lt;/script&gt;" in html
    assert all(link.startswith(("data:", "#")) for link in _parsed(html).links)


def test_parse_knockout():
    assert parse_knockout("G001") == (("G001",), 0.0)
    assert parse_knockout("G001+G002:0.5") == (("G001", "G002"), 0.5)
    with pytest.raises(DataValidationError, match="dose"):
        parse_knockout("G001:half")
    with pytest.raises(DataValidationError, match="name one or more genes"):
        parse_knockout(":0.5")


@pytest.mark.skipif(not HAS_CHROMIUM, reason="the PDF is printed by Chromium (make test installs it)")
def test_write_report_with_a_pdf(saved_run, tmp_path):
    html, pdf = write_report(saved_run, tmp_path / "report.html", pdf=True, created=WHEN)
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000


def test_a_screen_has_its_section_with_the_best_hits_and_pairs(saved_run):
    targets = [g for g in saved_run.genes if g not in set(saved_run.tfs)][:2]
    screen = screen_from_spec(saved_run, "+".join(targets) + ":up:0.5")
    assert screen.kind == "target" and screen.dose == 0.5 and screen.genes == targets
    html = build_report(saved_run, created=WHEN, svg=False, screens=[screen])
    body = html.split("</head>", 1)[1]
    assert "Screen: which regulator moves the targets" in body and html_text(screen.question) in body
    assert html_text(screen.hits["regulator"].iloc[0]) in body and "largest synergy first" in body
    with pytest.raises(DataValidationError, match="then :down or :up, then :DOSE"):
        screen_from_spec(saved_run, f"{targets[0]}:up:half")
    with pytest.raises(DataValidationError, match="neither 'down' nor 'up'"):
        screen_from_spec(saved_run, f"{targets[0]}:sideways")
