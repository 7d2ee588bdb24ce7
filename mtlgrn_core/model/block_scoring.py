"""Every regulator x gene pair scored at once: the edge decoder of :class:`~mtlgrn_core.model.network.MTLGRN` rewritten
as matrix products over blocks of regulators, for genome-scale ranking (30 million pairs in seconds).

:meth:`MTLGRN.edge_logits` scores a list of pairs: it gathers both genes' embeddings and the pair's evidence
per pair, which is what training needs and what took 73 s for 30 million pairs. Here a block of regulators is
scored against every gene with the same arithmetic reorganised:

- the pair evidence (:func:`~mtlgrn_core.model.network.pair_evidence`) comes from a matrix product (co-expression)
  and row lookups (knockout z-scores, degrees, reciprocity);
- the decoder's first layer ``W [a, b, a * b, p] + c`` is split into its parts: ``W_b b`` once per target
  gene, ``W_a a + c`` and ``(a * W_ab)`` once per regulator, so that the product term for the whole block is
  one matrix product ``[b, 1] @ M`` (``M`` stacks each regulator's ``(a * W_ab)`` and ``W_a a + c``);
- every intermediate lives in buffers allocated once per scorer (fresh allocations of this size cost more
  than the arithmetic: the memory pages are zeroed on each first touch).

Arrays are laid out target-major, ``(n_genes, block, ...)``, so that the product above is a single matrix
product. Tests check the result equals :meth:`MTLGRN.edge_logits` pair by pair for every decoder.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlgrn_core.model.network import (
    MTLGRN,
    N_KNOCKOUT_FEATURES,
    N_PAIR_FEATURES,
    GeneTensors,
    knockout_evidence,
    log_degrees,
    regulator_similarity_rows,
    reverse_known,
)


class EdgeBlockScorer:
    """Edge logits of every pair ``regulator -> gene`` for blocks of at most ``block`` regulators.

    Parameters
    ----------
    model, z, data
        A model in eval mode, its gene embeddings and its inputs.
    block
        The most regulators scored per call (sizes the buffers).
    """

    def __init__(self, model: MTLGRN, z: Tensor, data: GeneTensors, block: int):
        self.data, self.block, self.n = data, block, data.n_genes
        shape = model.shape
        self.n_pair, self.similarity = shape.n_pair_features, shape.regulator_similarity
        self.linear = model.pair_linear
        self.pair_mlp = model.pair_mlp
        self.evidence_only = self.linear is not None and shape.edge_decoder == "evidence"
        # a validated decoder is its full decoder, or its evidence's network where validation kept that one
        alone = model.evidence_mlp is not None and not model.embedding_gate
        self.with_embeddings = self.linear is None or (shape.edge_decoder in ("full", "validated") and not alone)
        decoder = model.evidence_mlp if alone else model.edge_mlp
        first, self.last = decoder[0], decoder[-1]
        h = first.weight.shape[0]
        self.h = h
        n_embedding = 3 * shape.hidden if self.with_embeddings else 0
        self.w_pair = first.weight[:, n_embedding:].T.contiguous()  # (16, h): the pair evidence's part
        self.bias = first.bias
        if self.with_embeddings:
            e = shape.hidden
            self.w_a, w_b, self.w_ab = first.weight[:, :e], first.weight[:, e:2 * e], first.weight[:, 2 * e:3 * e]
            self.regulator = model.as_regulator(z)  # (n, e): every gene's projection as a regulator
            target = model.as_target(z)
            self.target_ones = torch.cat([target, target.new_ones(self.n, 1)], dim=1)  # [b, 1]
            self.target_term = target @ w_b.T  # W_b b, once per gene
        self.log_out_degree, self.log_in_degree = log_degrees(data)
        self._buffers: dict[str, Tensor] = {}

    def _buffer(self, name: str, n: int, size: int, *rest: int) -> Tensor:
        """An ``(n, size, *rest)`` view of one allocation sized for a full block, reused across calls."""
        width = 1
        for r in rest:
            width *= r
        if name not in self._buffers:
            self._buffers[name] = torch.empty(n * self.block * width, device=self.data.device)
        return self._buffers[name][:n * size * width].view(n, size, *rest)

    def __call__(self, src: Tensor) -> Tensor:
        """``(len(src), n_genes)`` logits of ``src[i] -> gene j`` (``src``: at most ``block`` distinct genes;
        the self-pairs are scored like any other, callers leave them out)."""
        with torch.no_grad():
            n, size = self.n, src.numel()
            if self.linear is None:
                return self._hidden_to_logit(self._embedding_terms(src, None)).T
            evidence = self.evidence(src).view(n * size, self.n_pair)
            linear = torch.mv(evidence, self.linear.weight[0]).add_(self.linear.bias)
            if self.evidence_only:
                return linear.view(n, size).T
            pair_hidden = self._pair_hidden(evidence, size)
            if self.with_embeddings:
                hidden = self._embedding_terms(src, pair_hidden)
            else:
                hidden = self._buffer("hidden", n, size, self.h)
                torch.addmm(self.bias, pair_hidden, self.w_pair, out=hidden.view(n * size, self.h))
            return self._hidden_to_logit(hidden).add_(linear.view(n, size)).T

    def evidence(self, src: Tensor) -> Tensor:
        """``(n_genes, len(src), n_pair)``: :func:`~mtlgrn_core.model.network.pair_evidence` of every pair
        ``src[i] -> gene j``."""
        data, n, size = self.data, self.n, src.numel()
        block = self._buffer("evidence", n, size, self.n_pair)
        corr = torch.mm(data.expression, data.expression[src].T).div_(data.expression.shape[1])
        block[:, :, 0] = corr
        block[:, :, 1] = corr.abs_()
        for k, feature in enumerate(knockout_evidence(data, src)):
            block[:, :, 2 + k] = feature.T
        base = 2 + N_KNOCKOUT_FEATURES
        block[:, :, base] = self.log_out_degree[src].unsqueeze(0)
        block[:, :, base + 1] = self.log_in_degree.unsqueeze(1)
        block[:, :, base + 2] = reverse_known(data, src)
        if self.similarity:
            for k, feature in enumerate(regulator_similarity_rows(data, src)):
                block[:, :, N_PAIR_FEATURES + k] = feature.T
        return block

    def _pair_hidden(self, evidence: Tensor, size: int) -> Tensor:
        """``gelu(pair_mlp(evidence))`` per pair, ``(n_genes * size, 16)``."""
        first, last = self.pair_mlp[0], self.pair_mlp[-1]
        rows = evidence.shape[0]
        inner = self._buffer("pair_inner", self.n, size, first.weight.shape[0]).view(rows, -1)
        torch.ops.aten.gelu_(torch.addmm(first.bias, evidence, first.weight.T, out=inner))
        out = self._buffer("pair_hidden", self.n, size, last.weight.shape[0]).view(rows, -1)
        return torch.ops.aten.gelu_(torch.addmm(last.bias, inner, last.weight.T, out=out))

    def _embedding_terms(self, src: Tensor, pair_hidden: Tensor | None) -> Tensor:
        """The decoder's first layer, ``(n_genes, size, h)``: ``[b, 1] @ M + W_b b (+ W_p p)``, ``M`` stacking
        each regulator's ``(a * W_ab)^T`` and ``W_a a + c``."""
        n, size, h = self.n, src.numel(), self.h
        a = self.regulator[src]
        per_regulator = torch.cat([(a.unsqueeze(1) * self.w_ab.unsqueeze(0)).transpose(1, 2),
                                   (a @ self.w_a.T + self.bias).unsqueeze(1)], dim=1)  # (size, e + 1, h)
        stacked = per_regulator.permute(1, 0, 2).reshape(-1, size * h)
        hidden = self._buffer("hidden", n, size, h)
        if pair_hidden is None:
            hidden.copy_(self.target_term.unsqueeze(1).expand(n, size, h))
        else:
            torch.mm(pair_hidden, self.w_pair, out=hidden.view(n * size, h))
            hidden.add_(self.target_term.unsqueeze(1))
        return torch.addmm(hidden.view(n, size * h), self.target_ones, stacked,
                           out=hidden.view(n, size * h)).view(n, size, h)

    def _hidden_to_logit(self, hidden: Tensor) -> Tensor:
        """GELU then the decoder's last layer: ``(n_genes, size)`` logits."""
        n, size, h = hidden.shape
        torch.ops.aten.gelu_(hidden)
        out = self._buffer("logit", n, size)
        torch.mv(hidden.view(n * size, h), self.last.weight[0], out=out.view(n * size))
        return out.add_(self.last.bias)
