"""Single-cell data as labs save it, made into an expression matrix the model can train on.

:func:`read_cells` opens a single-cell file (``.h5ad``, ``.loom`` or Cell Ranger output:
:func:`~mtlgrn_core.inputs.cell_files.open_cells`), takes the matrix from ``X``, a layer (e.g. ``counts``) or ``raw``;
gene names from ``var_names`` or a column of ``var`` (Ensembl ids as names with symbols in a column is the common case,
and a symbol column that matches the other inputs better is taken by itself, with a note); normalises counts per cell
and log-transforms them as scanpy does (``normalize_total``, ``log1p``); keeps the most variable genes (a
budget) plus every gene the prior, the TF list or a perturbation names (never the ground truth's: evaluation labels
choose nothing that is modelled); and aggregates cells into metacells
within each cell group (an ``obs`` column such as the cell type, and the perturbation) to a sample budget. The
sparse matrix is never densified whole: only the kept genes of the aggregated samples become a dense array.
What was kept is said in ``notes``; the ``obs`` columns used come back as a per-sample table.
"""

from __future__ import annotations

import re
import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import LAYOUT_CELLS, RAW, default_matrix, has_negative, open_cells
from mtlgrn_core.inputs.gene_names import gene_key
from mtlgrn_core.inputs.step_timer import StepTimer

DEFAULT_MAX_GENES = 3000
DEFAULT_MAX_SAMPLES = 500
SYMBOL_COLUMNS = ("gene_symbols", "gene_symbol", "symbol", "symbols", "gene_name", "gene_names", "feature_name",
                  "gene", "genes", "name")
CONTROL_LABELS = {"control", "ctrl", "non-targeting", "nontargeting", "non_targeting", "nt", "unperturbed", "none",
                  "wt", "wildtype", "wild-type", "safe-targeting", "scrambled", "", "nan"}
MIN_CELLS_PER_METACELL = 3


@dataclass(frozen=True)
class CellOptions:
    """How to read a single-cell file (every field optional).

    Attributes
    ----------
    layer
        ``None`` (default): :func:`default_matrix` (a ``counts`` layer, ``adata.raw`` when ``X`` holds scaled
        data, else ``X``), as the Data page preselects it; ``"X"``: ``X``; ``"raw"``: ``adata.raw``; else the
        name of a layer (e.g. ``"counts"``).
    gene_column
        The ``var`` column holding the gene names (default ``None``: ``var_names``, or a symbol column when it
        matches the other inputs better).
    group_column
        The ``obs`` column of the cell groups (cell type, cluster, condition): metacells never mix groups.
    perturbation_column
        The ``obs`` column naming each cell's perturbed gene(s) (``A`` or ``A+B``; control labels such as
        ``control``, ``non-targeting`` or empty): it builds the sample sheet (knockouts, dose 0).
    max_genes
        Keep this many most variable genes, plus every gene the prior, the TF list or a perturbation names
        (default 3000; ``None``: every gene). The ground truth names none of them: it only evaluates.
    max_samples
        Aggregate the cells into at most about this many metacells (default 500; ``None``: every cell).
    """

    layer: str | None = None
    gene_column: str | None = None
    group_column: str | None = None
    perturbation_column: str | None = None
    max_genes: int | None = DEFAULT_MAX_GENES
    max_samples: int | None = DEFAULT_MAX_SAMPLES


@dataclass
class CellData:
    """What :func:`read_cells` returns: the matrix (genes x samples, float32) and what describes its samples."""

    genes: list[str]
    samples: list[str]
    matrix: np.ndarray
    sample_info: pd.DataFrame
    sample_sheet: pd.DataFrame | None
    log_transformed: bool
    notes: list[str] = field(default_factory=list)
    measured_genes: list[str] = field(default_factory=list)  # every gene of the file, before the gene budget


def read_cells(path: Path, options: CellOptions = CellOptions(), *, reference_genes: set[str] | None = None,
               log_transform: bool | str = "auto", timer: StepTimer | None = None) -> CellData:
    """Read ``path`` (a single-cell file or Cell Ranger folder) as described in the module docstring.

    Parameters
    ----------
    options
        Which matrix, gene names, cell groups and budgets (see :class:`CellOptions`).
    reference_genes
        Gene names the model's other inputs use (prior, TF list; never the ground truth, which must not shape
        what is modelled): they choose between gene-name columns and are kept whatever their variance.
    log_transform
        ``"auto"`` (default): counts (non-negative whole numbers) are normalised per cell and log1p-transformed,
        other values taken as they are; ``True``: normalise and log-transform; ``False``: as they are.
    timer
        Gets the seconds of each step: ``read``, ``normalise``, ``select_genes``, ``metacells`` (choosing each
        one's cells) and ``aggregate`` (averaging them); :func:`~mtlgrn_core.inputs.data.load_dataset` passes its own.

    Raises
    ------
    DataValidationError
        A file its format's reader refuses, a layer or column that does not exist, an ``obs`` column with one
        value, duplicated cell names, missing values.
    """
    timer = timer or StepTimer()
    path = Path(path)
    file = path.name
    adata, notes = open_cells(path)
    layer = options.layer
    if layer is None:
        layer, why = default_matrix(list(adata.layers.keys()), adata.raw is not None,
                                    has_negative(adata.X[:LAYOUT_CELLS]))
        if layer != "X":
            notes.append(f"{file}: {why} (choose X on the Data page, or --layer X, to read X).")
    x, var = _matrix(adata, layer, file)
    genes = _gene_names(var, options.gene_column, reference_genes or set(), file, notes)
    cells = unique_names([str(c) for c in adata.obs_names], f"{file} (obs_names)", notes)
    _check_named(cells, f"{file} (obs_names)", "cell")
    obs = adata.obs
    groups = _obs_labels(obs, options.group_column, file)
    perturbations = _obs_labels(obs, options.perturbation_column, file)
    x = sparse.csr_matrix(x, dtype=np.float32) if sparse.issparse(x) else np.asarray(x, dtype=np.float32)
    _check_finite(x, genes, cells, file)
    timer.lap("read")
    x, logged = _normalise(x, log_transform, file, notes)
    timer.lap("normalise")
    perturbed = _perturbed_genes(perturbations, genes)
    measured = genes
    keep = _select_genes(x, genes, (reference_genes or set()) | perturbed, options.max_genes, file, notes)
    x = x[:, keep]
    genes = [genes[j] for j in keep]
    timer.lap("select_genes")
    members, info = _metacells(x, cells, groups, perturbations, options, file, notes)
    timer.lap("metacells")
    matrix = _aggregate(x, members)
    timer.lap("aggregate")
    sheet = _sample_sheet(info[info_column(options.perturbation_column)], set(genes), file, notes) \
        if perturbations is not None else None
    return CellData(genes=genes, samples=list(info.index), matrix=np.ascontiguousarray(matrix.T, dtype=np.float32),
                    sample_info=info, sample_sheet=sheet, log_transformed=logged, notes=notes,
                    measured_genes=list(measured))


def _matrix(adata, layer: str | None, file: str):
    """The chosen matrix (cells x genes) and its ``var`` table."""
    if layer in (None, "", "X"):
        return adata.X, adata.var
    if layer == RAW:
        if adata.raw is None:
            raise DataValidationError(f"has no raw matrix (adata.raw), so 'raw' cannot be used. Choose X or a layer "
                                      f"({_listing(adata.layers.keys())}).", file=file)
        return adata.raw.X, adata.raw.var
    if layer not in adata.layers:
        raise DataValidationError(f"has no layer '{layer}'. Its layers: {_listing(adata.layers.keys())}; or use X "
                                  f"{'or raw ' if adata.raw is not None else ''}instead.", file=file)
    return adata.layers[layer], adata.var


def _listing(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(f"'{n}'" for n in names) if names else "none"


def _gene_names(var: pd.DataFrame, column: str | None, reference: set[str], file: str, notes: list[str]) -> list[str]:
    if column:
        if column not in var.columns:
            raise DataValidationError(f"var has no column '{column}'. Its columns: {_listing(var.columns)}; or use "
                                      "the var_names.", file=file)
        names = unique_names([str(g) for g in var[column].astype(str)], f"{file} (var['{column}'])", notes)
    elif reference:
        names = _best_name_column(var, file, reference, notes)
    else:
        names = unique_names([str(g) for g in var.index], f"{file} (var_names)", notes)
    _check_named(names, f"{file} (var_names)" if not column else f"{file} (var['{column}'])")
    return names


def _best_name_column(var: pd.DataFrame, file: str, reference: set[str], notes: list[str]) -> list[str]:
    """The var_names, or a symbol column of ``var`` when it matches the other inputs' genes far better."""
    keys = {gene_key(r) for r in reference}

    def hits(values) -> int:
        return sum(gene_key(str(v)) in keys for v in values)

    best, best_hits, own_hits = better_name_column(var, hits)
    if best is None:
        return unique_names([str(g) for g in var.index], f"{file} (var_names)", notes)
    notes.append(f"{file}: gene names taken from var['{best}'] ({best_hits:,} of them match the other inputs, "
                 f"against {own_hits:,} of the var_names); choose another column on loading to change this.")
    return unique_names([str(g) for g in var[best].astype(str)], f"{file} (var['{best}'])", notes)


def better_name_column(var: pd.DataFrame, hits: Callable[[list[str]], int]) -> tuple[str | None, int, int]:
    """``(column, its hits, the var_names' hits)``: the symbol column of ``var`` (:data:`SYMBOL_COLUMNS`) whose
    names ``hits`` counts clearly more of than of the var_names (at least twice as many plus one, and three: more
    than a chance hit or two), or ``None``. Reading cells for training and adding results to a user's AnnData
    choose alike."""
    own = hits(unique_names([str(g) for g in var.index]))
    best, best_hits = None, own
    for column in var.columns:
        if str(column).casefold() in SYMBOL_COLUMNS:
            found = hits(unique_names([str(v) for v in var[column].astype(str)]))
            if found >= max(2 * best_hits + 1, 3):
                best, best_hits = str(column), found
    return best, best_hits, own


def unique_names(names: list[str], where: str | None = None, notes: list[str] | None = None) -> list[str]:
    """Gene (or cell) names repeat (one symbol, two Ensembl ids; one barcode in two samples): the second and
    later get ``-1``, ``-2`` (``anndata.utils.make_index_unique``, as ``AnnData.var_names_make_unique``), with a
    note naming ``where`` when ``notes`` is given."""
    from anndata.utils import make_index_unique

    index = pd.Index(names)
    if index.is_unique:
        return names
    if notes is not None:
        repeated = list(dict.fromkeys(index[index.duplicated()]))
        many = len(repeated) > 1
        notes.append(f"{where}: {len(repeated):,} name{'s appear' if many else ' appears'} more than once (e.g. "
                     f"{', '.join(repeated[:5])}); the repeats were renamed NAME-1, NAME-2.")
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # anndata's own note on the renaming: said above
        return [str(n) for n in make_index_unique(index)]


def _check_named(names: list[str], where: str, what: str = "gene") -> None:
    """Every gene (or cell) has a name."""
    for k, name in enumerate(names):
        if name in ("", "nan"):
            raise DataValidationError(f"{what} {k + 1} has no name. Give every {what} a name.", file=where)


def _obs_labels(obs: pd.DataFrame, column: str | None, file: str) -> np.ndarray | None:
    if not column:
        return None
    if column not in obs.columns:
        raise DataValidationError(f"obs has no column '{column}'. Its columns: {_listing(obs.columns)}.", file=file)
    labels = obs[column].astype(str).to_numpy()
    if np.unique(labels).size < 2:
        raise DataValidationError(f"obs column '{column}' holds one value ('{labels[0] if labels.size else ''}') for "
                                  "every cell, so it cannot split the cells. Choose another column, or none.",
                                  file=file)
    return labels


def _check_finite(x, genes: list[str], cells: list[str], file: str) -> None:
    values = x.data if sparse.issparse(x) else x
    if np.isfinite(values).all():
        return
    if sparse.issparse(x):
        coo = x.tocoo()
        bad = ~np.isfinite(coo.data)
        i, j = int(coo.row[bad][0]), int(coo.col[bad][0])
    else:
        i, j = (int(v) for v in np.argwhere(~np.isfinite(x))[0])
    raise DataValidationError(f"gene '{genes[j]}' in cell '{cells[i]}' is NaN or infinite. Replace missing values "
                              "before loading.", file=file)


def _normalise(x, log_transform: bool | str, file: str, notes: list[str]):
    """Counts per cell to 10,000 and log1p (scanpy's ``normalize_total`` and ``log1p``) when asked, or in
    ``auto`` when the values are counts."""
    import anndata
    import scanpy as sc

    values = x.data if sparse.issparse(x) else x.ravel()
    sample = values[:: max(1, values.size // 1_000_000)]
    is_counts = sample.size > 0 and sample.min() >= 0 and np.allclose(sample, np.round(sample))
    if log_transform == "auto" and not is_counts:
        notes.append(f"{file}: values are not counts (not all whole numbers), so they are taken as normalised "
                     "and log-scaled already.")
        return x, False
    if not log_transform:
        return x, False
    if sample.size and sample.min() < 0:
        raise DataValidationError("a log transform was asked for but the matrix holds negative values; it is "
                                  "probably log-scaled already. Turn the log transform off, or choose the counts "
                                  "layer.", file=file)
    adata = anndata.AnnData(X=x.copy())
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # scanpy's notes on data it considers already log-scaled
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    notes.append(f"{file}: counts normalised to 10,000 per cell and log1p-transformed (scanpy normalize_total, "
                 "log1p).")
    return adata.X, True


def _perturbed_genes(perturbations: np.ndarray | None, genes: list[str]) -> set[str]:
    if perturbations is None:
        return set()
    named = {g.strip() for label in np.unique(perturbations) if label.strip().casefold() not in CONTROL_LABELS
             for g in re.split(r"[+,;]", label) if g.strip()}
    return named & set(genes)


def _select_genes(x, genes: list[str], wanted: set[str], max_genes: int | None, file: str,
                  notes: list[str]) -> np.ndarray:
    """Columns to keep: every gene within the budget; else the ``max_genes`` most variable genes seen in some
    cell (scanpy ``highly_variable_genes``, seurat flavour, on the log data) plus every ``wanted`` one."""
    import anndata
    import scanpy as sc

    if max_genes is None or len(genes) <= max_genes:
        return np.arange(len(genes))
    idx = np.flatnonzero(np.asarray((x != 0).sum(axis=0)).ravel() > 0)  # genes seen in some cell
    adata = anndata.AnnData(X=x[:, idx])
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        table = sc.pp.highly_variable_genes(adata, n_top_genes=int(max_genes), flavor="seurat", inplace=False)
    variable = idx[np.asarray(table["highly_variable"], dtype=bool)]
    wanted_keys = {gene_key(w) for w in wanted}  # as the prior will be matched: up to case and version suffix
    named = np.array([j for j in idx if gene_key(genes[j]) in wanted_keys], dtype=np.int64)
    keep = np.union1d(variable, named)
    notes.append(f"{file}: kept {keep.size:,} of {len(genes):,} genes: the {variable.size:,} most variable (scanpy "
                 f"highly_variable_genes) and {np.setdiff1d(named, variable).size:,} more that the prior, the TF "
                 "list or a perturbation names. Raise the gene budget, or set none, to keep more.")
    return keep


def _metacells(x, cells: list[str], groups, perturbations, options: CellOptions, file: str,
               notes: list[str]) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Which cells make each sample, and a table of the samples (group, perturbation, cells).

    Without a budget (or with fewer cells than it), every cell is a sample. Otherwise each stratum (group x
    perturbation) gets metacells in proportion to its cells (at least one, at most one per
    ``MIN_CELLS_PER_METACELL`` cells), made by k-means on its cells' first principal components.
    """
    n = len(cells)
    strata = np.array(["|".join(parts) for parts in zip(*(a for a in (groups, perturbations) if a is not None))],
                      dtype=object) if (groups is not None or perturbations is not None) else np.full(n, "", object)
    budget = options.max_samples
    if budget is None or n <= budget:
        info = pd.DataFrame({"cells": np.ones(n, dtype=np.int64)}, index=pd.Index(cells, name="sample"))
        _label_columns(info, groups, perturbations, np.arange(n), options)
        return [np.array([k]) for k in range(n)], info
    scores = _pca(x)
    members, rows = [], []
    labels, counts = np.unique(strata, return_counts=True)
    for label, count in zip(labels, counts):
        where = np.flatnonzero(strata == label)
        k = int(min(max(1, round(budget * count / n)), max(1, count // MIN_CELLS_PER_METACELL)))
        assignment = _kmeans(scores[where], k)
        for c in range(k):
            cell_idx = where[assignment == c]
            if cell_idx.size:
                members.append(cell_idx)
                rows.append(cell_idx[0])
    names = [f"metacell_{m + 1:0{len(str(len(members)))}d}" for m in range(len(members))]
    info = pd.DataFrame({"cells": [m.size for m in members]}, index=pd.Index(names, name="sample"))
    _label_columns(info, groups, perturbations, np.array(rows), options)
    within = " within each " + " x ".join(c for c in (options.group_column, options.perturbation_column) if c) \
        if len(labels) > 1 else ""
    notes.append(f"{file}: {n:,} cells aggregated into {len(members):,} metacells{within} (k-means on the first "
                 f"principal components, {info['cells'].median():.0f} cells each at the median; the mean of their "
                 "log-normalised expression). Raise the sample budget, or set none, to keep every cell.")
    return members, info


def _label_columns(info: pd.DataFrame, groups, perturbations, rows: np.ndarray, options: CellOptions) -> None:
    """The samples' cell group and perturbation, each under its ``obs`` column's own name."""
    for labels, column in ((groups, options.group_column), (perturbations, options.perturbation_column)):
        if labels is not None:
            info[info_column(column)] = labels[rows]


def info_column(obs_column: str) -> str:
    """The sample-table column that holds an ``obs`` column's labels: its own name (``cells`` is taken by the
    number of cells in each sample)."""
    return f"{obs_column} (obs)" if obs_column == "cells" else obs_column


def _pca(x, n_components: int = 30) -> np.ndarray:
    """The cells' first principal components (``scanpy.pp.pca``: genes centred, implicitly for a sparse matrix)."""
    import scanpy as sc

    n_comps = min(n_components, x.shape[1] - 1, x.shape[0] - 1)
    if n_comps < 1:
        return np.zeros((x.shape[0], 1), dtype=np.float32)
    return np.asarray(sc.pp.pca(x, n_comps=n_comps, random_state=0), dtype=np.float32)


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(points) <= k:
        return np.zeros(len(points), dtype=np.int64) if k <= 1 else np.arange(len(points)) % k
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(points)


def _aggregate(x, members: list[np.ndarray]) -> np.ndarray:
    """The mean of each member set's rows (samples x genes, dense): one sparse product, no dense copy of ``x``."""
    if all(m.size == 1 for m in members) and len(members) == x.shape[0]:
        order = np.concatenate(members)
        rows = x[order]
        return rows.toarray() if sparse.issparse(rows) else np.asarray(rows)
    rows = np.concatenate(members)
    cols = np.concatenate([np.full(m.size, k) for k, m in enumerate(members)])
    weights = np.concatenate([np.full(m.size, 1.0 / m.size) for m in members])
    averaging = sparse.csr_matrix((weights, (cols, rows)), shape=(len(members), x.shape[0]))
    out = averaging @ x
    return out.toarray() if sparse.issparse(out) else np.asarray(out)


def _sample_sheet(labels: pd.Series, genes: set[str], file: str, notes: list[str]) -> pd.DataFrame:
    """``sample, perturbation, dose`` from the samples' perturbation labels: control labels are controls, a gene
    (or ``A+B``) a knockout of it (dose 0); labels naming no measured gene stay unlabelled, with a note."""
    rows, unknown = [], set()
    for sample, label in labels.items():
        text = str(label).strip()
        if text.casefold() in CONTROL_LABELS:
            rows.append((sample, "control", 1.0))
            continue
        named = [g.strip() for g in re.split(r"[+,;]", text) if g.strip()]
        if named and all(g in genes for g in named):
            rows.append((sample, "+".join(named), 0.0))
        else:
            unknown.add(text)
    if unknown:
        notes.append(f"{file}: {len(unknown):,} perturbation labels name no measured gene (e.g. "
                     f"{', '.join(sorted(unknown)[:5])}); their cells are used as expression data only.")
    perturbed = sum(1 for r in rows if r[1] != "control")
    notes.append(f"{file}: sample sheet from the perturbation column: {perturbed:,} perturbed samples (taken as "
                 f"knockouts, dose 0) and {len(rows) - perturbed:,} controls.")
    return pd.DataFrame(rows, columns=["sample", "perturbation", "dose"])
