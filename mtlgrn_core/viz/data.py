"""Data figures: expression distribution, PCA of samples by perturbation, degree distribution of the prior.

Every builder takes a :class:`~mtlgrn_core.inputs.data.Dataset` and returns a plotly figure that stays small
(histograms are binned, boxes are precomputed quantiles, at most a few thousand points), so that drawing
it on every rerun is cheap. Names from the user's files are escaped
(:func:`~mtlgrn_core.viz.escape.plotly_text`) before they reach the figure.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mtlgrn_core.inputs.data import CONTROL, Dataset
from mtlgrn_core.viz.escape import plotly_text

KIND_COLOURS = {"control": "#2ca02c", "knockout": "#d62728", "knockdown": "#ff7f0e",
                "overexpression": "#9467bd", "other": "#7f7f7f"}
MAX_GENES_SHOWN = 2000  # genes sampled for the distribution
MAX_PCA_GENES = 1000  # most variable genes used for the PCA
MAX_BOXES = 60  # samples shown as boxes
_LOG_TICKS = [m * 10 ** e for e in range(6) for m in (1, 2, 5)]
_MARGIN = {"t": 60, "b": 50, "l": 60, "r": 20}


def sample_kinds(dataset: Dataset) -> list[str]:
    """Each sample's kind: control, knockout, knockdown, overexpression or other (unlabelled, mixed)."""
    kinds = ["other"] * len(dataset.samples)
    if dataset.sample_sheet is None:
        return kinds
    controls = set(dataset.sample_sheet.loc[dataset.sample_sheet["perturbation"].str.strip().str.lower()
                                            == CONTROL, "sample"])
    for j, sample in enumerate(dataset.samples):
        if sample in controls:
            kinds[j] = "control"
    for perturbation in dataset.perturbations():
        dose = perturbation.dose
        kinds[perturbation.sample] = "knockout" if dose == 0 else "knockdown" if dose < 1 else "overexpression"
    return kinds


def _sample_labels(dataset: Dataset) -> list[str]:
    """Hover text per sample: name and perturbation (escaped)."""
    labels = [plotly_text(s) for s in dataset.samples]
    if dataset.sample_sheet is not None:
        position = {s: j for j, s in enumerate(dataset.samples)}
        for row in dataset.sample_sheet.itertuples(index=False):
            j = position.get(row.sample)
            if j is not None and str(row.perturbation).strip():
                labels[j] += f"<br>{plotly_text(row.perturbation)} (dose {float(row.dose):g})"
    return labels


def _value_label(dataset: Dataset) -> str:
    return "expression (log1p of counts)" if dataset.log_transformed else "expression (as uploaded)"


def _gene_subset(dataset: Dataset, limit: int, seed: int = 0) -> np.ndarray:
    if dataset.n_genes <= limit:
        return np.arange(dataset.n_genes)
    return np.sort(np.random.default_rng(seed).choice(dataset.n_genes, size=limit, replace=False))


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig.update_layout(title=title, height=380, xaxis={"visible": False}, yaxis={"visible": False},
                             margin=_MARGIN)


def expression_distribution_figure(dataset: Dataset) -> go.Figure:
    """Histogram of all values (left) and per-sample boxes coloured by perturbation kind (right).

    At most :data:`MAX_GENES_SHOWN` random genes and :data:`MAX_BOXES` evenly spaced samples are used.
    """
    genes = _gene_subset(dataset, MAX_GENES_SHOWN)
    values = dataset.expression[genes].astype(np.float64)
    sampled = "" if genes.size == dataset.n_genes else f" ({genes.size} random genes of {dataset.n_genes})"
    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6], horizontal_spacing=0.08,
                        subplot_titles=("All values" + sampled, "Per sample (box: quartiles, whiskers: "
                                                                 "1st–99th percentile)"))
    counts, edges = np.histogram(values.ravel(), bins=60)
    fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), marker_color="#4c78a8",
                         name="values", showlegend=False,
                         hovertemplate="%{x:.3g}: %{y} values<extra></extra>"), row=1, col=1)
    columns = np.unique(np.linspace(0, len(dataset.samples) - 1, min(MAX_BOXES, len(dataset.samples))).astype(int))
    q = np.percentile(values[:, columns], [1, 25, 50, 75, 99], axis=0)
    kinds = sample_kinds(dataset)
    names = [plotly_text(dataset.samples[j]) for j in columns]
    for kind, colour in KIND_COLOURS.items():
        pick = [k for k, j in enumerate(columns) if kinds[j] == kind]
        if pick:
            fig.add_trace(go.Box(x=[names[k] for k in pick], lowerfence=q[0, pick], q1=q[1, pick],
                                 median=q[2, pick], q3=q[3, pick], upperfence=q[4, pick], name=kind,
                                 marker_color=colour, line_width=1), row=1, col=2)
    fig.update_xaxes(title_text=_value_label(dataset), row=1, col=1)
    fig.update_yaxes(title_text="number of values", row=1, col=1)
    fig.update_yaxes(title_text=_value_label(dataset), row=1, col=2)
    shown = "" if columns.size == len(dataset.samples) else f"{columns.size} of {len(dataset.samples)} samples"
    fig.update_xaxes(title_text=shown, showticklabels=columns.size <= 40, categoryorder="array",
                     categoryarray=names, row=1, col=2)
    return fig.update_layout(title="Expression distribution", height=420, margin=_MARGIN,
                             legend={"title": "sample kind"})


def pca_coordinates(dataset: Dataset, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(samples x n_components coordinates, explained variance ratio)`` of a PCA of the samples.

    Genes are centred; the :data:`MAX_PCA_GENES` most variable genes are used (numpy SVD).
    """
    matrix = dataset.expression.astype(np.float64)
    if dataset.n_genes > MAX_PCA_GENES:
        matrix = matrix[np.argsort(matrix.var(axis=1))[-MAX_PCA_GENES:]]
    centred = (matrix - matrix.mean(axis=1, keepdims=True)).T
    u, s, _vt = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((centred.shape[0], n_components))
    k = min(n_components, s.size)
    coords[:, :k] = u[:, :k] * s[:k]
    total = float((s ** 2).sum())
    ratio = np.zeros(n_components)
    if total > 0:
        ratio[:k] = s[:k] ** 2 / total
    return coords, ratio


def pca_figure(dataset: Dataset) -> go.Figure:
    """Samples on the first two principal components, coloured by perturbation kind."""
    coords, ratio = pca_coordinates(dataset)
    kinds = sample_kinds(dataset)
    labels = _sample_labels(dataset)
    fig = go.Figure()
    for kind, colour in KIND_COLOURS.items():
        pick = [j for j, k in enumerate(kinds) if k == kind]
        if pick:
            fig.add_trace(go.Scatter(x=coords[pick, 0], y=coords[pick, 1], mode="markers", name=kind,
                                     marker={"color": colour, "size": 8, "opacity": 0.8},
                                     hovertext=[labels[j] for j in pick], hoverinfo="text"))
    title = "PCA of samples" + ("" if dataset.sample_sheet is not None else " (no sample sheet: all 'other')")
    return fig.update_layout(title=title, height=420, margin=_MARGIN, legend={"title": "sample kind"},
                             xaxis_title=f"PC1 ({100 * ratio[0]:.0f} % of variance)",
                             yaxis_title=f"PC2 ({100 * ratio[1]:.0f} % of variance)")


def degree_counts(edges, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(degree values, number of genes with that degree)`` over the genes named in ``column``."""
    if len(edges) == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    degrees = edges[column].value_counts().to_numpy()
    values, counts = np.unique(degrees, return_counts=True)
    return values, counts


def degree_figure(dataset: Dataset) -> go.Figure:
    """Out-degree (targets per regulator) and in-degree (regulators per gene) of the prior, log axes."""
    title = "Known network: degree distribution"
    if len(dataset.prior) == 0:
        return _empty(title, "No known network loaded (network.csv): nothing to show.")
    fig = go.Figure()
    for column, name, colour, what in (("source", "out-degree (targets per regulator)", "#d62728", "regulators"),
                                       ("target", "in-degree (regulators per target)", "#4c78a8", "targets")):
        values, counts = degree_counts(dataset.prior, column)
        fig.add_trace(go.Scatter(x=values, y=counts, mode="markers+lines", name=name,
                                 marker={"color": colour, "size": 8}, line={"width": 1, "dash": "dot"},
                                 hovertemplate=f"degree %{{x}}: %{{y}} {what}<extra></extra>"))
    fig.update_xaxes(type="log", title_text="degree (number of edges of a gene)", tickvals=_LOG_TICKS)
    fig.update_yaxes(type="log", title_text="number of genes", tickvals=_LOG_TICKS)
    return fig.update_layout(title=title, height=420, margin=_MARGIN, legend={"orientation": "h", "y": -0.2})


FIGURES = {"distribution": ("Expression distribution", expression_distribution_figure),
           "pca": ("PCA of samples", pca_figure),
           "degree": ("Degree distribution of the known network", degree_figure)}
