"""Screen figures: the best hits of an in-silico screen (:mod:`mtlgrn_core.answers.screens`) as bars, and its pairs
against their additive expectation. Regulator names come from user files: every name drawn is escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlgrn_core.viz.escape import plotly_text, plotly_texts

MEASURED, NOT_MEASURED = "#c0392b", "#b39ddb"
SCORE_LABELS = {"target": "mean change of the targets the wanted way (SDs)",
                "state": "match with the wanted change (cosine)"}
_MARGIN = {"t": 60, "b": 50, "l": 60, "r": 20}


def hits_figure(hits: pd.DataFrame, kind: str, *, top: int = 20, title: str = "") -> go.Figure:
    """Horizontal bars of the ``top`` best candidates, best on top; regulators the run does not measure in a lighter
    colour; an ensemble's hits carry their members' best and worst rank in the hover."""
    shown = hits.head(top).iloc[::-1]
    names = plotly_texts(shown["regulator"])
    extra = shown["targets_moved"] if "targets_moved" in shown else shown.get("pearson", pd.Series(np.nan,
                                                                                                   shown.index))
    extra_label = "targets moved" if "targets_moved" in shown else "Pearson r"
    ranks = (shown["rank_low"].astype(str) + "-" + shown["rank_high"].astype(str)) if "rank_low" in shown else \
        pd.Series("", index=shown.index)
    custom = np.stack([names, shown["rank"], extra, ranks], axis=1) if len(shown) else None
    hover = (f"<b>%{{customdata[0]}}</b><br>rank %{{customdata[1]}}<br>score %{{x:.3g}}<br>{extra_label} "
             "%{customdata[2]}" + ("<br>members' ranks %{customdata[3]}" if "rank_low" in shown else "")
             + "<extra></extra>")
    bar = go.Bar(x=shown["score"], y=names, orientation="h", customdata=custom, hovertemplate=hover,
                 marker_color=np.where(shown["measured"].to_numpy(dtype=bool), MEASURED, NOT_MEASURED).tolist())
    fig = go.Figure(bar)
    fig.add_vline(x=0, line_color="#888", line_width=1)
    return fig.update_layout(
        title=plotly_text(title) if title else f"The {len(shown)} best regulators",
        xaxis_title=SCORE_LABELS[kind], yaxis={"type": "category", "automargin": True},
        height=max(320, 22 * len(shown) + 120), margin=_MARGIN, showlegend=False)


def pairs_figure(pairs: pd.DataFrame, kind: str, *, title: str = "") -> go.Figure:
    """Each pair's score (y) against its additive expectation (x), with the diagonal: above it, the pair does more
    together than its two singles add up to."""
    names = plotly_texts(pairs["pair"])
    low = float(min(pairs["score"].min(), pairs["additive"].min(), 0.0)) if len(pairs) else 0.0
    high = float(max(pairs["score"].max(), pairs["additive"].max(), 0.0)) if len(pairs) else 1.0
    points = go.Scatter(x=pairs["additive"], y=pairs["score"], mode="markers", text=names,
                        marker={"color": pairs["synergy"], "colorscale": "RdBu_r", "cmid": 0, "size": 9,
                                "colorbar": {"title": "synergy"}},
                        hovertemplate="<b>%{text}</b><br>together %{y:.3g}<br>sum of singles %{x:.3g}<extra></extra>")
    fig = go.Figure([go.Scatter(x=[low, high], y=[low, high], mode="lines", line={"color": "#888", "dash": "dot"},
                                hoverinfo="skip"), points])
    return fig.update_layout(title=plotly_text(title) if title else "Pairs against the sum of their singles",
                             xaxis_title=f"the two singles' changes added up ({SCORE_LABELS[kind]})",
                             yaxis_title="the pair together", margin=_MARGIN, showlegend=False, height=420)
