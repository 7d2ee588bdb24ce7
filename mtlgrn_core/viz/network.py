"""Network drawings: an interactive pyvis (vis-network) page and a static plotly figure with the same layout.

Both read the node and edge attributes set by :mod:`mtlgrn_core.answers.analysis`. The interactive page inlines its
JavaScript (works offline), places nodes at positions computed once by :func:`layout` (seeded) and draws with
physics off, so it opens instantly and never moves by itself. Gene names come from user files: the page
carries them only inside JSON that escapes ``<``, ``>``, ``&`` and ``'``, vis-network draws labels on a canvas
and shows tooltips as plain text (``innerText``; the template's HTML tooltip option stays off), and the static
figure and the legend escape them (:mod:`mtlgrn_core.viz.escape`).
"""

from __future__ import annotations

import json
import math
import re

import networkx as nx
import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from pyvis.network import Network

from mtlgrn_core.answers.analysis import FP, MISSED, TP, cap_nodes
from mtlgrn_core.viz.escape import html_text, plotly_text

MAX_NODES = 300
ROLE_COLOURS = {"TF": "#7b4fa3", "target": "#8fbcdb"}
SIGN_COLOURS = {1: "#2e8b57", -1: "#d62728", 0: "#9a9a9a"}
SIGN_NAMES = {1: "activation", -1: "repression", 0: "sign unknown"}
TRUTH_COLOURS = {TP: "#1a9850", FP: "#f46d43", MISSED: "#5e3c99"}
COLOR_BY = {"role": "role (regulator / target)", "out_degree": "out-degree (targets regulated)",
            "betweenness": "betweenness", "pagerank": "PageRank (regulatory influence)", "community": "community"}
EDGE_COLOR_BY = {"sign": "sign (activation / repression)", "truth": "ground truth (true / false / missed)"}
NOVEL_DASHES, MISSED_DASHES = [8, 5], [2, 6]
_EXTERNAL_TAG = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^>]*>"
                           r"(?:\s*</script>)?", re.IGNORECASE | re.DOTALL)
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>")
_DEAD_COMMENT = re.compile(r"<!--\s*<link[^>]*node_modules.*?-->", re.DOTALL)  # pyvis template leftovers


# Drawn inside a hidden tab, the network is laid out in a 0-pixel box; fit it once it gets a real size.
_REFIT_SCRIPT = """<script>
(function () {
  var box = document.getElementById("mynetwork"), lastWidth = box.clientWidth;
  function refit() {
    var width = box.clientWidth;
    if (typeof network !== "undefined" && network && lastWidth < 50 && width >= 50) { network.redraw(); network.fit(); }
    lastWidth = width;
  }
  window.addEventListener("resize", refit);
  if (window.ResizeObserver) { new ResizeObserver(refit).observe(box); }
})();
</script>
"""


# -- layout and styles (shared by both drawings) -------------------------------------------------------
def layout(graph: nx.DiGraph, *, seed: int = 0, scale: float | None = None) -> dict[str, tuple[float, float]]:
    """Seeded spring layout in screen units (y grows downwards), computed once per drawn graph."""
    if graph.number_of_nodes() == 0:
        return {}
    undirected = nx.Graph()
    undirected.add_nodes_from(sorted(graph.nodes))
    undirected.add_edges_from(sorted((u, v) for u, v in graph.edges if u != v))
    n = undirected.number_of_nodes()
    positions = nx.spring_layout(undirected, seed=seed, k=1.6 / math.sqrt(n), iterations=80)
    scale = scale or 90.0 * math.sqrt(n)
    return {node: (float(x) * scale, float(-y) * scale) for node, (x, y) in positions.items()}


def _node_colours(graph: nx.DiGraph, color_by: str) -> dict[str, str]:
    nodes = list(graph.nodes)
    if color_by == "community":
        palette = qualitative.Pastel + qualitative.Set3
        return {g: palette[(int(graph.nodes[g].get("community", 1)) - 1) % len(palette)] for g in nodes}
    if color_by in ("out_degree", "betweenness", "pagerank"):
        values = np.array([_node_value(graph, g, color_by) for g in nodes], dtype=float)
        span = values.max() - values.min() if len(values) else 0.0
        scaled = (values - values.min()) / span if span > 0 else np.zeros(len(values))
        return dict(zip(nodes, sample_colorscale("Viridis", list(scaled)))) if nodes else {}
    return {g: ROLE_COLOURS.get(graph.nodes[g].get("role"), ROLE_COLOURS["target"]) for g in nodes}


def _node_value(graph: nx.DiGraph, node: str, metric: str) -> float:
    data = graph.nodes[node]
    if metric in data:
        return float(data[metric])
    if metric == "out_degree":
        return float(graph.out_degree(node))
    return 0.0


def _node_sizes(graph: nx.DiGraph) -> dict[str, float]:
    """Marker size from the gene's degree in the whole network (in the drawn graph when unknown)."""
    degree = {g: graph.nodes[g].get("out_degree", graph.out_degree(g)) + graph.nodes[g].get("in_degree",
                                                                                              graph.in_degree(g))
              for g in graph}
    top = max(degree.values(), default=1) or 1
    return {g: 10.0 + 22.0 * math.sqrt(d / top) for g, d in degree.items()}


def _node_text(graph: nx.DiGraph, node: str) -> str:
    """Plain-text tooltip of a gene (not HTML)."""
    data = graph.nodes[node]
    out_degree = data.get("out_degree", graph.out_degree(node))
    in_degree = data.get("in_degree", graph.in_degree(node))
    lines = [f"{node} ({data.get('role', 'gene')})", f"regulates {out_degree} gene(s), regulated by {in_degree}"]
    if "pagerank" in data:
        lines.append(f"PageRank {data['pagerank']:.4f} · betweenness {data.get('betweenness', 0.0):.4f}")
    if "community" in data:
        lines.append(f"community {data['community']}")
    return "\n".join(lines)


def _edge_style(data: dict, edge_color_by: str) -> tuple[str, list[int] | bool, float, str]:
    """(colour, dashes, width, legend group) of an edge."""
    truth = data.get("truth")
    sign = int(data.get("sign", 0) or 0)
    if edge_color_by == "truth" and truth:
        colour, group = TRUTH_COLOURS.get(truth, SIGN_COLOURS[0]), truth
    else:
        colour, group = SIGN_COLOURS.get(sign, SIGN_COLOURS[0]), SIGN_NAMES.get(sign, SIGN_NAMES[0])
    if truth == MISSED:
        dashes, kind = MISSED_DASHES, "missed truth edge"
    elif data.get("in_prior"):
        dashes, kind = False, "known"
    else:
        dashes, kind = NOVEL_DASHES, "novel"
    width = 0.6 + 3.0 * float(data.get("score", 0.0) or 0.0)
    return colour, dashes, width, f"{group} ({kind})"


def _edge_text(u: str, v: str, data: dict) -> str:
    """Plain-text tooltip of an edge (not HTML)."""
    lines = [f"{u} → {v}"]
    if data.get("truth") == MISSED:
        lines.append("true edge the network misses")
    else:
        lines.append(f"score {float(data.get('score', 0.0)):.3f} (rank {data.get('rank', '?')})")
        lines.append("known edge (in the prior)" if data.get("in_prior") else "novel edge (not in the prior)")
    sign = int(data.get("sign", 0) or 0)
    source = {"prior": "from the prior", "correlation": "estimated from expression correlation",
              "truth": "from the ground truth"}.get(data.get("sign_from"), "")
    lines.append(f"{SIGN_NAMES.get(sign, SIGN_NAMES[0])} {source}".strip())
    corr = data.get("correlation")
    if corr is not None and np.isfinite(corr):
        lines.append(f"expression correlation {corr:+.2f}")
    if data.get("truth") in (TP, FP):
        lines.append(f"ground truth: {data['truth']}")
    return "\n".join(lines)


# -- interactive page ----------------------------------------------------------------------------------
def network_html(graph: nx.DiGraph, positions: dict[str, tuple[float, float]] | None = None, *,
                 color_by: str = "role", edge_color_by: str = "sign", height: int = 620,
                 max_nodes: int = MAX_NODES, title: str = "") -> str:
    """A self-contained interactive page of the graph (vis-network inlined, no external resource).

    Parameters
    ----------
    graph
        The genes and edges to draw (see :mod:`mtlgrn_core.answers.analysis` for the attributes read).
    positions
        Node -> (x, y) from :func:`layout`; computed here when not given.
    color_by
        A key of :data:`COLOR_BY`: node colour by role, a centrality or the community.
    edge_color_by
        ``sign`` (activation green, repression red) or ``truth`` (true / false positive, missed).
    height
        Height of the drawing in pixels (the legend adds about 60).
    max_nodes
        At most this many genes are drawn (those of the best edges).
    title
        A caption above the drawing (escaped).
    """
    graph = cap_nodes(graph, max_nodes)
    positions = positions if positions is not None and set(graph) <= set(positions) else layout(graph)
    net = Network(height=f"{height}px", width="100%", directed=True, cdn_resources="in_line")
    colours, sizes = _node_colours(graph, color_by), _node_sizes(graph)
    for node in graph.nodes:
        x, y = positions[node]
        net.add_node(str(node), label=str(node), title=_node_text(graph, node), color=colours[node],
                     size=sizes[node], x=x, y=y, physics=False,
                     shape="diamond" if graph.nodes[node].get("role") == "TF" else "dot")
    for u, v, data in graph.edges(data=True):
        colour, dashes, width, _ = _edge_style(data, edge_color_by)
        net.add_edge(str(u), str(v), color=colour, dashes=dashes, width=width, title=_edge_text(u, v, data))
    net.options = _vis_options()
    template = net.templateEnv.get_template(net.path)
    page = template.render(height=net.height, width=net.width, nodes=net.nodes, edges=net.edges, heading="",
                           options=json.dumps(net.options), physics_enabled=False, use_DOT=False, dot_lang=None,
                           widget=False, bgcolor="#ffffff", conf=False, tooltip_link=False,
                           neighborhood_highlight=False, select_menu=False, filter_menu=False, notebook=False,
                           cdn_resources="in_line")
    page = _DEAD_COMMENT.sub("", _EMPTY_HEADING.sub("", _EXTERNAL_TAG.sub("", page)))
    banner = _legend_html(graph, color_by, edge_color_by, title)
    return page.replace("<body>", "<body>\n" + banner, 1).replace("</body>", _REFIT_SCRIPT + "</body>", 1)


def _vis_options() -> dict:
    return {
        "physics": {"enabled": False},
        "layout": {"improvedLayout": False},
        "interaction": {"hover": True, "tooltipDelay": 120, "multiselect": True, "navigationButtons": False},
        "nodes": {"font": {"size": 14, "face": "sans-serif"}, "borderWidth": 1},
        "edges": {"arrows": {"to": {"enabled": True, "scaleFactor": 0.5}},
                  "smooth": {"enabled": True, "type": "curvedCW", "roundness": 0.12},
                  "color": {"inherit": False}},
    }


def _legend_html(graph: nx.DiGraph, color_by: str, edge_color_by: str, title: str) -> str:
    """A legend strip (fixed text; the only user text, the title, is escaped)."""
    def swatch(colour: str, text: str, line: str = "") -> str:
        mark = (f'<span style="display:inline-block;width:22px;border-top:3px {line or "solid"} {colour};'
                f'vertical-align:middle"></span>' if line else
                f'<span style="display:inline-block;width:11px;height:11px;border-radius:6px;'
                f'background:{colour};vertical-align:middle"></span>')
        return f'<span style="margin-right:14px;white-space:nowrap">{mark} {html_text(text)}</span>'

    if color_by == "role":
        nodes = swatch(ROLE_COLOURS["TF"], "regulator (TF, diamond)") + swatch(ROLE_COLOURS["target"], "target")
    elif color_by == "community":
        nodes = "<span style='margin-right:14px'>colour = community (see the communities table)</span>"
    else:
        nodes = (f"<span style='margin-right:14px'>colour = {html_text(COLOR_BY.get(color_by, color_by))}: "
                 "dark purple low → yellow high</span>")
    has_truth = any("truth" in d for _, _, d in graph.edges(data=True))
    if edge_color_by == "truth" and has_truth:
        edges = "".join(swatch(c, t, "solid") for t, c in TRUTH_COLOURS.items())
    else:
        edges = "".join(swatch(SIGN_COLOURS[s], SIGN_NAMES[s], "solid") for s in (1, -1, 0))
    styles = swatch("#555", "known edge (in the prior)", "solid") + swatch("#555", "novel edge", "dashed")
    if any(d.get("truth") == MISSED for _, _, d in graph.edges(data=True)):
        styles += swatch("#555", "missed true edge", "dotted")
    caption = f"<div style='font-weight:600'>{html_text(title)}</div>" if title else ""
    return ("<div style='font:12px sans-serif;color:#333;padding:2px 4px 6px'>" + caption +
            f"<div>Nodes: {nodes} size = number of edges.</div><div>Edges: {edges}</div><div>{styles} "
            "width = score. Sign from the prior when known, otherwise estimated from the expression "
            "correlation of the two genes.</div></div>")


# -- static figure -------------------------------------------------------------------------------------
def network_figure(graph: nx.DiGraph, positions: dict[str, tuple[float, float]] | None = None, *,
                   color_by: str = "role", edge_color_by: str = "sign", max_nodes: int = MAX_NODES,
                   title: str = "", arrows: int = 400) -> go.Figure:
    """The same drawing as a plotly figure, for PNG/SVG export (same positions, colours and styles).

    Edges are grouped into one line trace per style; up to ``arrows`` edges get an arrowhead.
    """
    graph = cap_nodes(graph, max_nodes)
    positions = positions if positions is not None and set(graph) <= set(positions) else layout(graph)
    fig = go.Figure()
    groups: dict[tuple, dict] = {}
    for u, v, data in graph.edges(data=True):
        colour, dashes, width, name = _edge_style(data, edge_color_by)
        dash = "solid" if dashes is False else ("dot" if dashes == MISSED_DASHES else "dash")
        group = groups.setdefault((name, colour, dash), {"x": [], "y": [], "width": []})
        (x0, y0), (x1, y1) = positions[u], positions[v]
        group["x"] += [x0, x1, None]
        group["y"] += [-y0, -y1, None]
        group["width"].append(width)
    for (name, colour, dash), group in sorted(groups.items()):
        fig.add_trace(go.Scatter(x=group["x"], y=group["y"], mode="lines", name=name, hoverinfo="skip",
                                 line={"color": colour, "dash": dash, "width": float(np.mean(group["width"]))}))
    if graph.number_of_edges() <= arrows:
        fig.update_layout(annotations=[_arrow(positions[u], positions[v], _edge_style(d, edge_color_by)[0])
                                       for u, v, d in graph.edges(data=True) if u != v])
    _add_node_traces(fig, graph, positions, color_by)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig.update_layout(title=plotly_text(title), plot_bgcolor="white", height=700,
                             margin={"t": 50 if title else 10, "b": 10, "l": 10, "r": 10},
                             legend={"orientation": "h", "y": -0.02})


def _arrow(start: tuple[float, float], end: tuple[float, float], colour: str) -> dict:
    (x0, y0), (x1, y1) = start, end
    return {"x": x0 + 0.85 * (x1 - x0), "y": -(y0 + 0.85 * (y1 - y0)), "ax": x0 + 0.75 * (x1 - x0),
            "ay": -(y0 + 0.75 * (y1 - y0)), "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "",
            "showarrow": True, "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 1.2, "arrowcolor": colour}


def _add_node_traces(fig: go.Figure, graph: nx.DiGraph, positions: dict, color_by: str) -> None:
    colours, sizes = _node_colours(graph, color_by), _node_sizes(graph)
    if color_by == "role":
        buckets = {role: [g for g in graph if graph.nodes[g].get("role", "target") == role]
                   for role in ("TF", "target")}
        names = {"TF": "regulator (TF)", "target": "target"}
    elif color_by == "community":
        buckets = {}
        for g in graph:
            buckets.setdefault(int(graph.nodes[g].get("community", 0)), []).append(g)
        names = {c: f"community {c}" for c in buckets}
    else:
        buckets, names = {"all": list(graph)}, {"all": COLOR_BY.get(color_by, color_by)}
    for key, nodes in sorted(buckets.items(), key=lambda item: str(item[0])):
        if not nodes:
            continue
        marker = {"size": [sizes[g] for g in nodes], "color": [colours[g] for g in nodes],
                  "line": {"width": 1, "color": "#333"},
                  "symbol": ["diamond" if graph.nodes[g].get("role") == "TF" else "circle" for g in nodes]}
        if key == "all":
            values = [_node_value(graph, g, color_by) for g in nodes]
            marker.update(color=values, colorscale="Viridis", showscale=True,
                          colorbar={"title": {"text": COLOR_BY.get(color_by, color_by)}, "thickness": 12})
        fig.add_trace(go.Scatter(
            x=[positions[g][0] for g in nodes], y=[-positions[g][1] for g in nodes], mode="markers+text",
            name=names[key], marker=marker, text=[plotly_text(g) for g in nodes], textposition="top center",
            textfont={"size": 10}, hovertext=[plotly_text(_node_text(graph, g)).replace("\n", "<br>") for g in nodes],
            hoverinfo="text"))
