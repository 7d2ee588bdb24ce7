"""The encoder's message passing: a direction-aware multi-head attention layer over the known network, built on
PyTorch Geometric (``DirGNNConv`` around ``GATConv``). Kept apart from :mod:`mtlgrn_core.model` so that what does
not pass messages (a query on a run's saved embeddings) never loads PyTorch Geometric, a second of start-up."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DirGNNConv, GATConv

from mtlgrn_core.model.randomness import StreamDropout


class StreamGATConv(GATConv):
    """``GATConv`` whose attention dropout draws from the training's own stream (:class:`StreamDropout`)
    instead of ``F.dropout`` on torch's global generator. Same parameters (and state_dict keys) as ``GATConv``."""

    def __init__(self, *args, dropout: float = 0.0, **kwargs):
        super().__init__(*args, dropout=0.0, **kwargs)  # GATConv's own F.dropout: off
        self.attention_dropout = StreamDropout(dropout)

    def edge_update(self, alpha_j: Tensor, alpha_i: Tensor | None, edge_attr: Tensor | None, index: Tensor,
                    ptr: Tensor | None, dim_size: int | None) -> Tensor:
        alpha = super().edge_update(alpha_j, alpha_i, edge_attr, index, ptr, dim_size)
        return alpha if index.numel() == 0 else self.attention_dropout(alpha)


class DirectedGATLayer(nn.Module):
    """One round of attention message passing along the edges and, separately, against them
    (``torch_geometric.nn.DirGNNConv`` around a multi-head ``GATConv``), with a residual connection."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        per_head = max(hidden // heads, 1)
        gat = StreamGATConv(hidden, per_head, heads=heads, add_self_loops=False, dropout=dropout)
        self.conv = DirGNNConv(gat, alpha=0.5, root_weight=False)  # targets hear regulators and vice versa
        self.project = nn.Identity() if per_head * heads == hidden else nn.Linear(per_head * heads, hidden)
        self.self_lin = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.dropout = StreamDropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = self.self_lin(x) + self.project(self.conv(x, edge_index))
        return x + self.dropout(F.gelu(self.norm(h)))
