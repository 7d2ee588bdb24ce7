"""A report in one file: what a run is (data, settings, versions), how it trained, how it scores against the
baselines on its test split, its best edges, hubs and network, and the knockouts the user looked at with the
paths that carry their changes, and the in-silico screens run on it.

The HTML holds every script and figure inline (plotly.js once, each figure as an interactive plot and, where
Chromium is present, as an SVG to download) and opens offline. It is made from the run alone (its folder's
files): a report of the same run and knockouts made twice differs only in its date. Every name from the
user's files is escaped (:func:`mtlgrn_core.viz.escape.html_text`; figures escape their own text). A knockout
may be compared with the user's own experiment of it (a differential-expression table,
:mod:`mtlgrn_core.evaluation.de_comparison`): its section then adds the figures of agreement and the scatter of
predicted against measured change.

    python -m mtlgrn_core report --run runs/demo --out report.html [--knockout G001] [--knockout G002+G003:0.5] [--pdf]
        [--compare G001=my_knockout_de.tsv]
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mtlgrn_core.answers.analysis import analyse_network, annotate_edges, top_subgraph
from mtlgrn_core.answers.explain import explain, path_column, propagation
from mtlgrn_core.answers.infer import score_edges
from mtlgrn_core.answers.screens import Screen
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation.de_comparison import PREDICTED_LABELS, DETable, compare_prediction, predicted_change
from mtlgrn_core.evaluation.edge_evaluation import curve_points, test_split_scores
from mtlgrn_core.evaluation.edge_support import thin_reference_note
from mtlgrn_core.model.run import Run
from mtlgrn_core.runs.knockout_queries import knockout_query, query_label
from mtlgrn_core.version import __version__
from mtlgrn_core.viz import evaluate as viz_evaluate
from mtlgrn_core.viz import knockout as viz_knockout
from mtlgrn_core.viz import screen as viz_screen
from mtlgrn_core.viz.escape import html_text
from mtlgrn_core.viz.export import chromium_path, svg_figures
from mtlgrn_core.viz.network import network_figure
from mtlgrn_core.viz.train import history_figure

TOP_EDGES = 50  # edges listed
NETWORK_EDGES = 100  # edges drawn
TOP_HUBS = 15
TOP_CHANGED = 15  # genes listed per knockout, each with its paths
TOP_HITS = 20  # regulators listed per screen
PATHS_PER_GENE = 2
PATHS_NOTE = ("Each path carries its contribution to the gene's change (in brackets): the perturbed gene's change "
              "times the strength of every edge along it in the model's propagation. A gene with no path moves by "
              "the parts that are not paths: the common response to any perturbation and, for a knockout measured "
              "in the training data, its measured response beyond what the network carries.")
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
Knockout = tuple[tuple[str, ...], float]  # perturbed genes and their dose


@dataclass
class _Page:
    """The report as it is written: sections of HTML and the figures they show (in order)."""

    sections: list[str] = field(default_factory=list)
    figures: list[go.Figure] = field(default_factory=list)

    def figure(self, fig: go.Figure, caption: str) -> str:
        """A placeholder for the next figure (filled with its plot and SVG by :func:`build_report`). Its traces
        get fixed ids (plotly draws random ones into an SVG)."""
        fig = go.Figure(fig)
        for j, trace in enumerate(fig.data):
            trace.uid = f"f{len(self.figures) + 1}t{j}"
        self.figures.append(fig)
        return f"<figure>@@FIGURE{len(self.figures) - 1}@@<figcaption>{html_text(caption)}</figcaption></figure>"

    def add(self, title: str, *parts: str) -> None:
        self.sections.append(f"<section><h2>{html_text(title)}</h2>{''.join(parts)}</section>")


def parse_knockout(text: str) -> Knockout:
    """``G001+G002`` or ``G001+G002:0.5`` (dose after a colon, default 0) as a knockout query."""
    genes, _, dose = text.rpartition(":") if ":" in text else (text, "", "0")
    names = tuple(g.strip() for g in genes.split("+") if g.strip())
    try:
        value = float(dose)
    except ValueError:
        raise DataValidationError(f"knockout '{text}': the dose after ':' must be a number, e.g. G001:0.5.") from None
    if not names:
        raise DataValidationError(f"knockout '{text}': name one or more genes, e.g. G001 or G001+G002:0.5.")
    return names, value


def screen_from_spec(run: Run, text: str) -> Screen:
    """The screen a command line names: ``G020+G031[:down|up[:DOSE]]`` (a target screen) or ``FROM..TO`` (a state
    screen between two sample groups, e.g. ``condition=disease..condition=healthy``), computed on ``run``."""
    from mtlgrn_core.answers.screens import state_screen, target_screen

    if ".." in text:
        source, _, target = text.partition("..")
        return state_screen(run, source.strip(), target.strip())
    parts = text.split(":")
    genes, direction, dose = parts[0], parts[1] if len(parts) > 1 else "down", parts[2] if len(parts) > 2 else "0"
    try:
        value = float(dose)
    except ValueError:
        raise DataValidationError(f"screen '{text}': write the targets, then :down or :up, then :DOSE (a number), "
                                  "e.g. G001+G002:down:0.5.") from None
    if len(parts) > 3:
        raise DataValidationError(f"screen '{text}': at most two ':' (targets:direction:dose), e.g. G001+G002:up:0.")
    return target_screen(run, genes.replace("+", ","), direction, dose=value)


def parse_comparison(text: str) -> tuple[Knockout, Path]:
    """``G001+G002:0.5=de.tsv`` as a knockout query and the differential-expression table to compare it with."""
    query, _, path = text.partition("=")
    if not query.strip() or not path.strip():
        raise DataValidationError(f"--compare '{text}': give the knockout, '=' and your differential-expression "
                                  "table, e.g. G001=ko_de.tsv or G001+G002:0.5=kd_de.csv.")
    return parse_knockout(query), Path(path.strip())


def build_report(run: Run, knockouts: Sequence[Knockout] = (), *, created: datetime | None = None,
                 svg: bool | None = None, experiments: dict[Knockout, DETable] | None = None,
                 screens: Sequence[Screen] = ()) -> str:
    """The report of ``run`` with the given knockout queries, as one HTML document.

    ``svg``: add each figure as an SVG (default: where Chromium is present); ``created``: the date shown
    (default now); ``experiments``: the user's differential-expression table of some of the knockouts, each
    compared with its prediction; ``screens``: in-silico screens of the run (:mod:`mtlgrn_core.answers.screens`),
    each with its best hits and pairs."""
    experiments = {(tuple(g), float(d)): de for (g, d), de in (experiments or {}).items()}
    page = _Page()
    _dataset_section(page, run)
    _settings_section(page, run)
    _training_section(page, run)
    _metrics_section(page, run)
    _network_section(page, run)
    for genes, dose in knockouts:
        _knockout_section(page, run, tuple(genes), float(dose), experiments.get((tuple(genes), float(dose))))
    if not knockouts:
        page.add("Knockouts", "<p>No knockout was queried for this report.</p>")
    for screen in screens:
        _screen_section(page, screen)
    svg = chromium_path() is not None if svg is None else svg
    images = svg_figures(page.figures) if svg else [None] * len(page.figures)
    body = "".join(page.sections)
    for i, (fig, image) in enumerate(zip(page.figures, images)):
        body = body.replace(f"@@FIGURE{i}@@", _figure_html(fig, i, image))
    return _document(run, body, created or datetime.now(timezone.utc), svg)


def _figure_html(fig: go.Figure, index: int, image: bytes | None) -> str:
    plot = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{index + 1}", config=PLOT_CONFIG)
    if image is None:
        return plot
    stable = _stable_svg(image.decode(), f"f{index + 1}")
    data = base64.b64encode(stable.encode()).decode()
    return (f'{plot}<p class="svg"><a download="figure-{index + 1}.svg" href="data:image/svg+xml;base64,{data}">'
            f"Download this figure as SVG</a></p>")


def _stable_svg(svg: str, name: str) -> str:
    """plotly names an SVG's clip paths and definitions after a random id: use ``name`` instead, so that the
    same figure gives the same file."""
    found = re.search(r'id="defs-([0-9a-f]+)"', svg)
    return svg if found is None else re.sub(rf"(?<=[a-z-]){found.group(1)}", name, svg)


def _table(frame: pd.DataFrame, *, floats: str = "{:.4g}") -> str:
    """A table with every cell escaped (names come from the user's files)."""
    head = "".join(f"<th>{html_text(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = (floats.format(v) if isinstance(v, float) else str(v) for v in values)
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _pairs(items: dict) -> str:
    return _table(pd.DataFrame({"": list(items), "value": [_plain(v) for v in items.values()]}))


def _plain(value) -> str:
    return json.dumps(value, default=str) if isinstance(value, (dict, list, tuple)) else str(value)


def _run_file(run: Run, name: str) -> dict:
    path = None if run.path is None else Path(run.path) / name
    return json.loads(path.read_text()) if path is not None and path.is_file() else {}


def _dataset_section(page: _Page, run: Run) -> None:
    summary = run.info.get("dataset_summary") or {
        "genes": len(run.genes), "samples": len(run.samples), "tfs": len(run.tfs), "prior_edges": len(run.prior)}
    notes = run.info.get("dataset_notes")
    listed = ("<p>The data's validation raised no note.</p>" if notes == [] else
              "<p>Validation notes were not recorded with this run.</p>" if notes is None else
              "<ul>" + "".join(f"<li>{html_text(n)}</li>" for n in notes) + "</ul>")
    page.add("Dataset", f"<p>Dataset <b>{html_text(run.info.get('dataset', 'unnamed'))}</b>.</p>", _pairs(summary),
             "<h3>Validation notes</h3>", listed)


def _settings_section(page: _Page, run: Run) -> None:
    info = {k: run.info[k] for k in ("tasks", "modalities", "split", "best_epoch", "epochs_run", "stopped_early",
                                     "edge_decoder_kept", "device") if k in run.info}
    versions = _run_file(run, "config.json").get("versions") or {"mtlgrn": __version__}
    page.add("Settings and versions", "<h3>Training settings</h3>", _pairs(run.config.to_dict()),
             "<h3>The run</h3>", _pairs(info), "<h3>Versions</h3>", _pairs(versions))


def _training_section(page: _Page, run: Run) -> None:
    page.add("Training", page.figure(history_figure(run.history, title="Training curves"),
                                     "Loss of each task (left) and the validation scores (right) by epoch."))


def _metrics_section(page: _Page, run: Run) -> None:
    scored = test_split_scores(run)
    thin = thin_reference_note(int(scored.labels.sum()))
    if thin:
        page.add("Edges on the test split", f"<p>{html_text(scored.description)}</p>",
                 f"<p>Edge figures are not shown: {html_text(thin)}</p>")
        return
    metrics = scored.metrics()
    curves = curve_points(scored)
    page.add("Edges on the test split, against the baselines",
             f"<p>{html_text(scored.description)}</p>", _table(metrics.reset_index()),
             page.figure(viz_evaluate.pr_figure(curves, metrics, scored.density, title="Precision-recall curves"),
                         "Precision against recall of every method on the test pairs."),
             page.figure(viz_evaluate.roc_figure(curves, metrics, title="ROC curves"),
                         "True positive rate against false positive rate on the test pairs."))


def _network_section(page: _Page, run: Run) -> None:
    edges = annotate_edges(score_edges(run, top=max(TOP_EDGES, NETWORK_EDGES)), run.prior,
                           expression=run.inputs.expression, genes=run.genes)
    analysis = analyse_network(edges.head(NETWORK_EDGES), run.tfs)
    drawn = top_subgraph(analysis.graph, max_edges=NETWORK_EDGES)
    shown = edges.head(TOP_EDGES)[[c for c in ("rank", "source", "target", "score", "in_prior", "sign")
                                   if c in edges]]
    page.add("Network", f"<h3>The {len(shown)} best-scored edges</h3>", _table(shown),
             f"<h3>Hubs of the {min(len(edges), NETWORK_EDGES)} best edges</h3>",
             _table(analysis.hubs.head(TOP_HUBS)),
             page.figure(network_figure(drawn, title=f"The {drawn.number_of_edges()} best edges"),
                         "Regulators and targets of the best-scored edges (the Network page's drawing)."))


def _knockout_section(page: _Page, run: Run, genes: tuple[str, ...], dose: float,
                      experiment: DETable | None = None) -> None:
    label = query_label(genes, dose)
    table = knockout_query(run, genes, dose)
    changed = table[~table["perturbed"]].head(TOP_CHANGED).copy()
    carriers = propagation(run, genes, dose)  # read by the paths column and the path figure alike
    paths = path_column(run, changed.assign(perturbed=False), genes, dose, top=PATHS_PER_GENE, parts=carriers)
    changed["paths"] = paths.replace("", "no path from the perturbed gene(s)")
    notes = "".join(f"<p class='note'>{html_text(n)}</p>" for n in table.attrs.get("warnings", []))
    parts = [f"<p>Prediction {html_text(table.attrs.get('source', ''))}.</p>", notes,
             page.figure(viz_knockout.changes_bar(table, title=f"Most changed genes after {label}"),
                         "Predicted change of the most changed genes (expression units)."),
             f"<h3>The {len(changed)} most changed genes, with the paths carrying their change</h3>",
             _table(changed[["gene", "baseline", "predicted", "delta", "log2fc", "paths"]]),
             f"<p>{html_text(PATHS_NOTE)}</p>"]
    explained = changed.loc[paths != "", "gene"]
    if len(explained):
        why = explain(run, genes, explained.iloc[0], dose, parts=carriers)
        fig = viz_knockout.paths_figure(why.paths, table.set_index("gene")["delta"],
                                        title=f"Why {why.gene} moves after {label}")
        parts.append(page.figure(fig, f"The paths carrying the change of {why.gene} (the most changed gene with a "
                                      f"path): {why.explained:.0%} of it."))
    if experiment is not None:
        parts += _experiment_parts(page, table, experiment, label)
    page.add(f"Knockout: {label}", *parts)


def _screen_section(page: _Page, screen: Screen) -> None:
    shown = [c for c in ("rank", "regulator", "measured", "score", "targets_moved", "pearson", "rank_low", "rank_high",
                         "stable", "path") if c in screen.hits.columns]
    notes = "".join(f"<p class='note'>{html_text(n)}</p>" for n in screen.notes)
    parts = [f"<p>Asked: {html_text(screen.question)}.</p>", notes,
             page.figure(viz_screen.hits_figure(screen.hits, screen.kind, top=TOP_HITS),
                         f"The {min(TOP_HITS, len(screen.hits))} best of {len(screen.hits)} regulators."),
             f"<h3>The {min(TOP_HITS, len(screen.hits))} best regulators</h3>",
             _table(screen.hits[shown].head(TOP_HITS))]
    if len(screen.pairs):
        parts += [f"<h3>Pairs of the best singles ({len(screen.pairs)}), largest synergy first</h3>",
                  "<p>synergy: the pair's score minus the score of its two singles' changes added up.</p>",
                  _table(screen.pairs.head(TOP_HITS))]
    genes = ", ".join(screen.genes[:50]) + (" ..." if len(screen.genes) > 50 else "")
    parts.append(f"<p>Genes {'targeted' if screen.kind == 'target' else 'compared'}: {html_text(genes)}</p>")
    page.add("Screen: " + ("which regulator moves the targets" if screen.kind == "target"
                           else "which regulator turns one group into the other"), *parts)


def _experiment_parts(page: _Page, table: pd.DataFrame, experiment: DETable, label: str) -> list[str]:
    """A knockout's prediction against the user's own experiment: what was compared, the figures, the scatter."""
    predicted, column = predicted_change(table)
    comparison = compare_prediction(predicted, experiment)
    notes = "".join(f"<p class='note'>{html_text(n)}</p>" for n in comparison.notes)
    fig = viz_knockout.experiment_scatter(comparison, predicted_label=PREDICTED_LABELS[column],
                                          title=f"{label}: predicted against {comparison.name}")
    return [f"<h3>Compared with your experiment: {html_text(comparison.name)}</h3>",
            f"<p>The {html_text(PREDICTED_LABELS[column])} ({column}) against the measured log2 fold change "
            f"('{html_text(experiment.columns['log2fc'])}').</p>", notes, _table(comparison.summary()),
            page.figure(fig, f"Predicted against measured change of the {comparison.n_genes:,} genes in both; "
                             f"named: the genes among the top {comparison.top} of both first.")]


def _document(run: Run, body: str, created: datetime, svg: bool) -> str:
    name = run.info.get("name") or (Path(run.path).name if run.path is not None else "run")
    svg_note = "" if svg else "<p class='note'>Figures are interactive only: SVG export needs Chromium.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>MTLGRN report: {html_text(name)}</title>
<style>{_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><h1>MTLGRN report: {html_text(name)}</h1>
<p class="date">Made {created.strftime('%Y-%m-%d %H:%M UTC')} with MTLGRN {html_text(__version__)}, from the run's own
files.</p>{svg_note}</header>
{body}
</body></html>
"""


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .note { color: #8a5a00; } .date { color: #666; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; } .svg { font-size: .85em; }
@page { size: A4; margin: 12mm; }
@media print { figure, tr { break-inside: avoid; } h2, h3 { break-after: avoid; } .svg, .modebar { display: none; } }
"""


def write_report(run: Run, out: str | Path, knockouts: Sequence[Knockout] = (), *, pdf: bool = False,
                 created: datetime | None = None, experiments: dict[Knockout, DETable] | None = None,
                 screens: Sequence[Screen] = ()) -> list[Path]:
    """Write the report to ``out`` (and, with ``pdf``, a PDF beside it through Chromium's print);
    ``experiments`` and ``screens`` as :func:`build_report`'s."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(run, knockouts, created=created, experiments=experiments, screens=screens),
                   encoding="utf-8")
    written = [out]
    if pdf:
        written.append(print_pdf(out, out.with_suffix(".pdf")))
    return written


def print_pdf(page: Path, out: Path, *, timeout: float = 120.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (the plots are drawn before printing)."""
    browser = chromium_path()
    if browser is None:
        raise DataValidationError("a PDF needs Chromium (install Debian's 'chromium' package; `make run` does it). "
                                  "The HTML report works without it.")
    with tempfile.TemporaryDirectory(prefix="mtlgrn-pdf-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                   "--no-pdf-header-footer", "--virtual-time-budget=15000", f"--print-to-pdf={out.resolve()}",
                   Path(page).resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not out.is_file():
        raise DataValidationError(f"Chromium could not print {page.name} to PDF: {done.stderr.strip()[-300:]}")
    return out
