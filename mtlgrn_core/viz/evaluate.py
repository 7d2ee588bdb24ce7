"""Evaluation figures: ROC and precision-recall curves of the model and the baselines, ablation and knockout
cross-validation bars. Inputs come from :mod:`mtlgrn_core.evaluation.edge_evaluation`,
:mod:`mtlgrn_core.evaluation.ablation` and :mod:`mtlgrn_core.evaluation.knockout_evaluation`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mtlgrn_core.model.methods import (
    DEGREE,
    GENIE3,
    KO_ZSCORE,
    LINEAR,
    MEAN_DELTA,
    MEAN_PLUS_LINEAR,
    MODEL,
    PEARSON,
    RANDOM,
    REVERSE,
    ZERO,
)
from mtlgrn_core.viz.escape import plotly_text

METHOD_COLOURS = {MODEL: "#c0392b", RANDOM: "#9a9a9a", DEGREE: "#8e6c8a", REVERSE: "#b39ddb", PEARSON: "#2c6fbb",
                  KO_ZSCORE: "#27ae60", GENIE3: "#e67e22", ZERO: "#9a9a9a", MEAN_DELTA: "#2c6fbb",
                  LINEAR: "#27ae60", MEAN_PLUS_LINEAR: "#e67e22"}
_MARGIN = {"t": 60, "b": 50, "l": 60, "r": 20}
_LEGEND = {"orientation": "h", "y": -0.2}


def _line(name: str) -> dict:
    return {"color": METHOD_COLOURS.get(name), "width": 3 if name == MODEL else 1.8}


def roc_figure(curves: dict[str, dict[str, pd.DataFrame]], metrics: pd.DataFrame, *, title: str = "") -> go.Figure:
    """ROC curves (true positive rate against false positive rate), AUROC in the legend."""
    fig = go.Figure()
    for name, curve in curves.items():
        roc, label = curve["roc"], plotly_text(name)
        fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", line=_line(name),
                                 name=f"{label} (AUROC {metrics.loc[name, 'auroc']:.3f})",
                                 hovertemplate=label + "<br>FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", hoverinfo="skip",
                             line={"color": "#bbb", "dash": "dot"}))
    return fig.update_layout(title=plotly_text(title) or "ROC curves", xaxis_title="false positive rate",
                             yaxis_title="true positive rate (recall)", xaxis_range=[0, 1], yaxis_range=[0, 1.02],
                             height=460, margin=_MARGIN, legend=_LEGEND)


def pr_figure(curves: dict[str, dict[str, pd.DataFrame]], metrics: pd.DataFrame, density: float, *,
              title: str = "") -> go.Figure:
    """Precision-recall curves, AUPRC in the legend and the precision of random guessing as a line."""
    fig = go.Figure()
    for name, curve in curves.items():
        pr, label = curve["pr"], plotly_text(name)
        fig.add_trace(go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", line=_line(name),
                                 line_shape="hv", name=f"{label} (AUPRC {metrics.loc[name, 'auprc']:.3f})",
                                 hovertemplate=label + "<br>recall %{x:.3f}<br>precision %{y:.3f}<extra></extra>"))
    fig.add_hline(y=density, line_color="#bbb", line_dash="dot",
                  annotation_text=f"random guessing ({density:.3f})", annotation_position="top right")
    return fig.update_layout(title=plotly_text(title) or "Precision-recall curves",
                             xaxis_title="recall (share of true edges found)",
                             yaxis_title="precision (share of predictions that are true)", xaxis_range=[0, 1],
                             yaxis_range=[0, 1.02], height=460, margin=_MARGIN, legend=_LEGEND)


def ablation_figure(table: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Test AUPRC of each ablation variant (bars), the full model's value as a dotted line."""
    shown = table.dropna(subset=["auprc"]).iloc[::-1]
    colours = [METHOD_COLOURS[MODEL] if v == "full model" else "#7f8c8d" for v in shown["variant"]]
    fig = go.Figure(go.Bar(x=shown["auprc"], y=[plotly_text(v) for v in shown["variant"]], orientation="h",
                           marker_color=colours,
                           customdata=shown[["auroc"]].to_numpy(),
                           hovertemplate="%{y}<br>AUPRC %{x:.3f}<br>AUROC %{customdata[0]:.3f}<extra></extra>"))
    full = table.loc[table["variant"] == "full model", "auprc"]
    if len(full) and pd.notna(full.iloc[0]):
        fig.add_vline(x=float(full.iloc[0]), line_dash="dot", line_color=METHOD_COLOURS[MODEL])
    return fig.update_layout(title=plotly_text(title) or "Ablation: test AUPRC with a part switched off",
                             xaxis_title="test AUPRC (higher is better)", yaxis={"automargin": True},
                             height=max(300, 40 * len(shown) + 120), margin=_MARGIN, showlegend=False)


def knockout_cv_figure(table: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Pearson r (all genes, top DE genes) and sign accuracy of the model and the baselines (grouped bars)."""
    labels = {"pearson_all": "Pearson r, all genes", "pearson_top": "Pearson r, top-20 changed genes",
              "sign_acc_top": "sign accuracy, top-20 changed genes"}
    fig = go.Figure()
    for method in table.index:
        label = plotly_text(method)
        fig.add_trace(go.Bar(x=list(labels.values()), y=[table.loc[method, c] for c in labels], name=label,
                             marker_color=METHOD_COLOURS.get(method),
                             hovertemplate=label + "<br>%{x}: %{y:.3f}<extra></extra>"))
    return fig.update_layout(title=plotly_text(title) or "Knockout effects on held-out knockouts", barmode="group",
                             yaxis_title="higher is better", height=420, margin=_MARGIN, legend=_LEGEND)
