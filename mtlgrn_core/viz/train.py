"""Training figures: loss curves per task and validation metrics over epochs."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mtlgrn_core.viz.escape import plotly_text

TASK_LABELS = {"loss_edge": "edge", "loss_knockout": "knockout", "loss_expression": "expression",
               "loss_total": "total (weighted)"}


VALIDATION_LABELS = {"val_auroc": "AUROC", "val_auprc": "AUPRC", "val_knockout_r2": "knockout R²"}
LOWEST_R2_SHOWN = -1.0


def validation_floor(values: pd.DataFrame) -> float:
    """Bottom of the validation axis: 0, or lower while knockout R² is negative (worse than predicting no
    change, as in the first epochs), but not below ``LOWEST_R2_SHOWN`` so that AUROC / AUPRC stay readable."""
    lowest = pd.to_numeric(values.stack(), errors="coerce").min() if not values.empty else 0.0
    return max(LOWEST_R2_SHOWN, min(0.0, float(lowest) if pd.notna(lowest) else 0.0)) - 0.02


def history_figure(history: list[dict], *, title: str = "") -> go.Figure:
    """Loss per task (left) and validation AUROC / AUPRC and knockout R² (right) against the epoch."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Training loss per task",
                                                        "Validation (held-out edges and perturbations)"))
    frame = pd.DataFrame(history)
    if frame.empty:
        return fig.update_layout(title=plotly_text(title) or "No epoch finished yet", height=330)
    for column, label in TASK_LABELS.items():
        if column in frame:
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], name=label, mode="lines",
                                     line={"dash": "dot"} if column == "loss_total" else {}), row=1, col=1)
    shown = [c for c in VALIDATION_LABELS if c in frame]
    for column in shown:
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], name=f"val {VALIDATION_LABELS[column]}",
                                 mode="lines"), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[validation_floor(frame[shown]), 1.02], row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    return fig.update_layout(title=plotly_text(title), height=330, margin={"t": 50, "b": 40, "l": 50, "r": 20},
                             legend={"orientation": "h", "y": -0.25})


def runs_comparison_figure(histories: dict[str, list[dict]], metric: str = "val_auprc") -> go.Figure:
    """One line per run of a validation metric against the epoch (run names escaped)."""
    fig = go.Figure()
    for name, history in histories.items():
        frame = pd.DataFrame(history)
        if metric in frame:
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[metric], name=plotly_text(name), mode="lines"))
    label = metric.replace("val_", "validation ").upper().replace("VALIDATION", "validation")
    return fig.update_layout(xaxis_title="epoch", yaxis_title=label, height=320,
                             margin={"t": 30, "b": 40, "l": 50, "r": 20})
