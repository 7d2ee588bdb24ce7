"""Knockout: predict what every gene does when one or several genes are knocked out, knocked down or
overexpressed; compare queries, look at the network around the perturbed genes and at measured knockouts, and
check a prediction against the user's own experiment (a differential-expression table)."""

import streamlit as st

from mtlgrn_core.answers.contexts import context_options
from mtlgrn_core.answers.infer import prediction_source
from mtlgrn_core.evaluation.de_comparison import PREDICTED_LABELS, plain_number
from mtlgrn_core.runs import knockout_queries
from mtlgrn_core.runs.ensemble import spread_meaning
from mtlgrn_core.runs.workspace import safe_name
from mtlgrn_core.viz import knockout as viz
from mtlgrn_core.viz.escape import csv_safe
from mtlgrn_ui import resources, state
from mtlgrn_ui.data_loading import figure_downloads, plain
from mtlgrn_ui.knockout import (
    MAX_GENES,
    comparison,
    experiment,
    explanation,
    keep_experiment,
    measured,
    neighbourhood,
    prediction,
    remember,
    result_figures,
    stem,
    valid_history,
)
from mtlgrn_ui.page import friendly_errors, require_run, setup_page
from mtlgrn_ui.screen import screen_section

setup_page("Knockout")


# -- page ------------------------------------------------------------------------------------------------
st.title("Knockout predictions")
run_id = require_run()
if not run_id:
    st.stop()
run = resources.run(run_id)
st.caption("Pick one or several genes and a dose; the model predicts the new expression level of every gene "
           "(change = predicted − baseline, in the units of your expression data"
           + (" after the log transform applied on loading" if run.info.get("log_transformed") else "")
           + "; baseline = mean of the control samples, or of the context's samples when you choose one).")
st.info(f"Predictions {prediction_source(run)}.")
ensemble = resources.ensemble(run_id)
if ensemble is not None:
    st.caption(f"An ensemble of {len(ensemble.members)} runs: each change is the members' mean; error bars span the "
               "central 95 % of their predictions; a change whose range holds 0 is marked uncertain (hatched bar, "
               f"open circle). The spread: {spread_meaning(ensemble)}.")

tab_predict, tab_screen = st.tabs(["Predict a perturbation", "Screen every regulator"])
with tab_screen:  # drawn first: the prediction below stops the page until a query is made
    screen_section(run_id, run, ensemble)

with tab_predict:
    lo, hi = run.inputs.dose_range
    c1, c2 = st.columns([3, 2])
    not_measured = run.regulators_not_measured()
    genes = c1.multiselect("Genes to perturb", [*run.genes, *not_measured], key="ko_genes", max_selections=MAX_GENES,
                           placeholder="Type a gene name…",
                           format_func=lambda g: f"{g} (not measured)" if g not in run.gene_index else g,
                           help=f"Search by typing. Up to {MAX_GENES} genes are perturbed together (e.g. a double "
                                "knockout)." + (f" The {len(not_measured):,} regulators marked *not measured* are "
                                                "named by the prior but absent from the expression: their change "
                                                "starts at their targets." if not_measured else ""))
    dose = c2.slider("Dose (remaining level of the perturbed genes)", 0.0, 2.0, 0.0, 0.05, key="ko_dose",
                     help="0 = knockout, 0.5 = knockdown to half, 1 = unperturbed, 2 = overexpressed twofold.")
    c2.caption("0 knockout · 1 unchanged · above 1 overexpression. " + (
        f"Training saw doses {lo:g}–{hi:g}; outside that the prediction is an extrapolation."
        if "knockout" in run.tasks
        else "The linear response scales with the dose: a knockdown to half moves every gene half as far."))
    contexts = context_options(run)
    context = None
    if contexts:
        default_context = "the control samples (default)"
        chosen = c1.selectbox("Context", [default_context, *contexts], key="ko_context",
                              help="The cells or condition the knockout happens in: the perturbed genes lose their "
                                   "level there, and every change is added to those samples' mean expression (a TF "
                                   "acts where it is expressed). Applies to the numbers above the tabs, the first tab "
                                   "and the volcano plot; the other tabs predict from the control samples.")
        context = None if chosen == default_context else chosen
    b1, b2 = st.columns([1, 4])
    if b1.button("Predict", key="ko_run", type="primary", help="Predict the effect on every gene."):
        if genes:
            remember(tuple(genes), dose)
        else:
            st.warning("Choose at least one gene to perturb.")
    history = valid_history(run)
    if history and b2.button("Clear comparison history", key="ko_clear",
                             help="Forget this session's earlier queries (the heatmap starts afresh)."):
        state.put(state.KO_HISTORY, [])
        st.rerun()
    if not history:
        st.info("Choose genes and a dose, then press **Predict**.")
        st.stop()

    genes_q, dose_q = history[-1]
    label = knockout_queries.query_label(genes_q, dose_q)
    table = None
    with friendly_errors("Predicting the knockout"):
        table = prediction(run_id, genes_q, dose_q, context)
    if table is None:
        st.stop()
    st.subheader(f"Predicted effect: {plain(label)}")
    if table.attrs.get("context"):
        st.caption(plain(f"Predicted {table.attrs['context']}: the baseline is their mean expression."))
    for note in table.attrs.get("warnings", []):
        st.warning(plain(note))
    if table.attrs.get("not_measured"):
        st.info(plain(f"Prediction {table.attrs['source']}."))
    if table.attrs.get("evidence"):
        st.caption("**How far to trust it.** " + plain(table.attrs["evidence"]))
    others = table.loc[~table["perturbed"]]
    m1, m2, m3 = st.columns(3)
    m1.metric("Genes up by more than 1 SD", int((others["z"] > 1).sum()),
              help="Predicted increase larger than the gene's standard deviation across all samples.")
    m2.metric("Genes down by more than 1 SD", int((others["z"] < -1).sum()))
    if len(others):
        top_gene = others.iloc[0]
        m3.metric("Most changed gene", plain(top_gene["gene"]), f"{top_gene['delta']:+.3g}",
                  help="Largest predicted change among the genes not perturbed.")

    tab_bar, tab_why, tab_volcano, tab_compare, tab_network, tab_measured = st.tabs(
        ["Most changed genes", "Why a gene moves", "Volcano plot", "Compare knockouts", "Network around",
         "Measured vs predicted"])

    with tab_bar:
        top = st.slider("Genes shown", 5, 100, 25, 5, key="ko_top", help="How many of the most changed genes to draw.")
        figures = result_figures(run_id, genes_q, dose_q, int(top), context)
        st.plotly_chart(figures["bar"], key="ko_bar")
        figure_downloads(figures["bar"], stem(genes_q, dose_q) + "-bars", "ko_bar_dl")
        st.dataframe(table, hide_index=True, key="ko_table", height=360, column_config={
            "baseline": st.column_config.NumberColumn(
                "baseline", format="%.4g",
                help="Mean of the context's samples." if table.attrs.get("context")
                else "Mean of the control samples."),
            "predicted": st.column_config.NumberColumn("predicted", format="%.4g"),
            "delta": st.column_config.NumberColumn("change", format="%+.4g", help="Predicted − baseline."),
            "log2fc": st.column_config.NumberColumn("log2 fold change", format="%+.3f"),
            "z": st.column_config.NumberColumn(
                "change in SDs", format="%+.2f",
                help="Change divided by the gene's standard deviation over all samples."),
            "perturbed": st.column_config.CheckboxColumn("perturbed", help="Set by the dose, not predicted."),
            "range_low": st.column_config.NumberColumn(
                "range from", format="%+.4g", help="Where the changes of the run's measured perturbations fell around "
                                                   "this prediction: the central 95 %, low end."),
            "range_high": st.column_config.NumberColumn("range to", format="%+.4g", help="… high end."),
            "delta_sd": st.column_config.NumberColumn("spread", format="%.3g",
                                                      help="Standard deviation of the ensemble members' changes."),
            "delta_low": st.column_config.NumberColumn("low (95 %)", format="%+.4g"),
            "delta_high": st.column_config.NumberColumn("high (95 %)", format="%+.4g"),
            "uncertain": st.column_config.CheckboxColumn("uncertain", help="The members' central 95 % holds 0."),
            "z_low": None, "z_high": None,
        })
        st.download_button("Download the table (CSV)", lambda: knockout_queries.table_csv(csv_safe(table)),
                           file_name=f"{stem(genes_q, dose_q)}.csv", mime="text/csv", key="ko_csv", on_click="ignore",
                           help="Every gene with its predicted change.")

    with tab_why:
        responding = others["gene"].tolist()
        w1, w2 = st.columns([3, 2])
        target = w1.selectbox("Responding gene", responding, key="ko_why_gene", placeholder="Type a gene name…",
                              help="Any gene not perturbed; the most changed first.") if responding else None
        n_paths = w2.slider("Paths shown", 1, 15, 5, key="ko_why_paths",
                            help="The regulatory paths from the perturbed gene(s) that carry most of its change.")
        unmeasured = [g for g in genes_q if g not in run.gene_index]
        if unmeasured:
            st.info(f"{plain(', '.join(unmeasured))}: not measured by this run, so no path starts there. The change "
                    "starts at its targets in the prior (a loss moves each against the edge's sign, an overexpression "
                    "with it); knock out one of those targets to trace how a change carries on.")
        elif target is not None:
            why = fig_paths = None
            with friendly_errors("Explaining the change"):
                why, fig_paths = explanation(run_id, genes_q, dose_q, target, int(n_paths))
            if why is not None:
                member = " (paths of the ensemble's first member)" if ensemble is not None else ""
                st.caption("Read from the model's own propagation: each path from a perturbed gene carries its change "
                           "times the strength of every edge along it (the linear responses to the regulators, and, "
                           "where the run learned from perturbations, the knockout head's edge strengths). Edge sign "
                           "+: the target rises with its regulator; −: it falls." + member)
                if why.note:
                    st.info(plain(why.note))
                if len(why.paths):
                    st.metric(f"Share of {plain(target)}'s change the paths carry", f"{why.explained:.0%}",
                              help="Sum of the listed paths' contributions divided by the predicted change (the rest: "
                                   "see the parts below). Above 100 % when other parts pull the other way.")
                    st.plotly_chart(fig_paths, key="ko_why_chart")
                    figure_downloads(fig_paths, stem(genes_q, dose_q) + f"-paths-{target}", "ko_why_dl")
                    st.dataframe(why.paths.drop(columns="genes"), hide_index=True, key="ko_why_table", column_config={
                        "path": st.column_config.TextColumn("path"),
                        "edge_signs": st.column_config.TextColumn("edge signs", help="+ rises / − falls with its "
                                                                                     "regulator, edge by edge."),
                        "contribution": st.column_config.NumberColumn("contribution", format="%+.4g",
                                                                      help="Change this path carries (expression "
                                                                           "units)."),
                        "share": st.column_config.NumberColumn("share", format="percent",
                                                               help="Contribution / predicted change."),
                    })
                st.caption("Parts of the predicted change " + f"({why.change:+.4g}):")
                st.dataframe(why.terms.rename("change").to_frame(), key="ko_why_terms",
                             column_config={"change": st.column_config.NumberColumn("change", format="%+.4g")})

    with tab_volcano:
        st.caption("x: log2 fold change (predicted / baseline). " + viz.Y_HELP + " Red: up, blue: down, black ×: "
                   "the perturbed gene(s).")
        st.plotly_chart(figures["volcano"], key="ko_volcano")
        figure_downloads(figures["volcano"], stem(genes_q, dose_q) + "-volcano", "ko_volcano_dl")

    with tab_compare:
        if len(history) < 2:
            st.info("Predict a second knockout (other genes or another dose) to compare them side by side here.")
        else:
            matrix, heatmap = comparison(run_id, tuple(history))
            st.caption(f"The {len(matrix)} genes changed most by any of this session's last {len(history)} queries "
                       "(perturbed genes left out). Blue: down, red: up, in expression units.")
            st.plotly_chart(heatmap, key="ko_heatmap")
            figure_downloads(heatmap, "knockout-comparison", "ko_heatmap_dl")
            st.download_button("Download the comparison (CSV)", lambda: csv_safe(matrix).to_csv().encode(),
                               key="ko_compare_csv",
                               file_name="knockout-comparison.csv", mime="text/csv", on_click="ignore")

    with tab_network:
        n1, n2 = st.columns(2)
        max_targets = n1.slider("Targets per perturbed gene", 5, 60, 25, 5, key="ko_targets",
                                help="Known targets (prior network) first, then predicted targets; the most changed "
                                     "are kept.")
        min_score = n2.slider("Minimum score of a predicted target", 0.05, 0.95, 0.5, 0.05, key="ko_min_score",
                              help="A gene counts as a predicted target when the model scores the regulator → gene "
                                   "edge at least this (0-1).")
        by_effect = st.toggle("Colour edges by the change they carry", key="ko_by_effect",
                              help="Red: the edge delivers a rise to its target, blue: a fall; the wider, the larger "
                                   "(from the model's propagation). Grey dashed: an edge that carries nothing (a "
                                   "predicted edge is not part of the propagation).")
        with friendly_errors("Drawing the network around the perturbed genes"):
            nodes, edges, network_fig = neighbourhood(run_id, genes_q, dose_q, int(max_targets), round(min_score, 2),
                                                      by_effect)
            if network_fig is None:
                st.info(f"{plain(', '.join(genes_q))} has no known target and no predicted target scoring "
                        f"{min_score:.2f} or more (a gene that is not a regulator changes others only through the "
                        "network).")
            else:
                st.caption("Black diamonds: perturbed genes. Lines go from a perturbed gene to its targets: " + (
                    "colour and width = the change each edge delivers to its target (red a rise, blue a fall)."
                    if by_effect else "solid = known in the prior network, dashed = predicted by the model.")
                    + " Genes: predicted change (blue down, red up).")
                st.plotly_chart(network_fig, key="ko_network")
                figure_downloads(network_fig, stem(genes_q, dose_q) + "-network", "ko_network_dl")

    with tab_measured:
        dataset_id = resources.stored_dataset_id(run_id)
        if dataset_id is None:
            st.info("The dataset this run was trained on is no longer in the workspace, so measured knockouts cannot "
                    "be looked up.")
        else:
            found = None
            with friendly_errors("Comparing with the measured knockout"):
                found = measured(run_id, dataset_id, genes_q, dose_q)
                if found is None and unmeasured:
                    st.info(f"{plain(', '.join(unmeasured))}: not measured in the expression, so a measured knockout "
                            "of it cannot be compared gene by gene here.")
                elif found is None:
                    st.info(f"The dataset has no measured sample of {plain(label)} (a sample-sheet row perturbing "
                            f"exactly {plain('+'.join(genes_q))} at dose {dose_q:g}).")
            if found is not None:
                sample, seen, frame, metrics, scatter = found
                if seen:
                    st.warning("The model was trained on this measured knockout, so this shows how well it fits its "
                               "training data, not how well it predicts an unseen knockout (for that, see the "
                               "cross-validation on the Evaluate page).")
                k1, k2, k3 = st.columns(3)
                k1.metric("Pearson r, all genes", f"{metrics['pearson_all']:.2f}",
                          help="Correlation of predicted and measured change over every gene not perturbed.")
                k2.metric("Pearson r, top-20 changed", f"{metrics['pearson_top']:.2f}",
                          help="Over the 20 genes that change most in the measurement.")
                k3.metric("Right direction, top-20", f"{metrics['sign_acc_top']:.0%}",
                          help="Share of the 20 most changed genes whose predicted direction (up/down) is right.")
                st.caption(f"Measured: mean of {len(sample.samples)} sample(s) minus the control baseline.")
                st.plotly_chart(scatter, key="ko_measured")
                figure_downloads(scatter, stem(genes_q, dose_q) + "-measured", "ko_measured_dl")

    with st.expander("Compare with your experiment", expanded=state.get(state.KO_EXPERIMENT) is not None):
        st.caption(f"Upload the differential-expression table of your own knockout or knockdown of "
                   f"{plain('+'.join(genes_q))}: a gene column (symbols or Ensembl ids) and a log2 fold change, "
                   "optionally an adjusted p-value, as DESeq2, edgeR, limma or scanpy export it (CSV or TSV, "
                   "optionally gzipped). Its genes are matched to the run's, ignoring case and version suffixes; "
                   "several rows of one gene (e.g. probes) are averaged.")
        upload = st.file_uploader("Differential-expression table", type=["csv", "tsv", "txt", "tab", "gz"],
                                  key="ko_de_upload", on_change=keep_experiment, args=("ko_de_upload",),
                                  help="Columns are recognised by name: gene / symbol / names / ID, log2FoldChange / "
                                       "logFC / logfoldchanges, padj / FDR / adj.P.Val / pvals_adj. Rename a column to "
                                       "'gene' or 'log2fc' if it is not found.")
        kept = state.get(state.KO_EXPERIMENT)
        if kept is not None and upload is None:
            st.caption(f"Comparing with {plain(kept[0])}, uploaded earlier in this session.")
            if st.button("Forget this table", key="ko_de_forget"):
                state.put(state.KO_EXPERIMENT, None)
                st.rerun()
        found = None
        if kept is not None:
            with friendly_errors("Comparing with your experiment"):
                found = experiment(run_id, genes_q, dose_q, *kept)
        if found is not None:
            result, column, scatter = found
            st.caption(f"Compared: the {PREDICTED_LABELS[column]} ({column}) of every gene not perturbed with the "
                       f"measured '{plain(result.name)}' log2 fold change, over the {result.n_genes:,} genes in both.")
            for note in result.notes:
                st.caption(plain(note))
            e1, e2, e3, e4 = st.columns(4)
            e1.metric("Pearson r", plain_number(result.pearson),
                      help="Linear agreement of predicted and measured change (1 perfect, 0 none, -1 opposite).")
            e2.metric("Spearman rho", plain_number(result.spearman), help="Agreement of the genes' ranks.")
            e3.metric("Right direction", plain_number(result.sign_agreement, "{:.0%}"),
                      help="Share of the genes predicted to move in the measured direction (0.5 is chance).")
            e4.metric(f"Top-{result.top} overlap", result.overlap,
                      help=f"Genes among both the {result.top} most changed predicted and measured; by chance "
                           f"{result.overlap_expected:.1f} (p = {result.overlap_p:.2g}).")
            st.dataframe(result.summary(), hide_index=True, key="ko_de_summary")
            st.plotly_chart(scatter, key="ko_de_chart")
            figure_downloads(scatter, stem(genes_q, dose_q) + "-experiment", "ko_de_dl")
            matched_name = f"{stem(genes_q, dose_q)}-vs-{safe_name(result.name.split('.')[0], fallback='de')}.csv"
            st.download_button("Download the matched genes (CSV)",
                               lambda: csv_safe(result.table).to_csv(index=False).encode(), key="ko_de_csv",
                               file_name=matched_name, mime="text/csv", on_click="ignore",
                               help="gene, predicted, measured, adjusted p.")
