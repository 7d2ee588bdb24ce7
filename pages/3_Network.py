"""Network: the ranked edge table, an interactive view of the network, hub genes, communities and exports."""

import streamlit as st

from mtlgrn_core.answers import analysis
from mtlgrn_core.runs.ensemble import MIN_STABILITY_TOP
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz.escape import csv_safe, markdown_text
from mtlgrn_core.viz.export import chromium_path, figure_bytes
from mtlgrn_core.viz.network import COLOR_BY, EDGE_COLOR_BY, MAX_NODES, network_figure
from mtlgrn_ui import resources
from mtlgrn_ui.groups import comparison_section
from mtlgrn_ui.network import (
    drawn,
    drawn_html,
    network,
    ranked_edges,
    run_truth,
    start_edge_scoring,
    truth_comparison,
)
from mtlgrn_ui.page import friendly_errors, require_run, setup_page

setup_page("Network")
MAX_NETWORK_EDGES = 10_000  # hub metrics and communities stay interactive up to this size
ANY_GENE = "(any gene)"
KNOWN_LABELS = {"all": "all edges", "known": "known only (in the prior)", "novel": "novel only (not in the prior)"}


# -- page ----------------------------------------------------------------------------------------------
st.title("Regulatory network")
run_id = require_run()
if not run_id:
    st.stop()

edges = None
with friendly_errors("Scoring the edges"):
    scoring = start_edge_scoring(run_id)
    if scoring is not None and scoring.status == FINISHED:
        edges = ranked_edges(run_id)
if edges is None:
    st.stop()
truth_present = "truth" in edges
ensemble = "stability" in edges
run = resources.run(run_id)
n_candidates = len(run.tfs) * (len(run.genes) - 1)
pairs = (f"{len(edges):,} candidate regulator → target pairs" if len(edges) >= n_candidates else
         f"the best {len(edges):,} of the {n_candidates:,} candidate regulator → target pairs")
if ensemble:
    loaded = resources.ensemble(run_id)
    members = len(loaded.members)
    best = edges.attrs.get("stability_top", len(edges))
    kind = "different seeds, each on its own resample of the samples" if loaded.bootstrap else "different seeds"
    st.caption(f"An ensemble of {members} runs (same data and settings, {kind}): {pairs} ranked by the members' "
               f"mean score. **stability**: the share of members that rank the pair among their best {best:,} (as "
               f"many as the known network has edges, at least {MIN_STABILITY_TOP}); **score spread**: the standard "
               "deviation of their scores.")
else:
    st.caption(f"{pairs[0].upper()}{pairs[1:]} ranked by the model's score (0-1: how likely the regulator "
               "controls the target). Choose which make up the network below.")

c1, c2, c3 = st.columns([1.2, 2, 1.6])
mode = c1.radio("Keep edges by", ["top", "score"], key="threshold_mode", horizontal=True,
                format_func={"top": "number (top k)", "score": "minimum score"}.get,
                help="Either the k best-scoring pairs, or every pair scoring at least a threshold.")
if mode == "top":
    top_max = min(len(edges), MAX_NETWORK_EDGES)
    top_k = c2.slider("Number of edges (top k)", 1, max(top_max, 2), min(500, top_max), key="top_k",
                      help="The k best-scoring regulator → target pairs.")
    min_score = None
else:
    top_k = MAX_NETWORK_EDGES
    min_score = c2.slider("Minimum score", 0.0, 1.0, 0.9, 0.01, key="min_score",
                          help=f"Pairs scoring at least this (at most the {MAX_NETWORK_EDGES:,} best are kept).")
known = c3.radio("Known or novel", list(KNOWN_LABELS), key="known_filter", format_func=KNOWN_LABELS.get,
                 help="Known edges are in the prior network the model was given; novel ones are predictions.")
min_stability = None
if ensemble:
    min_stability = st.slider("Minimum stability (hide unstable edges)", 0.0, 1.0, 0.0, 1 / members,
                              key="min_stability", format="%.2f",
                              help="Keep the edges at least this share of the ensemble's members rank among "
                                   "their best (1 = every member).")
key = (run_id, int(top_k) if top_k else None, min_score, known, min_stability)
result = None
with friendly_errors("Building the network"):
    result = network(*key)
if result is None:
    st.stop()
net_edges = result.edges
n_known = int(net_edges["in_prior"].sum())
st.caption(f"Network: {len(net_edges):,} edges ({n_known:,} known, {len(net_edges) - n_known:,} novel) between "
           f"{result.graph.number_of_nodes():,} genes.")

tab_table, tab_view, tab_hubs, tab_truth, tab_groups = st.tabs(["Edge table", "Network view",
                                                                "Hubs and communities", "Ground truth",
                                                                "Compare groups"])

with tab_table:
    s1, s2 = st.columns(2)
    search = s1.text_input("Search gene names", key="edge_search", placeholder="e.g. G001, G04",
                           help="Part of a regulator or target name; several words match any of them.")
    genes = [ANY_GENE, *sorted(result.graph.nodes)]
    gene = s2.selectbox("Edges of one gene", genes, key="edge_gene",
                        help="Only the edges where this gene is the regulator or the target.")
    shown = analysis.search_edges(net_edges, text=search, gene=None if gene == ANY_GENE else gene)
    st.caption(f"{len(shown):,} of {len(net_edges):,} network edges shown.")
    st.dataframe(analysis.readable_edges(shown), hide_index=True, key="edge_table", height=380,
                 column_config={
                     "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.3f",
                                                              help="Model score, 0-1."),
                     "known": st.column_config.CheckboxColumn("known", help="In the prior network."),
                     "correlation": st.column_config.NumberColumn(
                         "correlation", format="%.2f", help="Pearson correlation of the two genes' expression."),
                     "stability": st.column_config.NumberColumn(
                         "stability", format="%.2f", help="Share of the ensemble's members ranking this edge among "
                                                          "their best."),
                     "score spread": st.column_config.NumberColumn(
                         "score spread", format="%.3f", help="Standard deviation of the members' scores."),
                 })
    st.download_button("Download these edges (CSV)", lambda: csv_safe(shown).to_csv(index=False).encode(),
                       key="download_edges_csv",
                       file_name=f"edges-{run_id}.csv", mime="text/csv", on_click="ignore",
                       help="The edges listed above, with score, known flag, sign and its source.")

with tab_view:
    v1, v2, v3 = st.columns([1.3, 1.5, 1.5])
    view_mode = v1.radio("Show", ["top", "gene"], key="view_mode",
                         format_func={"top": "the best edges", "gene": "a gene's neighbourhood"}.get)
    centre, hops, max_edges = None, 1, 150
    if view_mode == "gene":
        centre = v2.selectbox("Gene", sorted(result.graph.nodes), key="view_gene",
                              help="Draw this gene and the genes linked to it.")
        hops = v3.slider("Steps away", 1, 3, 1, key="hops",
                         help="1: direct regulators and targets; 2-3: their partners too (either direction).")
    else:
        edge_cap = max(min(500, result.graph.number_of_edges()), 2)
        max_edges = v2.slider("Edges drawn", 1, edge_cap, min(150, edge_cap), key="draw_edges",
                              help=f"The best-scoring edges of the network (at most {MAX_NODES} genes are drawn "
                                   "so the view stays fluid).")
    w1, w2 = st.columns(2)
    color_by = w1.selectbox("Colour genes by", list(COLOR_BY), format_func=COLOR_BY.get, key="color_by",
                            help="Size always shows how many edges a gene has in the network.")
    edge_modes = list(EDGE_COLOR_BY) if truth_present else ["sign"]
    edge_color_by = w2.selectbox("Colour edges by", edge_modes, format_func=EDGE_COLOR_BY.get, key="edge_color_by",
                                 help="Ground-truth colours mark true / false positives and draw the true edges "
                                      "the network misses (dotted).")
    view_key = (centre, int(hops), int(max_edges))
    title = f"Neighbourhood of {centre} ({hops} step{'s' * (hops > 1)})" if centre else \
        f"Top {max_edges} edges of the network"
    with friendly_errors("Drawing the network"):
        if result.graph.number_of_edges() == 0:
            st.info("The network has no edge: lower the minimum score or choose more edges.")
        else:
            view, positions = drawn(key, view_key, edge_color_by == "truth")
            if view.graph.get("truncated"):
                st.caption(f"Only part is drawn (at most {MAX_NODES} genes, best-scoring edges first): draw fewer "
                           "edges or steps to see it whole.")
            st.iframe(drawn_html(key, view_key, color_by, edge_color_by, title), height=700)
            st.caption("Drag to pan, scroll to zoom, hover a gene or an edge for details.")
            d1, d2, d3, d4 = st.columns(4)
            d1.download_button("Network (GraphML)", lambda: analysis.graphml_bytes(result.graph),
                               file_name=f"network-{run_id}.graphml", mime="application/graphml+xml",
                               key="download_graphml", on_click="ignore",
                               help="The whole network with scores, signs and hub metrics; opens in Cytoscape.")
            d2.download_button("This view (HTML)", drawn_html(key, view_key, color_by, edge_color_by, title),
                               file_name=f"network-{run_id}.html", mime="text/html", key="download_html",
                               on_click="ignore", help="Interactive page that works offline.")
            if chromium_path():
                def static(fmt: str):
                    return lambda: figure_bytes(network_figure(view, positions, color_by=color_by,
                                                               edge_color_by=edge_color_by, title=title), fmt)
                d3.download_button("Figure (PNG)", static("png"), file_name=f"network-{run_id}.png",
                                   mime="image/png", key="download_png", on_click="ignore")
                d4.download_button("Figure (SVG)", static("svg"), file_name=f"network-{run_id}.svg",
                                   mime="image/svg+xml", key="download_svg", on_click="ignore")
            else:
                d3.caption("PNG/SVG export needs Chromium (Debian package 'chromium').")

with tab_hubs:
    st.markdown("**Hub genes** — out-degree: targets it regulates; in-degree: its regulators; betweenness: "
                "share of shortest regulatory paths through it; PageRank: regulatory influence.")
    st.dataframe(result.hubs, hide_index=True, key="hub_table", height=320,
                 column_config={"out_degree": st.column_config.NumberColumn("out-degree"),
                                "in_degree": st.column_config.NumberColumn("in-degree"),
                                "betweenness": st.column_config.NumberColumn(format="%.4f"),
                                "pagerank": st.column_config.NumberColumn("PageRank", format="%.4f")})
    st.download_button("Download hub table (CSV)", lambda: csv_safe(result.hubs).to_csv(index=False).encode(),
                       key="download_hubs",
                       file_name=f"hubs-{run_id}.csv", mime="text/csv", on_click="ignore")
    st.markdown("**Communities** — groups of genes more linked to each other than to the rest (modularity on the "
                "network without directions: greedy, or Louvain above 1,000 genes; the same result every time).")
    st.dataframe(result.communities, hide_index=True, key="community_table")

with tab_truth:
    truth = run_truth(run_id)
    if resources.stored_dataset_id(run_id) is None:
        st.info("The dataset this run was trained on is no longer in the workspace, so its ground truth cannot be "
                "used to mark true and false positives.")
    elif truth is None:
        st.info("This run's dataset has no ground truth (truth.csv), so true and false positives cannot be marked. "
                "Simulated data and the DREAM4 benchmark sets have one.")
    else:
        comparison = truth_comparison(key)
        m1, m2, m3, m4, m5 = st.columns(5)
        m1.metric("True positives", f"{len(comparison.true_positives):,}", help="Network edges in the truth.")
        m2.metric("False positives", f"{len(comparison.false_positives):,}", help="Network edges not in the truth.")
        m3.metric("Missed", f"{len(comparison.missed):,}", help="Truth edges not in the network.")
        m4.metric("Precision", f"{comparison.precision:.2f}", help="Share of network edges that are true.")
        m5.metric("Recall", f"{comparison.recall:.2f}", help="Share of true edges the network contains.")
        for note in comparison.notes:
            st.caption(markdown_text(note))
        st.markdown("**True edges the network misses**")
        st.dataframe(comparison.missed, hide_index=True, key="missed_table", height=260)
        st.download_button("Download missed edges (CSV)", csv_safe(comparison.missed).to_csv(index=False).encode(),
                           key="download_missed", file_name=f"missed-{run_id}.csv", mime="text/csv",
                           on_click="ignore")

with tab_groups:
    with friendly_errors("Comparing the groups"):
        comparison_section(run_id)
