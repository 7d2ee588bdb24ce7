"""Gene features and pairwise evidence, as arrays the model consumes.

Each modality that is present in a :class:`~mtlgrn_core.inputs.data.Dataset` becomes one block of gene features;
a modality that is absent is skipped, never faked. Knockout responses are kept as rows for the knocked-out
genes only (never a dense genes x genes matrix).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtlgrn_core.inputs.data import Dataset

MODALITIES = ("expression", "promoter", "annotation", "knockout")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


@dataclass
class ModelInputs:
    """Everything the model reads, as float32/int64 numpy arrays (saved with a run).

    Attributes
    ----------
    features
        Modality -> ``(n_genes, dim)`` gene-feature block (``knockout_out`` has one row per knocked-out gene).
    graph
        ``(2, n_edges)`` gene indices of the message-passing graph (the training prior).
    graph_sign
        Sign of each graph edge from the prior: +1 activation, -1 repression, 0 unknown.
    expression
        Standardised expression, ``(n_genes, n_samples)``: each gene centred and scaled by ``scale``.
    baseline
        Control expression per gene (original units).
    scale
        Per-gene standard deviation used to standardise expression and knockout deltas.
    ko_genes
        Gene index of each row of ``ko_response`` (genes seen knocked out or down, single-gene only).
    ko_response
        ``(len(ko_genes), n_genes)`` normalised response: ``(x - baseline) / scale / (1 - dose)``, averaged
        over that gene's deepest perturbations (the dose farthest from 1).
    pert_genes, pert_doses, pert_offsets
        Perturbed samples in CSR form: sample ``j`` perturbs ``pert_genes[pert_offsets[j]:pert_offsets[j+1]]``
        with the matching doses.
    pert_samples
        Column index in ``expression`` of each perturbed sample.
    dose_range
        ``(min, max)`` of the doses seen in training.
    ko_zscore
        ``(len(ko_genes), 2, n_genes)`` robust z-scores of each gene's response to each perturbed gene:
        channel 0 from knockouts (dose 0), channel 1 from partial perturbations (0 < dose < 1); see
        :func:`perturbation_zscores` (not clipped). Zero where that kind of perturbation of the gene was
        never measured.
    ko_zscore_has
        ``(len(ko_genes), 2)``: 1 where the channel was measured for that gene.
    ko_path
        ``(len(ko_genes), n_genes)``: the strongest two-step knockout path to each gene
        (:func:`indirect_paths`).
    center
        Each gene's mean over the samples (original units), which ``expression`` is centred on: with ``scale``
        it gives any sample's level back (:mod:`~mtlgrn_core.answers.contexts`); ``None`` in runs saved before it.
    """

    features: dict[str, np.ndarray]
    graph: np.ndarray
    graph_sign: np.ndarray
    expression: np.ndarray
    baseline: np.ndarray
    scale: np.ndarray
    ko_genes: np.ndarray
    ko_response: np.ndarray
    pert_genes: np.ndarray
    pert_doses: np.ndarray
    pert_offsets: np.ndarray
    pert_samples: np.ndarray
    dose_range: tuple[float, float]
    ko_zscore: np.ndarray | None = None
    ko_zscore_has: np.ndarray | None = None
    ko_path: np.ndarray | None = None
    center: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ko_zscore is None:
            self.ko_zscore = np.zeros((len(self.ko_genes), 2, self.n_genes), dtype=np.float32)
            self.ko_zscore_has = np.zeros((len(self.ko_genes), 2), dtype=np.float32)
        if self.ko_path is None:
            self.ko_path = indirect_paths(self.ko_zscore, self.ko_genes)

    @property
    def n_genes(self) -> int:
        return self.baseline.shape[0]

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array mapping, for saving."""
        out = {f"feature.{k}": v for k, v in self.features.items()}
        for name in ("graph", "graph_sign", "expression", "baseline", "scale", "ko_genes", "ko_response", "pert_genes",
                     "pert_doses", "pert_offsets", "pert_samples", "ko_zscore", "ko_zscore_has", "ko_path"):
            out[name] = getattr(self, name)
        out["dose_range"] = np.array(self.dose_range, dtype=np.float32)
        if self.center is not None:
            out["center"] = self.center
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ModelInputs":
        feats = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("feature.")}
        rest = {k: v for k, v in arrays.items() if not k.startswith("feature.") and k != "dose_range"}
        lo, hi = (float(x) for x in arrays["dose_range"])
        return cls(features=feats, dose_range=(lo, hi), **rest)


def gene_scale(expression: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Per-gene standard deviation with a floor, so that flat genes do not blow up."""
    sd = expression.std(axis=1)
    floor = max(1e-3 * float(np.median(sd)) if sd.size else 0.0, 1e-6)
    return np.maximum(sd, floor).astype(dtype)


def standardise_rows(matrix: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Each row centred and scaled to unit variance (flat rows stay zero), as ``dtype`` (default float32):
    the matrix the model reads, where the mean over samples of two rows' product is their Pearson r."""
    centred = matrix - matrix.mean(axis=1, keepdims=True)
    return (centred / gene_scale(matrix, dtype=centred.dtype)[:, None]).astype(dtype)


def canonical_kmers(k: int) -> list[str]:
    """Canonical DNA k-mers (a k-mer and its reverse complement count as one)."""
    seen = []
    for letters in itertools.product("ACGT", repeat=k):
        kmer = "".join(letters)
        if kmer <= kmer.translate(_COMPLEMENT)[::-1]:
            seen.append(kmer)
    return seen


def kmer_features(promoters: dict[str, str], genes: tuple[str, ...], k: int = 5) -> np.ndarray:
    """Canonical k-mer frequencies per gene, log-scaled and standardised per k-mer; genes without a
    sequence get zeros (the column mean after standardising)."""
    vocab = {kmer: i for i, kmer in enumerate(canonical_kmers(k))}
    for kmer in list(vocab):
        vocab.setdefault(kmer.translate(_COMPLEMENT)[::-1], vocab[kmer])
    counts = np.zeros((len(genes), len(canonical_kmers(k))), dtype=np.float32)
    has_seq = np.zeros(len(genes), dtype=bool)
    for i, gene in enumerate(genes):
        seq = promoters.get(gene, "")
        if len(seq) < k:
            continue
        has_seq[i] = True
        idx = [vocab[seq[p:p + k]] for p in range(len(seq) - k + 1) if seq[p:p + k] in vocab]
        np.add.at(counts[i], idx, 1.0)
        counts[i] /= max(len(idx), 1)
    logged = np.log1p(1000.0 * counts)
    mean = logged[has_seq].mean(axis=0) if has_seq.any() else 0.0
    sd = logged[has_seq].std(axis=0) + 1e-6 if has_seq.any() else 1.0
    out = (logged - mean) / sd
    out[~has_seq] = 0.0
    return out.astype(np.float32)


def annotation_features(annotations: pd.DataFrame) -> np.ndarray:
    """Numeric columns standardised (missing -> 0 plus a missing flag); categorical columns one-hot."""
    blocks = []
    for col in annotations.columns:
        values = annotations[col]
        if pd.api.types.is_numeric_dtype(values):
            v = values.to_numpy(dtype=np.float64)
            missing = np.isnan(v)
            filled = np.where(missing, np.nanmean(v) if (~missing).any() else 0.0, v)
            sd = filled.std() or 1.0
            blocks.append(((filled - filled.mean()) / sd)[:, None])
            if missing.any():
                blocks.append(missing[:, None].astype(np.float64))
        else:
            cats = values.fillna("").astype(str)
            blocks.append(pd.get_dummies(cats).to_numpy(dtype=np.float64))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def _single_gene_responses(dataset: Dataset, baseline: np.ndarray, scale: np.ndarray):
    """Normalised response of every gene perturbed alone (dose != 1), from its deepest perturbation (the dose
    farthest from 1, the first seen on a tie; its samples averaged). Responses are not linear in the dose, so a
    knockdown divided by its depth is not a knockout (DREAM4 nets 1-4, double knockouts as the sum of two
    singles: Pearson 0.83-0.91 from the knockouts, 0.70-0.79 averaged with the knockdowns / 0.5)."""
    deepest = deepest_single_perturbations((p.sample, p.genes, p.dose) for p in dataset.perturbations())
    genes = np.array(sorted(deepest), dtype=np.int64)
    return genes, normalised_responses(dataset.expression, [deepest[g] for g in genes], baseline, scale)


def deepest_single_perturbations(perturbations) -> dict:
    """``gene -> (dose, samples)``: for each gene perturbed alone in ``perturbations`` (``(sample, genes,
    dose)``), its deepest dose (the farthest from 1, the first seen on a tie) and the samples at that dose."""
    deepest: dict = {}
    for sample, genes, pert_dose in perturbations:
        if len(genes) != 1:
            continue
        (gene,) = genes
        dose, samples = deepest.setdefault(gene, [pert_dose, []])
        if abs(1.0 - pert_dose) > abs(1.0 - dose) + 1e-9:
            deepest[gene] = [pert_dose, [sample]]
        elif pert_dose == dose:
            samples.append(sample)
    return {gene: (dose, samples) for gene, (dose, samples) in deepest.items()}


def normalised_responses(expression: np.ndarray, chosen, baseline: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """One row per ``(dose, samples)`` of ``chosen``: the samples' mean change from ``baseline`` in units of
    ``scale``, per unit of dose removed (``/ (1 - dose)``), float32."""
    rows = [(expression[:, samples].mean(axis=1) - baseline) / scale / (1.0 - dose) for dose, samples in chosen]
    return (np.stack(rows) if rows else np.zeros((0, expression.shape[0]))).astype(np.float32)


ROBUST_MIN_SAMPLES = 5  # fewer perturbed samples of a kind: compare with the controls instead of their median
Z_CLIP = 20.0


def perturbation_zscores(dataset: Dataset, ko_genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of every gene's response to each single-gene perturbation, per kind of perturbation.

    For each kind (channel 0: knockouts, dose 0; channel 1: knockdowns and other partial doses, 0 < dose < 1)
    a gene's reference is its median over all single-gene perturbations of that kind and its spread the
    standard deviation there: most perturbations leave a given gene alone, so the median is the gene's
    unperturbed level, free of the noise of one control sample (the DREAM challenges' best knockout scorers
    work the same way; on DREAM4 size 100 this raises the knockout z-score's AUPRC from 0.33-0.46 to
    0.37-0.49). With fewer than ``ROBUST_MIN_SAMPLES`` samples of a kind, the controls' mean and the gene's
    overall spread are used instead.

    Returns ``(z, has)``: ``z`` is ``(len(ko_genes), 2, n_genes)`` (replicates averaged, not clipped: the
    model clips it to +-``Z_CLIP`` where it reads it, the knockout z-score baseline ranks it as it is),
    ``has`` is ``(len(ko_genes), 2)``.
    """
    row_of = {int(g): k for k, g in enumerate(ko_genes)}
    x = np.asarray(dataset.expression, dtype=np.float64)
    z = np.zeros((len(ko_genes), 2, dataset.n_genes), dtype=np.float32)
    has = np.zeros((len(ko_genes), 2), dtype=np.float32)
    singles = [p for p in dataset.perturbations() if len(p.genes) == 1 and p.dose < 1.0]
    for channel, members in enumerate(([p for p in singles if p.dose == 0.0],
                                       [p for p in singles if 0.0 < p.dose < 1.0])):
        if not members:
            continue
        cols = np.array([p.sample for p in members], dtype=np.int64)
        reference, spread = _robust_reference(x, cols, dataset)
        sums = np.zeros((len(ko_genes), dataset.n_genes))
        counts = np.zeros(len(ko_genes))
        for p, col in zip(members, cols):
            row = row_of[int(p.genes[0])]
            sums[row] += (x[:, col] - reference) / spread
            counts[row] += 1
        measured = counts > 0
        z[measured, channel] = sums[measured] / counts[measured, None]
        has[measured, channel] = 1.0
    return z, has


def knockout_zscores(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ko_genes, z, has)`` of every gene perturbed alone in ``dataset`` (genes ascending):
    :func:`perturbation_zscores` of :func:`single_perturbed_genes`."""
    ko_genes = single_perturbed_genes(dataset)
    return (ko_genes, *perturbation_zscores(dataset, ko_genes))


def single_perturbed_genes(dataset: Dataset) -> np.ndarray:
    """Gene indices (ascending) perturbed alone (knocked out, down or overexpressed) in some sample."""
    return np.array(sorted({p.genes[0] for p in dataset.perturbations() if len(p.genes) == 1}), dtype=np.int64)


PATH_CANDIDATES = 64  # intermediate genes tried per knockout (its strongest responders)


def knockout_strength(ko_zscore: np.ndarray, ko_genes: np.ndarray) -> np.ndarray:
    """``log1p(|knockout z|)`` per knocked-out gene (rows) and gene, ``|z|`` clipped at ``Z_CLIP``, its own
    forced change set to 0."""
    strength = np.log1p(np.minimum(np.abs(ko_zscore[:, 0, :]), Z_CLIP)).astype(np.float32)
    strength[np.arange(len(ko_genes)), ko_genes] = 0.0
    return strength


def indirect_paths(ko_zscore: np.ndarray, ko_genes: np.ndarray) -> np.ndarray:
    """How strongly knocking out ``t`` reaches each gene ``g`` through another knocked-out gene ``m``:
    ``max over m of min(s(t, m), s(m, g))`` with ``s`` = :func:`knockout_strength`.

    A large value says the response of ``g`` to ``t`` may be indirect (``t -> m -> g``), the transitive
    reduction that the best DREAM knockout methods apply. ``m`` runs over ``t``'s ``PATH_CANDIDATES``
    strongest responders among the knocked-out genes (exact whenever ``t`` has no more of them), which keeps
    the cost at knockouts x ``PATH_CANDIDATES`` x genes.
    """
    n_rows = len(ko_genes)
    strength = knockout_strength(ko_zscore, ko_genes)
    paths = np.zeros_like(strength)
    if n_rows < 2:
        return paths
    via = strength[:, ko_genes]  # s(t, m) for knocked-out m, rows t
    k = min(PATH_CANDIDATES, n_rows)
    candidates = np.argpartition(-via, k - 1, axis=1)[:, :k]
    for t in range(n_rows):
        m = candidates[t]
        paths[t] = np.minimum(via[t, m][:, None], strength[m]).max(axis=0)
    return paths


def _robust_reference(x: np.ndarray, cols: np.ndarray, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    overall = x.std(axis=1)
    floor = np.maximum(1e-2 * overall, 1e-6)
    if cols.size < ROBUST_MIN_SAMPLES:
        return dataset.baseline().astype(np.float64), np.maximum(overall, floor)
    block = x[:, cols]
    return np.median(block, axis=1), np.maximum(block.std(axis=1), floor)


def perturbation_csr(dataset: Dataset):
    """The perturbed samples as ``(genes, doses, offsets, samples, dose_range)``: sample ``samples[j]``
    perturbs ``genes[offsets[j]:offsets[j + 1]]`` at ``doses``; ``dose_range`` is (min, max) of the doses."""
    perts = dataset.perturbations()
    offsets = np.zeros(len(perts) + 1, dtype=np.int64)
    genes, doses = [], []
    for j, p in enumerate(perts):
        genes.extend(p.genes)
        doses.extend([p.dose] * len(p.genes))
        offsets[j + 1] = len(genes)
    samples = np.array([p.sample for p in perts], dtype=np.int64)
    return (np.array(genes, dtype=np.int64), np.array(doses, dtype=np.float32), offsets, samples,
            (min(doses), max(doses)) if doses else (0.0, 1.0))


def edge_signs(dataset: Dataset, graph: np.ndarray) -> np.ndarray:
    """Sign (+1, -1, 0 unknown) of each ``graph`` edge according to the dataset's prior."""
    known = dict(zip(zip(*dataset.edge_indices()), dataset.prior["sign"].to_numpy()))
    return np.array([known.get((int(a), int(b)), 0) for a, b in graph.T], dtype=np.float32)


def build_inputs(dataset: Dataset, graph: np.ndarray, *, modalities: tuple[str, ...] = MODALITIES,
                 kmer_k: int = 5) -> ModelInputs:
    """Build the model inputs of ``dataset`` with ``graph`` (``(2, n)`` gene indices) as prior graph.

    Parameters
    ----------
    modalities
        Which feature modalities to use when present (default: all of ``MODALITIES``).
    kmer_k
        k-mer length of the promoter features (default 5: 512 canonical 5-mers).
    """
    baseline = dataset.baseline().astype(np.float32)
    scale = gene_scale(dataset.expression)
    expr = standardise_rows(dataset.expression)
    ko_genes, ko_response = _single_gene_responses(dataset, baseline, scale)
    feats: dict[str, np.ndarray] = {}
    if "expression" in modalities:
        feats["expression"] = expr
    if "promoter" in modalities and dataset.promoters:
        feats["promoter"] = kmer_features(dataset.promoters, dataset.genes, k=kmer_k)
    if "annotation" in modalities and dataset.annotations is not None and dataset.annotations.shape[1]:
        feats["annotation"] = annotation_features(dataset.annotations)
    if "knockout" in modalities and len(ko_genes):
        # How each gene responds to every knocked-out gene (columns), and how strongly each knocked-out
        # gene moves the others (rows, for knocked-out genes only).
        feats["knockout_in"] = np.clip(ko_response.T, -10, 10).astype(np.float32)
        feats["knockout_out"] = np.clip(ko_response, -10, 10).astype(np.float32)
    pert_genes, pert_doses, offsets, samples, dose_range = perturbation_csr(dataset)
    graph = np.asarray(graph, dtype=np.int64)
    ko_z, ko_z_has = perturbation_zscores(dataset, ko_genes)
    return ModelInputs(features=feats, graph=graph, graph_sign=edge_signs(dataset, graph), expression=expr,
                       baseline=baseline, scale=scale, ko_genes=ko_genes, ko_response=ko_response,
                       pert_genes=pert_genes, pert_doses=pert_doses, pert_offsets=offsets,
                       pert_samples=samples, dose_range=dose_range, ko_zscore=ko_z, ko_zscore_has=ko_z_has,
                       ko_path=indirect_paths(ko_z, ko_genes),
                       center=dataset.expression.mean(axis=1).astype(np.float32))

