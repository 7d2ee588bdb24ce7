"""The MTLGRN network: modality encoders, a direction-aware GAT encoder and three task heads.

``encode()`` gives gene embeddings ``Z``; ``edge_logits()`` scores directed pairs (score(a, b) differs from
score(b, a)); ``knockout_delta()`` predicts every gene's standardised change for any set of perturbed genes
and doses along the network (the observational linear responses, a learned propagation over the prior and the
common response to any perturbation: it answers for genes never perturbed in training), corrected by the
measured response of the genes whose knockout was measured;
``reconstruct()`` rebuilds standardised expression as gene embeddings times sample embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlgrn_core.model.features import Z_CLIP, knockout_strength
from mtlgrn_core.model.randomness import StreamDropout

N_KNOCKOUT_FEATURES = 11
N_GRAPH_FEATURES = 3
N_PAIR_FEATURES = 2 + N_KNOCKOUT_FEATURES + N_GRAPH_FEATURES  # pair_evidence() without the similarity features
N_SIMILARITY_FEATURES = 2  # regulator_similarity_rows(): appended where ModelShape.regulator_similarity is on
PAIR_ABS_KO_Z = 3  # position of |knockout z| in pair_evidence()
PAIR_KO_PATH = 12  # position of the two-step knockout path
PROPAGATION_HOPS = 3


@dataclass(frozen=True)
class ModelShape:
    """What the model's parameter shapes depend on (saved in a run's config)."""

    feature_dims: dict[str, int]
    n_genes: int
    n_samples: int
    hidden: int = 64
    heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    pair_evidence: bool = True
    edge_decoder: str = "full"
    regulator_similarity: bool = False  # off in runs saved before it existed: their weights have no column for it

    @property
    def n_pair_features(self) -> int:
        """Numbers per pair in the decoder's evidence (0 without pair evidence)."""
        if not self.pair_evidence:
            return 0
        return N_PAIR_FEATURES + (N_SIMILARITY_FEATURES if self.regulator_similarity else 0)


EDGE_DECODERS = {
    "full": "both genes' embeddings and the pairwise evidence",
    "evidence": "a learned linear function of the pairwise evidence (no embedding)",
    "evidence_mlp": "the pairwise evidence through the decoder's network (no embedding, so no GNN)",
    "validated": "the full decoder and the evidence's own network trained side by side; the one the validation "
                 "pairs rank better is kept",
}


class GeneTensors:
    """Model inputs as tensors on one device (built once from :class:`~mtlgrn_core.model.features.ModelInputs`)."""

    def __init__(self, inputs, device: torch.device | str = "cpu"):
        def t(a, dtype=torch.float32):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

        self.features = {k: t(v) for k, v in inputs.features.items()}
        self.graph = t(inputs.graph, torch.long)
        self.graph_sign = t(inputs.graph_sign)
        self.expression = t(inputs.expression)
        self.ko_genes = t(inputs.ko_genes, torch.long)
        self.ko_response = t(inputs.ko_response)
        ko_row = np.full(inputs.n_genes, -1, dtype=np.int64)
        ko_row[inputs.ko_genes] = np.arange(len(inputs.ko_genes))
        self.ko_row_of_gene = t(ko_row, torch.long)
        # 1 for a gene whose knockout response was measured (a row of ko_response): the knockout head corrects
        # the network's prediction for it (the trainer hides some each epoch, as for genes never perturbed)
        seen = np.zeros(inputs.n_genes, dtype=np.float32)
        seen[inputs.ko_genes] = 1.0
        self.response_seen = t(seen)
        self.n_genes = inputs.n_genes
        self.ko_zscore = t(np.clip(inputs.ko_zscore, -Z_CLIP, Z_CLIP))
        self.ko_zscore_has = t(inputs.ko_zscore_has)
        # log1p |knockout z| without each perturbed gene's own (forced) change: what the pair evidence reads
        self.ko_abs = t(knockout_strength(inputs.ko_zscore, inputs.ko_genes))
        self.ko_path = t(inputs.ko_path)
        self.ko_abs_row_max = self.ko_abs.amax(dim=1) if len(inputs.ko_genes) else self.ko_abs.new_zeros(0)
        self.device = torch.device(device)
        # |corr| of the regulators asked so far with every gene (abs_correlations): rows filled on first use
        self._corr_slot = torch.full((self.n_genes,), -1, dtype=torch.long, device=self.device)
        self._corr_rows = torch.zeros(0, self.n_genes, device=self.device)

    def abs_correlations(self, genes: Tensor) -> tuple[Tensor, Tensor]:
        """``(rows, slot)``: ``rows[slot[i]]`` is ``|corr|`` of ``genes[i]`` with every gene (its own entry 0).
        Each gene's row is computed once per object and kept (at most regulators x genes numbers: the pairs
        scored are regulator -> gene)."""
        missing = torch.unique(genes[self._corr_slot[genes] < 0])
        if missing.numel():
            x = self.expression
            fresh = torch.mm(x[missing], x.T).div_(x.shape[1]).abs_()
            fresh[torch.arange(missing.numel(), device=self.device), missing] = 0.0
            self._corr_slot[missing] = torch.arange(missing.numel(), device=self.device) + self._corr_rows.shape[0]
            self._corr_rows = torch.cat([self._corr_rows, fresh])
        return self._corr_rows, self._corr_slot[genes]


def signed_log(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def pair_evidence(data: GeneTensors, src: Tensor, dst: Tensor, *, similarity: bool = False) -> Tensor:
    """``N_PAIR_FEATURES`` numbers per pair (``+ N_SIMILARITY_FEATURES`` with ``similarity``): evidence that
    ``src`` regulates ``dst`` from the data.

    - co-expression, signed and absolute;
    - the robust z-score of ``dst`` when ``src`` is knocked out and when it is knocked down (signed and
      absolute, each with a flag saying whether it was measured);
    - the reverse knockout z (``src`` when ``dst`` is knocked out: a target rarely moves its regulator);
    - how exceptional the response is among ``src``'s targets (its share of that knockout's strongest);
    - the strongest response of ``dst``'s known regulators (edges of the current graph) to the knockout of
      ``src``, and the strongest two-step knockout path ``src -> m -> dst``
      (:func:`~mtlgrn_core.model.features.indirect_paths`): both explain an indirect effect away;
    - the known out-degree of ``src`` and in-degree of ``dst`` (relative to the graph's mean degree,
      ``log1p``): the hub structure of the prior;
    - whether the reverse edge ``dst -> src`` is known: curated networks are often reciprocal (on BEELINE's
      STRING truths, predicting an edge wherever its reverse is a training edge scores 0.35-0.60 test AUPRC);
    - with ``similarity``, who else regulates ``dst`` (:func:`regulator_similarity_rows`): how co-expressed
      ``src`` is with ``dst``'s known regulators, the strongest and the sum. A regulator without any known edge
      (TF hold-out) still has its expression, and regulators of the same genes tend to move together.

    Z-scores enter as ``sign * log1p(|z|)``.
    """
    corr = (data.expression[src] * data.expression[dst]).mean(dim=1)
    parts = [torch.stack([corr, corr.abs()], dim=1),
             torch.stack(knockout_evidence(data, src, dst), dim=1),
             _graph_evidence(data, src, dst)]
    if similarity:
        parts.append(_similarity_evidence(data, src, dst))
    return torch.cat(parts, dim=1)


def _similarity_evidence(data: GeneTensors, src: Tensor, dst: Tensor) -> Tensor:
    """:func:`regulator_similarity_rows` of the pairs only: each pair reads its target's known regulators."""
    gsrc, gdst = data.graph
    out = torch.zeros(src.numel(), N_SIMILARITY_FEATURES, device=src.device)
    if gsrc.numel() == 0 or src.numel() == 0:
        return out
    order = torch.argsort(gdst)
    regulators = gsrc[order]  # grouped by target
    in_degree = torch.bincount(gdst, minlength=data.n_genes)
    first = torch.cumsum(in_degree, 0) - in_degree  # where each target's regulators start
    counts = in_degree[dst]
    pair = torch.repeat_interleave(torch.arange(src.numel(), device=src.device), counts)
    offset = torch.arange(pair.numel(), device=src.device) - (torch.cumsum(counts, 0) - counts)[pair]
    rows, slot = data.abs_correlations(src)
    values = rows[slot[pair], regulators[first[dst][pair] + offset]]
    top = out[:, 0].scatter_reduce(0, pair, values, "amax")
    total = out[:, 1].index_add(0, pair, values)
    mean_degree = gsrc.numel() / data.n_genes
    return torch.stack([top, torch.log1p(total / mean_degree)], dim=1)


def regulator_similarity_rows(data: GeneTensors, rows: Tensor) -> Tensor:
    """``(N_SIMILARITY_FEATURES, len(rows), n_genes)``: for each regulator in ``rows`` and each gene ``g``, the
    largest ``|corr|`` of the regulator with a known regulator of ``g`` (an edge of the current graph; the
    regulator itself left out), and ``log1p`` of the sum of those ``|corr|`` relative to the graph's mean degree
    (a known in-degree weighted by similarity)."""
    gsrc, gdst = data.graph
    n = data.n_genes
    top = torch.zeros(rows.numel(), n, device=rows.device)
    total = torch.zeros(rows.numel(), n, device=rows.device)
    if gsrc.numel() and rows.numel():
        corr, slot = data.abs_correlations(rows)
        for start in range(0, rows.numel(), 256):  # bounded memory: 256 regulators x edges at a time
            part = slot[start:start + 256]
            block = corr[part[:, None], gsrc[None, :]]
            index = gdst.expand(part.numel(), -1)
            top[start:start + 256] = top[start:start + 256].scatter_reduce(1, index, block, "amax")
            total[start:start + 256] = total[start:start + 256].scatter_add(1, index, block)
    mean_degree = max(gsrc.numel(), 1) / n
    return torch.stack([top, torch.log1p(total / mean_degree)])


def knockout_evidence(data: GeneTensors, src: Tensor, dst: Tensor | None = None) -> list[Tensor]:
    """The :data:`N_KNOCKOUT_FEATURES` knockout features of :func:`pair_evidence`: of the pairs
    ``src[i] -> dst[i]`` (each ``(pairs,)``), or with ``dst=None`` of every pair ``src[i] -> gene j`` (each
    ``(len(src), n_genes)`` or broadcastable to it, as block scoring reads them)."""
    if data.ko_zscore.shape[0] == 0:
        return [torch.zeros((src.numel(),) if dst is not None else (1, 1), device=src.device)] * N_KNOCKOUT_FEATURES
    rows = data.ko_row_of_gene[src]
    fwd = rows.clamp(min=0)
    measured = (rows >= 0).float().unsqueeze(1) * data.ko_zscore_has[fwd]  # (len(src), 2): knockout, knockdown
    target_rows = data.ko_row_of_gene if dst is None else data.ko_row_of_gene[dst]
    rev = target_rows.clamp(min=0)
    has_rev = (target_rows >= 0).float() * data.ko_zscore_has[rev, 0]
    if dst is None:  # every gene a target: a row per regulator, its own numbers as one column
        ko, kd, has_rev = measured[:, :1], measured[:, 1:], has_rev.unsqueeze(0)
        z_ko, z_kd = data.ko_zscore[fwd, 0], data.ko_zscore[fwd, 1]
        strength, strongest = data.ko_abs[fwd], data.ko_abs_row_max[fwd].unsqueeze(1)
        reverse = data.ko_abs[:, src][rev].T
        explained, path = regulator_response_rows(data, fwd), data.ko_path[fwd]
    else:
        ko, kd = measured[:, 0], measured[:, 1]
        z_ko, z_kd = data.ko_zscore[fwd, 0, dst], data.ko_zscore[fwd, 1, dst]
        strength, strongest = data.ko_abs[fwd, dst], data.ko_abs_row_max[fwd]
        reverse = data.ko_abs[rev, src]
        explained, path = _regulator_response(data, fwd, dst), data.ko_path[fwd, dst]
    z_ko, z_kd = signed_log(z_ko) * ko, signed_log(z_kd) * kd
    share = strength / strongest.clamp(min=1e-6) * ko
    return [z_ko, z_ko.abs(), ko, z_kd, z_kd.abs(), kd, reverse * has_rev, has_rev, share, explained * ko, path * ko]


def _graph_evidence(data: GeneTensors, src: Tensor, dst: Tensor) -> Tensor:
    """Degrees and reciprocity in the current (known) graph; the pair itself is never in it while scored."""
    log_out, log_in = log_degrees(data)
    return torch.stack([log_out[src], log_in[dst], reverse_known(data, src, dst)], dim=1)


def reverse_known(data: GeneTensors, src: Tensor, dst: Tensor | None = None) -> Tensor:
    """1 where the current graph holds the reverse of a pair: ``dst[i] -> src[i]`` (``(pairs,)``), or with
    ``dst=None`` ``gene j -> src[i]`` for every gene (``(n_genes, len(src))``, as block scoring lays it out)."""
    gsrc, gdst = data.graph
    if dst is not None:
        return torch.isin(dst * data.n_genes + src, gsrc * data.n_genes + gdst).float()
    position = torch.full((data.n_genes,), -1, dtype=torch.long, device=src.device)
    position[src] = torch.arange(src.numel(), device=src.device)
    into_src = position[gdst] >= 0
    known = torch.zeros(data.n_genes, src.numel(), device=src.device)
    known[gsrc[into_src], position[gdst[into_src]]] = 1.0
    return known


def log_degrees(data: GeneTensors) -> tuple[Tensor, Tensor]:
    """Every gene's ``log1p`` out- and in-degree in the current graph, relative to its mean degree."""
    gsrc, gdst = data.graph
    mean_degree = max(gsrc.numel(), 1) / data.n_genes
    out_degree = torch.bincount(gsrc, minlength=data.n_genes).float() / mean_degree
    in_degree = torch.bincount(gdst, minlength=data.n_genes).float() / mean_degree
    return torch.log1p(out_degree), torch.log1p(in_degree)


def _regulator_response(data: GeneTensors, rows: Tensor, dst: Tensor) -> Tensor:
    """For each pair, the largest ``|z|`` that knockout ``rows`` causes in a graph regulator of ``dst``."""
    unique, where = torch.unique(rows, return_inverse=True)
    return regulator_response_rows(data, unique)[where, dst]


def regulator_response_rows(data: GeneTensors, rows: Tensor) -> Tensor:
    """``(len(rows), n_genes)``: for each knockout row and each gene, the largest ``|z|`` the knockout causes
    in a graph regulator of the gene."""
    gsrc, gdst = data.graph
    out = torch.zeros(rows.numel(), data.ko_abs.shape[1], device=rows.device)
    if gsrc.numel() == 0:
        return out
    for start in range(0, rows.numel(), 256):  # bounded memory: 256 knockouts x edges at a time
        block = data.ko_abs[rows[start:start + 256]][:, gsrc]
        out[start:start + 256] = out[start:start + 256].scatter_reduce(
            1, gdst.expand(block.shape[0], -1), block, "amax", include_self=True)
    return out


def _message_passing(shape: ModelShape) -> list[nn.Module]:
    """The encoder's ``shape.layers`` rounds of message passing (:mod:`mtlgrn_core.model.gat`, which loads PyTorch
    Geometric: imported here, when a network with an encoder is built, so that a query needs none of it)."""
    from mtlgrn_core.model.gat import DirectedGATLayer

    return [DirectedGATLayer(shape.hidden, shape.heads, shape.dropout) for _ in range(shape.layers)]


def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.GELU(), StreamDropout(dropout)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class MTLGRN(nn.Module):
    """Multi-task graph neural network over genes.

    Parameters
    ----------
    shape
        Feature dimensions and sizes; see :class:`ModelShape`.
    encoder
        False builds the network without its message-passing layers (and without loading PyTorch Geometric):
        for a trained run whose saved embeddings stand in for :meth:`encode` (a knockout query from a fresh
        process); its state is then loaded without the ``gat.`` weights.
    """

    def __init__(self, shape: ModelShape, *, encoder: bool = True):
        super().__init__()
        self.shape, self.has_encoder = shape, encoder
        h = shape.hidden
        self.encoders = nn.ModuleDict({name: nn.Linear(dim, h) for name, dim in shape.feature_dims.items()})
        self.input_norm = nn.LayerNorm(h)
        self.gat = nn.ModuleList(_message_passing(shape) if encoder else [])
        # edge decoder: role-specific projections make scoring directional
        self.as_regulator = nn.Linear(h, h)
        self.as_target = nn.Linear(h, h)
        n_pair = shape.n_pair_features
        self.pair_mlp = _mlp([n_pair, 16, 16]) if n_pair else None
        validated = bool(n_pair) and shape.edge_decoder == "validated"
        n_embedding = 0 if shape.edge_decoder == "evidence_mlp" else 3 * h
        self.edge_mlp = _mlp([n_embedding + (16 if n_pair else 0), h, 1], shape.dropout)
        # validated decoder: the full decoder above and a network of the evidence alone, trained side by side;
        # the trainer keeps the one the validation pairs rank better (embedding_gate 1: the full one)
        self.evidence_mlp = _mlp([16, h, 1], shape.dropout) if validated else None
        if validated:
            self.register_buffer("embedding_gate", torch.ones(()))
        # the evidence also enters the logit linearly, starting from the transitive-reduced knockout z-score
        # (the strongest single clue there is; TrainConfig.evidence_start may replace it with a logistic
        # regression of the training pairs before the first epoch): the network learns corrections to it
        # rather than rediscovering it (on the DREAM4 TF hold-out, seeds 0-1, a zero start scored 0.29 mean
        # test AUPRC against 0.35)
        self.pair_linear = nn.Linear(n_pair, 1) if n_pair else None
        if self.pair_linear is not None:
            with torch.no_grad():
                self.pair_linear.weight.zero_()
                self.pair_linear.weight[0, PAIR_ABS_KO_Z] = 2.0
                self.pair_linear.weight[0, PAIR_KO_PATH] = -1.0  # transitive reduction: |z| - path / 2
        # knockout head: how each gene moves under any knockout (stress, dilution, batch); the trainer starts
        # it at the mean training response, the strong baseline of the perturbation literature
        self.ko_offset = nn.Parameter(torch.zeros(shape.n_genes))
        # signed strength of each prior edge, from both genes' embeddings and the edge's sign: the knockout
        # is propagated along the prior network, which carries it to genes never knocked out in training
        self.edge_strength = _mlp([2 * h + 1, h, 1])
        # expression reconstruction head
        self.expr_gene = nn.Linear(h, h)
        self.sample_embedding = nn.Parameter(torch.randn(shape.n_samples, h) / h ** 0.5)
        self.expr_bias = nn.Parameter(torch.zeros(shape.n_genes))

    # -- encoder ---------------------------------------------------------------------------------------
    def encode(self, data: GeneTensors) -> Tensor:
        """Gene embeddings ``Z`` (n_genes x hidden)."""
        if not self.has_encoder:
            raise RuntimeError("this network was built without its message-passing layers (encoder=False): use "
                               "the run's saved embeddings, or build it with its encoder")
        x = torch.zeros(self.shape.n_genes, self.shape.hidden, device=data.device)
        for name, encoder in self.encoders.items():
            block = encoder(data.features[name])
            if name == "knockout_out":  # one row per knocked-out gene
                x = x.index_add(0, data.ko_genes, block)
            else:
                x = x + block
        x = F.gelu(self.input_norm(x))
        for layer in self.gat:
            x = layer(x, data.graph)
        return x

    # -- edges -----------------------------------------------------------------------------------------
    def pair_features(self, data: GeneTensors, src: Tensor, dst: Tensor) -> Tensor:
        """Evidence that ``src`` regulates ``dst`` straight from the data (:func:`pair_evidence`)."""
        return pair_evidence(data, src, dst, similarity=self.shape.regulator_similarity)

    def edge_logits(self, z: Tensor, data: GeneTensors, src: Tensor, dst: Tensor, *,
                    evidence: Tensor | None = None) -> Tensor:
        """Logit that ``src`` regulates ``dst`` for each pair.

        ``full`` decoder: both genes' embeddings (role projections and their product) and the pairwise
        evidence through an MLP, plus the evidence's linear term. ``evidence`` decoder: the linear term
        alone, for regulators that have no known edge (TF hold-out), whose embeddings carry nothing the
        model could have learned about them. ``evidence_mlp``: the evidence through the same MLP plus the
        linear term, no embedding (the "no GNN" ablation). ``validated``: the ``full`` decoder, or a network
        of the evidence alone plus the linear term where validation kept that one (``embedding_gate`` 0; see
        :meth:`validated_logits`). Without pair evidence (``shape.pair_evidence`` off) the embeddings alone.
        ``evidence`` may hand in :func:`pair_evidence` of these pairs when already computed (it depends on the
        data and the graph only).
        """
        if self.pair_linear is None:
            return self._embedding_decoded(z, src, dst, None)
        if evidence is None:
            evidence = self.pair_features(data, src, dst)
        linear = self.pair_linear(evidence).squeeze(-1)
        if self.shape.edge_decoder == "evidence":
            return linear
        hidden = F.gelu(self.pair_mlp(evidence))
        if self.evidence_mlp is not None and not self.embedding_gate:
            return self.evidence_mlp(hidden).squeeze(-1) + linear
        return self._decoded(z, src, dst, hidden) + linear

    def _decoded(self, z: Tensor, src: Tensor, dst: Tensor, hidden: Tensor) -> Tensor:
        """``edge_mlp`` of the pairs: of both genes' embeddings and the evidence's hidden layer (``hidden``),
        or of the latter alone (``evidence_mlp`` decoder)."""
        if self.shape.edge_decoder == "evidence_mlp":
            return self.edge_mlp(hidden).squeeze(-1)
        return self._embedding_decoded(z, src, dst, hidden)

    def _embedding_decoded(self, z: Tensor, src: Tensor, dst: Tensor, hidden: Tensor | None) -> Tensor:
        """``edge_mlp([a, b, a * b(, hidden)])`` with ``a`` / ``b`` the role projections of ``src`` / ``dst``, its
        first layer ``W [a, b, a * b, hidden] + c`` split into its parts: the projections and ``W_a a``, ``W_b b``
        once per gene and gathered, only ``a * b`` and ``hidden`` per pair (the validation pairs outnumber the
        genes 30 to 1: per pair, this layer was most of an epoch at 4,000 genes)."""
        first, e = self.edge_mlp[0], self.shape.hidden
        w = first.weight
        a_all, b_all = self.as_regulator(z), self.as_target(z)
        a, b = a_all[src], b_all[dst]
        per_pair = a * b if hidden is None else torch.cat([a * b, hidden], dim=1)
        out = torch.addmm(first.bias, per_pair, w[:, 2 * e:].T)
        out = out + (a_all @ w[:, :e].T)[src] + (b_all @ w[:, e:2 * e].T)[dst]
        return self.edge_mlp[1:](out).squeeze(-1)

    def validated_logits(self, z: Tensor, data: GeneTensors, src: Tensor, dst: Tensor, *,
                         evidence: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The ``validated`` decoder's two logits per pair: the full decoder's and the evidence's alone."""
        if evidence is None:
            evidence = self.pair_features(data, src, dst)
        linear = self.pair_linear(evidence).squeeze(-1)
        hidden = F.gelu(self.pair_mlp(evidence))
        return self._decoded(z, src, dst, hidden) + linear, self.evidence_mlp(hidden).squeeze(-1) + linear

    # -- knockouts -------------------------------------------------------------------------------------
    def knockout_delta(self, z: Tensor, data: GeneTensors, genes: Tensor, doses: Tensor, offsets: Tensor,
                       observed: Tensor, observed_seen: Tensor) -> Tensor:
        """Standardised change of every gene for each perturbation (rows).

        Perturbation ``j`` sets the genes ``genes[offsets[j]:offsets[j+1]]`` to ``doses`` times their level (0 =
        knockout). The network predicts it: ``observed`` (one row per perturbation), what the observational linear
        responses carry from the perturbed genes (:meth:`mtlgrn_core.model.linear_model.LinearModel.propagate_each`),
        plus the common response to any perturbation (``ko_offset``, scaled by the depth) and a learned propagation
        along the prior. A perturbed gene whose knockout was measured (``data.response_seen``) adds, scaled by its
        depth, what the network misses of its measured response (``data.ko_response``): its knockout alone is predicted
        as measured, and a combination as the network's prediction for it plus each measured gene's correction.
        ``observed_seen`` holds the linear responses' change for each measured gene knocked out alone (rows of
        ``data.ko_genes``).

        A gene never perturbed is predicted by the network alone: an earlier head that also read the knocked-out
        gene's embedding made unseen knockouts worse than the network alone (DREAM4 section 2, nets 1-4, Pearson
        over all genes: 0.61-0.65 with it, seeds 0-4; 0.64-0.68 without, seeds 0-1).
        """
        n_pert = offsets.numel() - 1
        owner = torch.repeat_interleave(torch.arange(n_pert, device=z.device), offsets.diff())
        depth = torch.zeros(n_pert, device=z.device).scatter_reduce(0, owner, 1.0 - doses, "amax",
                                                                     include_self=False)
        direct = torch.zeros(n_pert, z.shape[0], device=z.device).index_put(
            (owner, genes), 1.0 - doses, accumulate=True)
        measured = data.response_seen[genes] > 0
        rows = data.ko_row_of_gene[genes[measured]]
        alone = torch.zeros(rows.numel(), z.shape[0], device=z.device)
        alone[torch.arange(rows.numel(), device=z.device), genes[measured]] = 1.0
        carried = self.propagate(z, data, torch.cat([direct, alone]))  # one pass: the edge strengths once
        network = observed + depth.unsqueeze(1) * self.ko_offset + carried[:n_pert]
        if rows.numel() == 0:
            return network
        missed = data.ko_response[rows] - (observed_seen[rows] + self.ko_offset + carried[n_pert:])
        weight = (1.0 - doses[measured]).unsqueeze(1)
        return network.index_add(0, owner[measured], weight * missed)

    def propagate(self, z: Tensor, data: GeneTensors, change: Tensor, hops: int = PROPAGATION_HOPS) -> Tensor:
        """Carry a change of the perturbed genes (rows of ``change``) along the prior network for
        ``hops`` steps with learned signed edge strengths; the sum of the hops' changes."""
        src, dst = data.graph
        if src.numel() == 0:
            return torch.zeros_like(change)
        strength = self.edge_strengths(z, data)
        n = change.shape[1]
        # weights[g, r] = strength of r -> g: one hop is weights @ change (genes x perturbations)
        weights = torch.sparse_coo_tensor(torch.stack([dst, src]), strength, (n, n), check_invariants=False).coalesce()
        step, total = change.T, torch.zeros_like(change.T)
        for _ in range(hops):
            step = torch.sparse.mm(weights, step)
            total = total + step
        return total.T

    def edge_strengths(self, z: Tensor, data: GeneTensors) -> Tensor:
        """The learned signed strength of each edge of ``data.graph`` in :meth:`propagate` (one per column)."""
        src, dst = data.graph
        features = torch.cat([z[src], z[dst], data.graph_sign.unsqueeze(1)], dim=1)
        return self.edge_strength(features).squeeze(-1)

    # -- expression ------------------------------------------------------------------------------------
    def reconstruct(self, z: Tensor, samples: Tensor | None = None) -> Tensor:
        """Standardised expression (genes x samples) from gene and sample embeddings."""
        s = self.sample_embedding if samples is None else self.sample_embedding[samples]
        return self.expr_gene(z) @ s.T + self.expr_bias.unsqueeze(1)
