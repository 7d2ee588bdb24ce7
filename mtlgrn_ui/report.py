"""The report buttons of the Train and Evaluate pages: one HTML file of a run with the knockouts queried in
this session (:mod:`mtlgrn_core.report.html_report`), and its PDF where Chromium is present."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from mtlgrn_core.report.html_report import build_report, print_pdf
from mtlgrn_core.runs.workspace import safe_name
from mtlgrn_core.viz.export import chromium_path

from . import resources
from .knockout import valid_history
from .page import friendly_errors
from .screen import finished_screen

REPORT = "report"  # session key: the last report made (run id, queries, html, pdf)


def report_section(run_id: str, key: str) -> None:
    """A button that makes the run's report (with this session's knockout queries) and its downloads."""
    run = resources.run(run_id)
    queries = tuple(valid_history(run))
    with_pdf = chromium_path() is not None and st.checkbox("Also as PDF", key=f"{key}_pdf", value=False,
                                                         help="Printed by Chromium from the same page.")
    asked = st.button("Make a report", key=f"{key}_make",
                      help="One HTML file that opens offline: the data, settings and versions, training curves, the "
                           "metrics against the baselines with their curves, the best edges, hubs and network, and "
                           f"the {len(queries)} knockout(s) predicted in this session with the paths that carry them, "
                           "and the run's last screen.")
    if asked:
        with friendly_errors("Making the report"), st.spinner("Making the report…"):
            st.session_state[REPORT] = _make(run, run_id, queries, with_pdf)
    made = st.session_state.get(REPORT)
    if not made or made["run_id"] != run_id:
        return
    stem = f"mtlgrn-report-{safe_name(run.info.get('name') or run_id, fallback='run')}"
    st.caption(f"Report made with {len(made['queries'])} knockout(s).")
    c1, c2 = st.columns(2)
    c1.download_button("Download the report (HTML)", made["html"], file_name=f"{stem}.html", mime="text/html",
                       key=f"{key}_html", on_click="ignore")
    if made["pdf"] is not None:
        c2.download_button("Download the report (PDF)", made["pdf"], file_name=f"{stem}.pdf",
                           mime="application/pdf", key=f"{key}_pdf_download", on_click="ignore")


def _make(run, run_id: str, queries: tuple, with_pdf: bool) -> dict:
    screen = finished_screen(run_id)
    html = build_report(run, queries, screens=[screen] if screen is not None else []).encode()
    pdf = None
    if with_pdf:
        with tempfile.TemporaryDirectory(prefix="mtlgrn-report-") as folder:
            page = Path(folder) / "report.html"
            page.write_bytes(html)
            pdf = print_pdf(page, Path(folder) / "report.pdf").read_bytes()
    return {"run_id": run_id, "queries": queries, "html": html, "pdf": pdf}
