"""The Knockout page's Screen tab: which regulator would move my genes, which would turn one group of samples into
another (:mod:`mtlgrn_core.answers.screens`), run in the background with a progress bar and Stop; the last finished
screen of a run stays (for every session) until the next one replaces it."""

from __future__ import annotations

import streamlit as st

from mtlgrn_core.answers import screens
from mtlgrn_core.answers.contexts import context_options
from mtlgrn_core.answers.screen_scores import DEFAULT_PAIRS, MAX_PAIRS, MOVED, STABLE_TOP, read_gene_set
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz import screen as viz
from mtlgrn_core.viz.escape import csv_safe

from .background import task_state, tasks
from .data_loading import figure_downloads, plain
from .page import friendly_errors

KIND = "screen"  # background task kind, owned by the run
TARGETS, STATE = "Move my genes", "Turn one group into another"
GENE_SET_TYPES = ["txt", "csv", "tsv", "gmt", "grp"]


def finished_screen(run_id: str) -> screens.Screen | None:
    """The run's last finished screen (what the report includes), or None."""
    task = tasks().get((run_id, KIND))
    snap = task.snapshot() if task is not None else None
    return snap.result if snap is not None and snap.status == FINISHED else None


def screen_section(run_id: str, run, ensemble) -> None:
    st.markdown("**Screen every regulator**: each candidate regulator (the run's regulators and those its prior "
                "names without measuring them) is perturbed alone at the dose you choose, all together, and ranked "
                "by how well it answers your question; then the best are tried in pairs, beside the sum of their "
                "two singles (synergy = the pair minus that sum).")
    kind = st.radio("Question", [TARGETS, STATE], key="sc_kind", horizontal=True,
                    help="Move my genes: lower or raise chosen target genes. Turn one group into another: match the "
                         "difference between two groups of samples (e.g. disease toward healthy).")
    left, right = st.columns([3, 2])
    dose = right.slider("Dose of every candidate", 0.0, 2.0, 0.0, 0.05, key="sc_dose",
                        help="0 = knockout, 0.5 = knockdown to half, 2 = overexpressed twofold (1 perturbs nothing).")
    pairs = right.number_input("Best singles tried in pairs", 0, MAX_PAIRS, DEFAULT_PAIRS, 1, key="sc_pairs",
                               help="The best K singles are perturbed two at a time (K = 10: 45 pairs); 0: none.")
    if kind == TARGETS:
        start = _target_inputs(run_id, run, ensemble, left, right, dose, int(pairs))
    else:
        start = _state_inputs(run_id, run, ensemble, left, dose, int(pairs))
    if start is not None and st.button("Run the screen", key="sc_run", type="primary",
                                       help="Runs in the background; you can use the other tabs meanwhile."):
        with friendly_errors("Checking the screen"):
            start()
            st.rerun()
    snap = task_state(run_id, KIND, slot="sc_stop")
    if snap is not None and snap.status == FINISHED:
        _show(snap.result, run_id, snap.elapsed)


def _target_inputs(run_id: str, run, ensemble, left, right, dose: float, pairs: int):
    picked = left.multiselect("Target genes", list(run.genes), key="sc_targets", placeholder="Type a gene name…",
                              help="The genes you want to move; add more by pasting or with a gene set file.")
    pasted = left.text_area("…or paste gene names", key="sc_paste", height=68,
                            help="Separated by commas, spaces or lines.")
    upload = left.file_uploader("…or a gene set file", type=GENE_SET_TYPES, key="sc_file",
                                help="Gene names separated by commas, tabs or lines (# comments), or a GMT line "
                                     "(name, description, genes).")
    direction = right.radio("The targets should go", ["down", "up"], key="sc_direction", horizontal=True)
    contexts = context_options(run)
    context = None
    if contexts:
        default = "the control samples (default)"
        chosen = right.selectbox("Context", [default, *contexts], key="sc_context",
                                 help="The samples the perturbations happen in: each regulator loses its level there.")
        context = None if chosen == default else chosen

    def start() -> None:
        names = [*picked, *read_gene_set(pasted or "")]
        if upload is not None:
            try:
                names += read_gene_set(upload.getvalue().decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                raise DataValidationError(f"{upload.name} is not a text file of gene names ({exc.reason} at byte "
                                          f"{exc.start}). Save it as plain text (UTF-8) and upload it again.") from exc
        targets = screens.parse_targets(run, names)
        screens.check_dose(dose)
        members = ensemble.members if ensemble is not None else run

        def work(on_step, stop):
            return screens.target_screen(members, targets, direction, dose=dose, pairs=pairs, context=context,
                                         progress=on_step, stop=stop)
        tasks().start((run_id, KIND), f"Screen for {len(targets)} target(s)", work, params={"kind": "target"})
    return start


def _state_inputs(run_id: str, run, ensemble, left, dose: float, pairs: int):
    columns = _group_columns(run)
    if not columns:
        st.info("A state screen compares two groups of samples, at least 3 samples each: it needs sample information "
                "with such a column (a sample_info.csv column such as condition, or a single-cell file's obs column "
                "such as cell_type), and this run has none.")
        return None
    column = left.selectbox("Sample column", columns, key="sc_column")
    choices = screens.group_choices(run, column)
    source = left.selectbox("From (the samples to change)", choices, key="sc_from")
    target = left.selectbox("Toward", [c for c in choices if c != source], key="sc_to")
    n_genes = left.number_input("Genes compared", 10, 5000, screens.STATE_GENES, 10, key="sc_genes",
                                help="The genes whose group means differ most (in units of each gene's spread).")

    def start() -> None:
        screens.check_dose(dose)
        for group in (source, target):
            screens.group_columns(run, group)
        members = ensemble.members if ensemble is not None else run

        def work(on_step, stop):
            return screens.state_screen(members, source, target, dose=dose, pairs=pairs, n_genes=int(n_genes),
                                        progress=on_step, stop=stop)
        tasks().start((run_id, KIND), f"Screen from {source} toward {target}", work, params={"kind": "state"})
    return start


def _group_columns(run) -> list[str]:
    """The sample columns with at least two groups of enough samples."""
    if run.sample_info is None:
        return []
    usable = []
    for column in run.sample_info.columns:
        try:
            screens.group_choices(run, column)
        except DataValidationError:
            continue
        usable.append(column)
    return usable


def _show(screen: screens.Screen, run_id: str, seconds: float) -> None:
    st.caption(plain(f"Asked: {screen.question}. {len(screen.hits):,} candidates ranked in {seconds:.0f} s."))
    for note in screen.notes:
        st.warning(plain(note))
    best = screen.hits.iloc[0]
    st.metric("Best regulator", plain(best["regulator"]), f"score {best['score']:+.3g}", delta_color="off",
              help="Rank 1 of the screen below.")
    title = "Best regulators to move the targets" if screen.kind == "target" else "Best regulators toward the group"
    fig = viz.hits_figure(screen.hits, screen.kind, title=title)
    st.plotly_chart(fig, key="sc_chart")
    figure_downloads(fig, f"screen-{run_id}", "sc_chart_dl")
    columns = {"score": st.column_config.NumberColumn("score", format="%.3f", help=viz.SCORE_LABELS[screen.kind]),
               "targets_moved": st.column_config.NumberColumn(
                   "targets moved", help=f"Targets moved the wanted way by at least {MOVED:g} of their spread "
                                         f"(of {len(screen.genes)})."),
               "measured": st.column_config.CheckboxColumn("measured", help="Whether the run measures the "
                                                           "regulator; if not, its change starts at its targets."),
               "path": st.column_config.TextColumn("path", help="For the best hits: the path carrying most of the "
                                                                "change of the target it moves most."),
               "stable": st.column_config.ProgressColumn(
                   "stable", min_value=0.0, max_value=1.0, format="%.2f",
                   help=f"Share of the ensemble's members that rank it in their top {STABLE_TOP}.")}
    st.dataframe(screen.hits.head(500), hide_index=True, key="sc_hits", column_config=columns)
    st.download_button("Download every candidate (CSV)", csv_safe(screen.hits).to_csv(index=False).encode(),
                       file_name=f"screen-{run_id}.csv", mime="text/csv", key="sc_csv", on_click="ignore")
    if len(screen.pairs):
        st.markdown("**Pairs of the best singles**, largest synergy first (the pair's score minus the score of its "
                    "two singles' changes added up; positive: they do more together).")
        st.dataframe(screen.pairs, hide_index=True, key="sc_pairs_table")
        pairs_fig = viz.pairs_figure(screen.pairs, screen.kind)
        st.plotly_chart(pairs_fig, key="sc_pairs_chart")
        st.download_button("Download the pairs (CSV)", csv_safe(screen.pairs).to_csv(index=False).encode(),
                           file_name=f"screen-{run_id}-pairs.csv", mime="text/csv", key="sc_pairs_csv",
                           on_click="ignore")
    st.caption("Genes " + ("targeted" if screen.kind == "target" else "compared") + ": "
               + plain(", ".join(screen.genes[:50])) + (" …" if len(screen.genes) > 50 else ""))

