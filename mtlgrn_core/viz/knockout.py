"""Knockout figures: most changed genes, volcano plot, comparison heatmap, network around the knocked-out
genes, predicted against measured change (the dataset's own knockout, or the user's experiment).

Inputs are the tables of :mod:`mtlgrn_core.runs.knockout_queries` (``gene, baseline, predicted, delta, log2fc, z,
perturbed``). Gene names come from user files and plotly renders a subset of HTML in text, so every name drawn
is escaped with :func:`~mtlgrn_core.viz.escape.plotly_text`.
"""

from __future__ import annotations

import math
from itertools import pairwise

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlgrn_core.viz.escape import plotly_text, plotly_texts

UP, DOWN, PERTURBED = "#c0392b", "#2c6fbb", "#222222"
DIVERGING = "RdBu_r"  # blue = down, red = up
Y_LABEL = "|change| in SDs of the gene"
Y_HELP = ("y: size of the predicted change in units of the gene's standard deviation over all samples "
          "(|delta| / SD), a z-like score.")
_MARGIN = {"t": 60, "b": 50, "l": 60, "r": 20}


def _esc(values) -> list[str]:
    return plotly_texts(values)


def _title(title: str, default: str) -> str:
    """The given title escaped (it may hold gene names), or the default."""
    return plotly_text(title) if title else default


def changes_bar(table: pd.DataFrame, *, top: int = 25, title: str = "") -> go.Figure:
    """Horizontal bars of the ``top`` most changed genes (the perturbed genes left out), largest on top. An
    ensemble's table (``delta_low``, ``delta_high``, ``uncertain``) adds error bars spanning the members' central
    95 % and draws an uncertain change (that range holds 0) hatched."""
    shown = table.loc[~table["perturbed"]].head(top).iloc[::-1]
    colours = np.where(shown["delta"].to_numpy() >= 0, UP, DOWN)
    custom = np.stack([_esc(shown["gene"]), shown["baseline"], shown["predicted"], shown["z"]], axis=1) \
        if len(shown) else None
    bar = go.Bar(x=shown["delta"], y=_esc(shown["gene"]), orientation="h", marker_color=colours, customdata=custom,
                 hovertemplate="<b>%{customdata[0]}</b><br>change %{x:.3g}<br>baseline %{customdata[1]:.3g} → "
                               "predicted %{customdata[2]:.3g}<br>%{customdata[3]:.2f} SDs<extra></extra>")
    if _has_spread(shown):
        bar.update(error_x=_error_bars(shown, "delta_low", "delta", "delta_high"),
                   marker_pattern_shape=np.where(shown["uncertain"], "/", "").tolist(),
                   hovertemplate=bar.hovertemplate.replace("<extra>", "<br>members' 95 %%: %{error_x.arrayminus:.3g} "
                                                                      "below, %{error_x.array:.3g} above<extra>"))
    fig = go.Figure(bar)
    fig.add_vline(x=0, line_color="#888", line_width=1)
    return fig.update_layout(
        title=_title(title, f"The {len(shown)} most changed genes"), xaxis_title="predicted change (expression units)",
        yaxis={"type": "category", "automargin": True}, height=max(320, 22 * len(shown) + 120), margin=_MARGIN,
        showlegend=False)


def _has_spread(table: pd.DataFrame) -> bool:
    """An ensemble's table: the members' central 95 % (``delta_low/high``, ``z_low/high``) and ``uncertain``."""
    return {"delta_low", "delta_high", "z_low", "z_high", "uncertain"} <= set(table.columns)


def _error_bars(table: pd.DataFrame, low: str, mid: str, high: str) -> dict:
    """Asymmetric error bars from column ``low`` to column ``high`` around column ``mid``."""
    return {"type": "data", "symmetric": False, "array": (table[high] - table[mid]).abs().to_numpy(),
            "arrayminus": (table[mid] - table[low]).abs().to_numpy(), "color": "#555", "thickness": 1}


def volcano(table: pd.DataFrame, *, label_top: int = 10, title: str = "") -> go.Figure:
    """log2 fold change (x) against the standardised size of the change (y = |delta| / gene SD).

    When the log2 fold change is undefined (data with negative values), x is the change itself. An ensemble's
    table adds vertical error bars (the members' central 95 %, ``z_low`` to ``z_high``) and draws an uncertain change
    (that range holds 0) as an open circle.
    """
    use_fc = table["log2fc"].notna().any()
    x_col, x_title = ("log2fc", "log2 fold change (predicted / baseline)") if use_fc else \
        ("delta", "predicted change (expression units)")
    spread = _has_spread(table)
    fig = go.Figure()
    rest, perturbed = table.loc[~table["perturbed"]], table.loc[table["perturbed"]]
    for name, part, colour in (("up", rest[rest["delta"] >= 0], UP), ("down", rest[rest["delta"] < 0], DOWN)):
        marker = {"color": colour, "size": 6, "opacity": 0.7}
        trace = go.Scattergl(
            x=part[x_col].to_numpy(), y=part["z"].abs().to_numpy(), mode="markers", name=name,
            text=_esc(part["gene"]), marker=marker,
            hovertemplate="<b>%{text}</b><br>" + ("log2FC" if use_fc else "change") +
                          " %{x:.3g}<br>%{y:.2f} SDs<extra></extra>")
        if spread:
            # y = |z|: for a fall the range's low end (the largest fall) is the top of the bar
            bars = _error_bars(part, "z_low", "z", "z_high") if name == "up" else \
                _error_bars(part, "z_high", "z", "z_low")
            marker["symbol"] = np.where(part["uncertain"], "circle-open", "circle").tolist()
            trace.update(error_y=bars, marker=marker)
        fig.add_trace(trace)
    if len(perturbed):
        fig.add_trace(go.Scattergl(
            x=perturbed[x_col], y=perturbed["z"].abs(), mode="markers", name="perturbed gene(s)",
            text=_esc(perturbed["gene"]), marker={"color": PERTURBED, "symbol": "x", "size": 9},
            hovertemplate="<b>%{text}</b> (perturbed)<br>%{x:.3g}<br>%{y:.2f} SDs<extra></extra>"))
    labelled = rest.head(label_top)
    labelled = labelled[np.isfinite(labelled[x_col].to_numpy(dtype=float))]
    if len(labelled):
        fig.add_trace(go.Scatter(x=labelled[x_col], y=labelled["z"].abs(), mode="text", text=_esc(labelled["gene"]),
                                 textposition="top center", textfont={"size": 10}, hoverinfo="skip",
                                 showlegend=False))
    return fig.update_layout(title=_title(title, "Volcano plot of the predicted changes"), xaxis_title=x_title,
                             yaxis_title=Y_LABEL, height=450, margin=_MARGIN,
                             legend={"orientation": "h", "y": -0.2})


def comparison_heatmap(matrix: pd.DataFrame, *, value_label: str = "predicted change", title: str = "") -> go.Figure:
    """Genes (rows) x knockout queries (columns), coloured by the change (blue down, red up, white none)."""
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) if matrix.size else 1.0
    limit = limit if math.isfinite(limit) and limit > 0 else 1.0
    fig = go.Figure(go.Heatmap(
        z=matrix.to_numpy(), x=_esc(matrix.columns), y=_esc(matrix.index), colorscale=DIVERGING, zmid=0,
        zmin=-limit, zmax=limit, colorbar={"title": {"text": value_label}},
        hovertemplate="<b>%{y}</b><br>%{x}<br>" + value_label + " %{z:.3g}<extra></extra>"))
    return fig.update_layout(title=_title(title, "Knockouts compared (most changed genes)"),
                             yaxis={"autorange": "reversed", "type": "category", "automargin": True},
                             xaxis={"type": "category", "automargin": True},
                             height=max(350, 18 * len(matrix) + 160), margin=_MARGIN)


def neighbourhood_layout(nodes: pd.DataFrame, edges: pd.DataFrame, *, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Seeded spring layout of the knocked-out genes and their targets."""
    graph = nx.Graph()
    graph.add_nodes_from(sorted(nodes["gene"]))
    graph.add_edges_from(sorted(zip(edges["source"], edges["target"])))
    if graph.number_of_nodes() == 0:
        return {}
    positions = nx.spring_layout(graph, seed=seed, k=1.5 / math.sqrt(graph.number_of_nodes()), iterations=60)
    return {g: (float(x), float(y)) for g, (x, y) in positions.items()}


def neighbourhood_figure(nodes: pd.DataFrame, edges: pd.DataFrame, *, positions: dict | None = None,
                         title: str = "") -> go.Figure:
    """The knocked-out genes (black diamonds) and their targets coloured by predicted change.

    Solid lines: regulator → target edges known from the prior; dashed: edges the model predicts.
    The colour scale is set by the targets (the perturbed genes' own change is set by the dose).
    """
    positions = positions or neighbourhood_layout(nodes, edges)
    fig = go.Figure()
    if "carried" in edges:
        _add_carrying_edges(fig, edges, positions)
    else:
        for known, style, name in ((True, {"color": "#777", "width": 1.4}, "known edge (prior)"),
                                   (False, {"color": "#aaa", "width": 1.0, "dash": "dash"}, "predicted edge")):
            _add_edge_lines(fig, edges[edges["known"] == known], positions, style, name)
    targets, knocked = nodes[~nodes["perturbed"]], nodes[nodes["perturbed"]]
    limit = float(targets["delta"].abs().max()) if len(targets) else 1.0
    limit = limit if math.isfinite(limit) and limit > 0 else 1.0
    if len(targets):
        fig.add_trace(go.Scatter(
            x=[positions[g][0] for g in targets["gene"]], y=[positions[g][1] for g in targets["gene"]],
            mode="markers+text", text=_esc(targets["gene"]), textposition="top center", name="target",
            customdata=np.stack([targets["delta"], targets["z"]], axis=1),
            marker={"size": 16, "color": targets["delta"], "colorscale": DIVERGING, "cmin": -limit, "cmax": limit,
                    "line": {"color": "#555", "width": 1},
                    "colorbar": {"title": {"text": "predicted change"}}},
            hovertemplate="<b>%{text}</b><br>change %{customdata[0]:.3g}<br>%{customdata[1]:.2f} SDs<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[positions[g][0] for g in knocked["gene"]], y=[positions[g][1] for g in knocked["gene"]],
        mode="markers+text", text=_esc(knocked["gene"]), textposition="bottom center", name="perturbed gene",
        marker={"size": 20, "color": PERTURBED, "symbol": "diamond"},
        hovertemplate="<b>%{text}</b> (perturbed)<extra></extra>"))
    axis = {"visible": False}
    return fig.update_layout(title=_title(title, "Targets of the perturbed genes, coloured by predicted change"),
                             xaxis=axis, yaxis=axis, height=560, margin=_MARGIN, plot_bgcolor="white",
                             legend={"orientation": "h", "y": -0.05})


def _add_edge_lines(fig: go.Figure, edges: pd.DataFrame, positions: dict, style: dict, name: str) -> None:
    xs, ys = [], []
    for s, t in zip(edges["source"], edges["target"]):
        xs += [positions[s][0], positions[t][0], None]
        ys += [positions[s][1], positions[t][1], None]
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=style, name=name, hoverinfo="skip"))


CARRY_WIDTHS = (1.0, 2.5, 4.5, 7.0)  # line widths of the quarters of the largest change an edge carries


def _add_carrying_edges(fig: go.Figure, edges: pd.DataFrame, positions: dict) -> None:
    """Edges coloured by the change they deliver to their target (``carried``: red up, blue down, grey none or
    not an edge of the propagation) and as wide as its size."""
    value = edges["carried"].to_numpy(dtype=float)
    biggest = float(np.abs(value).max()) if len(value) else 0.0
    level = np.minimum((np.abs(value) / biggest * len(CARRY_WIDTHS)).astype(int), len(CARRY_WIDTHS) - 1) \
        if biggest > 0 else np.zeros(len(value), dtype=int)
    for direction, colour, chosen in (("carries a rise", UP, value > 0), ("carries a fall", DOWN, value < 0),
                                      ("carries nothing", "#bbb", value == 0)):
        for i, width in enumerate(CARRY_WIDTHS):
            part = edges[chosen & (level == i)]
            style = {"color": colour, "width": width, **({"dash": "dash"} if direction == "carries nothing" else {})}
            _add_edge_lines(fig, part, positions, style, direction)
    names = set()
    for trace in fig.data:  # one legend entry per direction
        trace.showlegend = trace.name not in names
        names.add(trace.name)


def measured_scatter(frame: pd.DataFrame, metrics: dict, *, title: str = "") -> go.Figure:
    """Predicted (y) against measured (x) change of every gene, with the identity line and Pearson r."""
    values = frame[["measured", "predicted"]].to_numpy(dtype=float)
    lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (-1.0, 1.0)
    fig = go.Figure(go.Scattergl(
        x=frame["measured"], y=frame["predicted"], mode="markers", text=_esc(frame["gene"]), name="genes",
        marker={"size": 6, "color": "#34495e", "opacity": 0.7},
        hovertemplate="<b>%{text}</b><br>measured %{x:.3g}<br>predicted %{y:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured",
                             line={"color": "#999", "dash": "dot"}, hoverinfo="skip"))
    r = metrics.get("pearson_all", float("nan"))
    return fig.update_layout(title=_title(title, f"Predicted against measured change (Pearson r = {r:.2f})"),
                             xaxis_title="measured change (expression units)",
                             yaxis_title="predicted change (expression units)", height=450, margin=_MARGIN,
                             legend={"orientation": "h", "y": -0.2})


BOTH_TOP, ONE_TOP, OTHER = "#d35400", "#34495e", "#b0b7bd"  # experiment scatter: top-k of both, of one, the rest


def experiment_scatter(comparison, *, predicted_label: str = "predicted log2 fold change", label_top: int = 20,
                       fit_line: bool = True, title: str = "") -> go.Figure:
    """Predicted (y) against measured (x) change of the genes of a user's experiment
    (:class:`mtlgrn_core.evaluation.de_comparison.Comparison`): the genes among the top-k most changed of both in
    orange, of one in dark blue, the rest in grey; up to ``label_top`` genes named (those in both top-k first, then the
    most changed measured); with ``fit_line``, the least-squares line."""
    table, k = comparison.table, comparison.top
    tops = set(comparison.top_predicted), set(comparison.top_measured)
    both, either = tops[0] & tops[1], tops[0] | tops[1]
    group = np.where(table["gene"].isin(both), 2, np.where(table["gene"].isin(either), 1, 0))
    fig = go.Figure()
    for level, name, colour in ((0, "other genes", OTHER), (1, f"top {k} predicted or measured", ONE_TOP),
                                (2, f"top {k} predicted and measured", BOTH_TOP)):
        part = table[group == level]
        fig.add_trace(go.Scattergl(
            x=part["measured"], y=part["predicted"], mode="markers", name=name, text=_esc(part["gene"]),
            customdata=part["padj"], marker={"size": 6 if level else 5, "color": colour, "opacity": 0.8},
            hovertemplate="<b>%{text}</b><br>measured %{x:.3g}<br>predicted %{y:.3g}<br>adjusted p "
                          "%{customdata:.2g}<extra></extra>"))
    named = list(dict.fromkeys([g for g in table["gene"] if g in both] + list(comparison.top_measured)))[:label_top]
    labelled = table[table["gene"].isin(named)]
    if len(labelled):
        fig.add_trace(go.Scatter(x=labelled["measured"], y=labelled["predicted"], mode="text",
                                 text=_esc(labelled["gene"]), textposition="top center", textfont={"size": 10},
                                 hoverinfo="skip", showlegend=False))
    if fit_line and table["measured"].nunique() > 1:
        slope, intercept = np.polyfit(table["measured"], table["predicted"], 1)
        xs = np.array([table["measured"].min(), table["measured"].max()])
        fig.add_trace(go.Scatter(x=xs, y=slope * xs + intercept, mode="lines", name=f"fit (slope {slope:.2g})",
                                 line={"color": "#7f8c8d", "dash": "dash"}, hoverinfo="skip"))
    fig.add_hline(y=0, line_color="#ccc", line_width=1)
    fig.add_vline(x=0, line_color="#ccc", line_width=1)
    default = (f"Predicted against measured change, {comparison.n_genes:,} genes "
               f"(Pearson r = {comparison.pearson:.2f})")
    return fig.update_layout(title=_title(title, default), yaxis_title=predicted_label, height=500, margin=_MARGIN,
                             xaxis_title=f"measured log2 fold change ({plotly_text(comparison.name)})",
                             legend={"orientation": "h", "y": -0.2})


ACTIVATION, REPRESSION = "#2e8b57", "#8e44ad"  # edge signs: the target rises / falls with its regulator


def paths_figure(paths: pd.DataFrame, changes: pd.Series, *, title: str = "") -> go.Figure:
    """The regulatory paths that carry a gene's change (``paths``: :class:`mtlgrn_core.answers.explain.Explanation`'s,
    with ``genes`` and ``edge_signs``) as a small directed graph from the perturbed genes (left) to the
    responding gene (right).

    Each edge is drawn once, green when the target rises with its regulator (+), purple when it falls (-), as
    wide as the share of the change the listed paths through it carry; genes are coloured by their
    predicted change (``changes``, by gene name; blue down, red up), the perturbed genes (where the paths start)
    are black diamonds."""
    depth: dict[str, int] = {}
    weight: dict[tuple[str, str], float] = {}
    sign: dict[tuple[str, str], str] = {}
    longest = int(paths["genes"].map(len).max()) if len(paths) else 1
    for genes, signs, value in zip(paths["genes"], paths["edge_signs"], paths["contribution"]):
        for i, gene in enumerate(genes):  # the responding gene on the right, each other gene at its most hops
            place = longest - 1 if i == len(genes) - 1 else i  # (so that every edge points right)
            depth[gene] = max(depth.get(gene, place), place)
        for edge, edge_sign in zip(pairwise(genes), signs.split()):
            weight[edge] = weight.get(edge, 0.0) + abs(float(value))
            sign[edge] = edge_sign
    positions = _layered(depth)
    fig = go.Figure()
    biggest = max(weight.values(), default=1.0) or 1.0
    for (s, t), w in weight.items():
        _add_path_edge(fig, positions[s], positions[t], ACTIVATION if sign[(s, t)] == "+" else REPRESSION,
                       1 + 3 * w / biggest)
    for label, colour in (("+ rises with its regulator", ACTIVATION), ("- falls with its regulator", REPRESSION)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": colour, "width": 3}, name=label))
    perturbed = {genes[0] for genes in paths["genes"]}
    names = [g for g in positions if g not in perturbed]
    values = np.array([float(changes.get(g, 0.0)) for g in names])
    limit = float(np.abs(values).max()) if len(values) else 1.0
    limit = limit if math.isfinite(limit) and limit > 0 else 1.0
    fig.add_trace(go.Scatter(
        x=[positions[g][0] for g in names], y=[positions[g][1] for g in names], mode="markers+text",
        text=_esc(names), textposition="top center", name="gene", customdata=values,
        marker={"size": 18, "color": values, "colorscale": DIVERGING, "cmin": -limit, "cmax": limit,
                "line": {"color": "#555", "width": 1}, "colorbar": {"title": {"text": "predicted change"}}},
        hovertemplate="<b>%{text}</b><br>change %{customdata:.3g}<extra></extra>"))
    knocked = sorted(perturbed)
    fig.add_trace(go.Scatter(
        x=[positions[g][0] for g in knocked], y=[positions[g][1] for g in knocked], mode="markers+text",
        text=_esc(knocked), textposition="top center", name="perturbed gene",
        marker={"size": 20, "color": PERTURBED, "symbol": "diamond"},
        hovertemplate="<b>%{text}</b> (perturbed)<extra></extra>"))
    axis = {"visible": False}
    return fig.update_layout(title=_title(title, "Regulatory paths carrying the change"), xaxis=axis,
                             yaxis={**axis, "range": [-0.6, max(1, max((p[1] for p in positions.values()),
                                                                         default=0)) + 0.6]},
                             height=380, margin=_MARGIN, plot_bgcolor="white",
                             legend={"orientation": "h", "y": -0.05})


def _add_path_edge(fig: go.Figure, start: tuple[float, float], end: tuple[float, float], colour: str,
                   width: float) -> None:
    """An arrow from ``start`` to ``end``; one that skips a layer bends (a quadratic curve) so that it never
    runs through the genes of the layers between."""
    (x0, y0), (x1, y1) = start, end
    tail = start
    if x1 - x0 > 1:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.45 * (x1 - x0)
        fig.add_shape(type="path", path=f"M {x0},{y0} Q {cx},{cy} {x1},{y1}", line={"color": colour, "width": width},
                      opacity=0.85, layer="below")
        tail = (0.01 * x0 + 0.18 * cx + 0.81 * x1, 0.01 * y0 + 0.18 * cy + 0.81 * y1)  # the curve at 0.9
    fig.add_annotation(x=x1, y=y1, ax=tail[0], ay=tail[1], xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                       arrowhead=3, arrowsize=1.2, arrowwidth=width, arrowcolor=colour, standoff=14,
                       startstandoff=0 if tail is not start else 14, opacity=0.85, text="")


def _layered(depth: dict[str, int]) -> dict[str, tuple[float, float]]:
    """x = the gene's layer, y = its place within the layer (names sorted, centred)."""
    layers: dict[int, list[str]] = {}
    for gene, d in depth.items():
        layers.setdefault(d, []).append(gene)
    tallest = max((len(v) for v in layers.values()), default=1)
    positions = {}
    for d, genes in layers.items():
        for i, gene in enumerate(sorted(genes)):
            positions[gene] = (float(d), (tallest - 1) / 2 + i - (len(genes) - 1) / 2)
    return positions
