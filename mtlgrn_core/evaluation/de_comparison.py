"""A prediction checked against the user's own experiment: a differential-expression table of a real knockout or
knockdown (gene, log2 fold change, optionally an adjusted p-value) compared with the run's predicted change of the
same perturbation.

The table may be any common export, as CSV or TSV, gzipped or not; its columns are recognised by name (case,
spaces, dots and underscores ignored):

- gene: ``gene``, ``genes``, ``gene_symbol``, ``symbol``, ``gene_name``, ``hgnc_symbol``, ``external_gene_name``,
  ``names`` (scanpy), ``ID`` (limma), ``feature_id``, ``ensembl``, ``ensembl_id``, ``ensembl_gene_id``, ``ENSG``,
  ``gene_id``, or an unnamed first column (DESeq2's row names); with several, the one matching most of the run's
  genes (e.g. symbols against Ensembl ids).
- log2 fold change: ``log2fc``, ``log2FoldChange`` (DESeq2), ``logFC`` (edgeR, limma), ``logfoldchanges``
  (scanpy), ``lfc``, ``avg_log2FC`` (Seurat), ``log2_ratio``, or a name ending in ``logFC`` / ``log2FC`` /
  ``logFoldChange`` (e.g. ``koATF3_logFC``).
- adjusted p-value (optional): ``padj`` (DESeq2), ``FDR`` (edgeR), ``adj.P.Val`` (limma), ``pvals_adj`` (scanpy),
  ``p_val_adj`` (Seurat), ``qvalue``, or a name ending in ``padj`` / ``FDR`` / ``adj.P.Val``.
- p-value (optional): ``pvalue``, ``PValue``, ``P.Value``, ``pval``, ``pvals``, ``p``, or a name ending in
  ``pValue`` / ``pval``; without an adjusted column, it is adjusted here (Benjamini-Hochberg).

Several rows of one gene (one per probe of an array, or a gene's Ensembl versions) are averaged; a table of
several groups' tests (a ``group`` column, as scanpy writes every group's) is refused. Genes are
matched to the run's up to case and version suffix (:func:`mtlgrn_core.inputs.gene_names.gene_key`).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.gene_names import gene_key
from mtlgrn_core.inputs.tables import read_table

GENE_COLUMNS = ("gene", "genes", "genesymbol", "symbol", "genename", "hgncsymbol", "externalgenename", "names", "id",
                "featureid", "ensembl", "ensemblid", "ensemblgeneid", "ensg", "geneid")
UNNAMED_COLUMNS = ("", "x", "unnamed0", "index", "rownames")  # a first column without a name: R's row names
FOLD_CHANGE_COLUMNS = ("log2fc", "log2foldchange", "logfc", "logfoldchange", "logfoldchanges", "lfc", "avglog2fc",
                       "avglogfc", "log2ratio")
FOLD_CHANGE_SUFFIXES = ("logfc", "log2fc", "logfoldchange")
ADJUSTED_P_COLUMNS = ("padj", "fdr", "adjpval", "adjpvalue", "pvalsadj", "pvaladj", "padjusted", "qvalue", "qval")
ADJUSTED_P_SUFFIXES = ("padj", "fdr", "adjpval")
P_COLUMNS = ("pvalue", "pval", "pvals", "p", "pvalues")
P_SUFFIXES = ("pvalue", "pval")
MISSING = frozenset({"", "na", "nan", "n/a", "#n/a", "null", "none"})  # empty cells, not errors
MIN_GENES = 3  # matched genes needed for a comparison
ALPHA = 0.05  # adjusted p-value below which a measured change counts as significant
PREDICTED_LABELS = {"log2fc": "predicted log2 fold change",
                    "delta": "predicted change (expression units)"}
NEED = "a gene column and a log2 fold-change column"


@dataclass
class DETable:
    """A differential-expression table, one value per gene.

    ``log2fc`` (and ``padj``, ``pvalue`` where the table has them) are indexed by the table's gene names;
    ``columns`` maps each role (``gene``, ``log2fc``, ``padj``, ``pvalue``) to the column it was read from;
    ``notes`` say what was done (rows averaged or dropped, p-values adjusted, the column chosen)."""

    name: str
    log2fc: pd.Series
    columns: dict[str, str]
    padj: pd.Series | None = None
    pvalue: pd.Series | None = None
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_genes(self) -> int:
        return len(self.log2fc)


@dataclass
class Comparison:
    """Predicted against measured change over the genes of the run found in the table.

    ``table``: ``gene`` (the run's name), ``predicted``, ``measured``, ``padj`` (NaN without p-values), sorted by
    decreasing ``|measured|``. Sign agreements count the genes that move in both (a gene predicted or measured
    exactly 0 has no direction). ``top_predicted`` / ``top_measured``: the ``top`` genes changed most (by
    ``|change|``, zeros left out); ``overlap_p``: the hypergeometric chance of at least ``overlap`` genes in both
    by luck."""

    name: str
    table: pd.DataFrame
    n_table_genes: int
    top: int
    pearson: float
    spearman: float
    sign_agreement: float
    sign_genes: int
    sign_agreement_top: float
    sign_top_genes: int
    sign_agreement_significant: float | None
    significant_top_genes: int
    top_predicted: list[str]
    top_measured: list[str]
    overlap: int
    overlap_expected: float
    overlap_p: float
    alpha: float = ALPHA
    notes: list[str] = field(default_factory=list)

    @property
    def n_genes(self) -> int:
        return len(self.table)

    def summary(self) -> pd.DataFrame:
        """``measure, value, meaning``: the figures as text, each with one sentence of what it means."""
        k = self.top
        rows = [("genes compared", f"{self.n_genes:,}",
                 f"genes of the run found among the {self.n_table_genes:,} of {self.name} (perturbed genes left out)"),
                ("Pearson r", plain_number(self.pearson, "{:.3f}"),
                 "linear agreement of predicted and measured change (1 perfect, 0 none, -1 opposite)"),
                ("Spearman rho", plain_number(self.spearman, "{:.3f}"),
                 "agreement of the genes' ranks (less swayed by outliers)"),
                ("sign agreement, all genes", _share(self.sign_agreement, self.sign_genes),
                 "share of the genes predicted to move in the measured direction (0.5 is chance)"),
                (f"sign agreement, top {k} measured", _share(self.sign_agreement_top, self.sign_top_genes),
                 f"the same over the {k} most changed genes of the experiment")]
        if self.sign_agreement_significant is not None:
            rows.append((f"sign agreement, top {k} significant", _share(self.sign_agreement_significant,
                                                                        self.significant_top_genes),
                         f"the same over the {k} most changed genes with adjusted p < {self.alpha:g}"))
        overlap = f"{self.overlap} (chance {self.overlap_expected:.1f}, p = {self.overlap_p:.2g})"
        rows.append((f"top-{k} overlap", overlap,
                     f"genes among both the {k} most changed predicted and the {k} most changed measured; p: "
                     "the chance of at least as many by luck (hypergeometric)"))
        return pd.DataFrame(rows, columns=["measure", "value", "meaning"])


def plain_number(value: float | None, style: str = "{:.2f}") -> str:
    """A figure as text, ``n/a`` where it is undefined (a constant change has no correlation)."""
    return "n/a" if value is None or not np.isfinite(value) else style.format(value)


def _share(value: float, genes: int) -> str:
    return "n/a" if not genes else f"{value:.0%} of {genes:,}"


# -- reading -----------------------------------------------------------------------------------------------
def read_de_table(source, name: str | None = None, *, genes=None) -> DETable:
    """Read a differential-expression table (a path, bytes, or an uploaded file with ``getvalue()``).

    ``name``: the file name shown in messages (default: the path's or the upload's); ``genes``: the run's genes,
    to choose between several gene columns (the one matching most of them; else the first of
    :data:`GENE_COLUMNS`). Raises :class:`~mtlgrn_core.errors.DataValidationError` for a table without a gene
    or a fold-change column, with a cell that is not a number in a number column, or with the tests of several
    groups (a ``group`` column of several values).
    """
    table, file = _read_source(source, name)
    columns, notes = _columns(table, file, genes)
    _check_one_group(table, file)
    frame = _rows(table, columns, file, notes)
    if "padj" not in columns and "pvalue" in columns:
        frame["padj"] = _adjusted(frame["pvalue"])
        notes.append(f"adjusted p-values computed from '{columns['pvalue']}' (Benjamini-Hochberg).")
    per_gene = _per_gene(frame, file, notes)
    values = {role: per_gene[role] if role in per_gene else None for role in ("padj", "pvalue")}
    return DETable(file, per_gene["log2fc"], columns, values["padj"], values["pvalue"], len(table), notes)


def _read_source(source, name: str | None) -> tuple[pd.DataFrame, str]:
    """The table as strings, and the file name for messages. Bytes go through a temporary file of that name, so
    that gzip, encodings and delimiters are read as :func:`~mtlgrn_core.inputs.tables.read_table` reads files."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return read_table(path, need=NEED), name or path.name
    data = source if isinstance(source, bytes) else source.getvalue() if hasattr(source, "getvalue") else source.read()
    file = Path(name or getattr(source, "name", "") or "DE table").name
    stored = file + ".gz" if data[:2] == b"\x1f\x8b" and not file.endswith(".gz") else file
    with tempfile.TemporaryDirectory(prefix="mtlgrn-de-") as folder:
        path = Path(folder) / stored
        path.write_bytes(data)
        return read_table(path, need=NEED), file


def _column_key(name: str) -> str:
    """A column name without case, spaces, dots, underscores or brackets: 'adj.P.Val' -> 'adjpval'."""
    return re.sub(r"[^0-9a-z]", "", str(name).strip().strip('"').casefold())


def _matching(names: list[str], exact: tuple[str, ...], suffixes: tuple[str, ...] = (), *, prefix: str = "",
              skip: tuple[str, ...] = ()) -> list[str]:
    """The column names matching ``exact`` (in its order), then those ending in one of ``suffixes``; with
    ``prefix``, those starting with it first (the p-value of the fold change chosen, e.g. 'siTAZ1_')."""
    keys = {n: _column_key(n) for n in names if n not in skip}
    found = [n for e in exact for n in keys if keys[n] == e]
    found += [n for n in keys if n not in found and keys[n].endswith(suffixes)]
    return sorted(found, key=lambda n: not keys[n].startswith(prefix)) if prefix else found


def _columns(table: pd.DataFrame, file: str, genes) -> tuple[dict[str, str], list[str]]:
    """``{role: column}`` for the gene, fold change and p-values found, and notes on the choices."""
    names = list(table.columns)
    shown = ", ".join(f"'{n}'" for n in names[:15]) + (", ..." if len(names) > 15 else "")
    candidates = _matching(names, GENE_COLUMNS)
    if _column_key(names[0]) in UNNAMED_COLUMNS and names[0] not in candidates:
        candidates.append(names[0])
    if not candidates:
        raise DataValidationError(
            f"has no gene column (its columns: {shown}). Name the column of gene symbols or Ensembl ids 'gene' "
            "(also recognised: symbol, gene_symbol, gene_name, names, ID, ensembl_gene_id, or an unnamed first "
            "column).", file=file, line=1)
    fold_changes = _matching(names, FOLD_CHANGE_COLUMNS, FOLD_CHANGE_SUFFIXES)
    if not fold_changes:
        raise DataValidationError(
            f"has no log2 fold-change column (its columns: {shown}). Rename the column of log2 fold changes to "
            "'log2fc' (also recognised: log2FoldChange of DESeq2, logFC of edgeR and limma, logfoldchanges of "
            "scanpy, avg_log2FC of Seurat, or a name ending in logFC).", file=file, line=1)
    notes = []
    gene = _gene_column(table, candidates, genes, notes)
    chosen = {"gene": gene, "log2fc": fold_changes[0]}
    if len(fold_changes) > 1:
        notes.append(f"{len(fold_changes)} fold-change columns ({', '.join(fold_changes[:5])}): compared "
                     f"'{fold_changes[0]}'. To compare another, rename it 'log2fc' (or keep only that one).")
    prefix, taken = _experiment_prefix(fold_changes[0]), (gene, *fold_changes)
    adjusted = _matching(names, ADJUSTED_P_COLUMNS, ADJUSTED_P_SUFFIXES, prefix=prefix, skip=taken)
    if adjusted:
        chosen["padj"] = adjusted[0]
    raw = _matching(names, P_COLUMNS, P_SUFFIXES, prefix=prefix, skip=(*taken, *adjusted))
    if raw:
        chosen["pvalue"] = raw[0]
    return chosen, notes


def _check_one_group(table: pd.DataFrame, file: str) -> None:
    """Refuse the tests of several groups in one table (scanpy's ``rank_genes_groups_df`` of every group): their
    rows of one gene would be averaged across groups."""
    column = next((c for c in table.columns if _column_key(c) == "group"), None)
    groups = table[column].unique() if column is not None else []
    if len(groups) > 1:
        shown = ", ".join(f"'{g}'" for g in groups[:5])
        raise DataValidationError(
            f"holds the tests of {len(groups)} groups in column '{column}' ({shown}). Keep the rows of the group "
            "you perturbed (e.g. sc.get.rank_genes_groups_df(adata, group='knockout')).", file=file)


def _experiment_prefix(fold_change: str) -> str:
    """What a fold-change column's name adds before its suffix ('siTAZ1_logFC' -> 'sitaz1'), to find the
    p-values of the same experiment."""
    key = _column_key(fold_change)
    suffix = next((s for s in FOLD_CHANGE_SUFFIXES if key.endswith(s)), "")
    return key[:-len(suffix)] if suffix and key != suffix else ""


def _gene_column(table: pd.DataFrame, candidates: list[str], genes, notes: list[str]) -> str:
    """The candidate gene column matching most of ``genes`` (the first candidate without them)."""
    if genes is None or len(candidates) == 1:
        return candidates[0]
    keys = {gene_key(str(g)) for g in genes}
    counts = {c: int(table[c].map(lambda v: gene_key(str(v).strip())).isin(keys).sum()) for c in candidates}
    best = max(candidates, key=counts.get)
    others = "; ".join(f"'{c}' {counts[c]:,}" for c in candidates if c != best)
    notes.append(f"genes read from column '{best}' ({counts[best]:,} rows match the run's genes; {others}).")
    return best


def _numbers(cells: pd.Series, column: str, file: str) -> pd.Series:
    """The cells of a number column as floats (empty cells and NA as NaN); a cell that is no number is an
    error naming its line."""
    text = cells.astype(str).str.strip().str.strip('"')
    missing = text.str.casefold().isin(MISSING)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        comma = " If it uses a decimal comma, export with '.' as decimal mark." if "," in text.iat[k] else ""
        raise DataValidationError(f"column '{column}' holds numbers, but this line has '{text.iat[k]}'. Correct "
                                  f"that cell or leave it empty (NA counts as missing).{comma}",
                                  file=file, line=k + 2)
    return values.astype(np.float64)


def _rows(table: pd.DataFrame, columns: dict, file: str, notes: list[str]) -> pd.DataFrame:
    """One row per table row with a gene name and a finite fold change: ``gene, log2fc[, padj][, pvalue]``."""
    frame = pd.DataFrame({"gene": table[columns["gene"]].astype(str).str.strip().str.strip('"')})
    for role in ("log2fc", "padj", "pvalue"):
        if role in columns:
            frame[role] = _numbers(table[columns[role]], columns[role], file)
    nameless = frame["gene"].str.casefold().isin(MISSING)
    valueless = ~nameless & ~np.isfinite(frame["log2fc"])
    for mask, what in ((nameless, f"without a gene name in '{columns['gene']}'"),
                       (valueless, f"without a finite fold change in '{columns['log2fc']}'")):
        if mask.any():
            notes.append(f"{int(mask.sum()):,} rows {what} left out.")
    return frame[~nameless & ~valueless].reset_index(drop=True)


def _adjusted(pvalues: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (missing ones stay missing)."""
    out = pd.Series(np.nan, index=pvalues.index)
    given = pvalues.notna()
    out[given] = stats.false_discovery_control(pvalues[given].clip(0.0, 1.0).to_numpy())
    return out


def _per_gene(frame: pd.DataFrame, file: str, notes: list[str]) -> pd.DataFrame:
    """Rows of one gene (same name up to case and version) averaged; indexed by the gene's first name."""
    if frame.empty:
        raise DataValidationError("has no row with both a gene name and a fold change. Check that the gene and "
                                  "log2 fold-change columns are filled in.", file=file)
    keys = frame["gene"].map(gene_key).rename("key")
    per_gene = frame.groupby(keys, sort=False).agg({"gene": "first", **{c: "mean" for c in frame.columns[1:]}})
    if len(per_gene) < len(frame):
        notes.append(f"{len(frame):,} rows averaged to {len(per_gene):,} genes (several rows of one gene, e.g. one "
                     "per probe: their fold changes and p-values are averaged).")
    return per_gene.set_index("gene")


# -- comparing ---------------------------------------------------------------------------------------------
def predicted_change(table: pd.DataFrame) -> tuple[pd.Series, str]:
    """The predicted change of the genes not perturbed in a knockout table (of a run or an ensemble), by gene,
    and its column: ``log2fc`` where the run's data give a fold change (log-transformed or non-negative
    expression), else ``delta`` (expression units)."""
    rest = table.loc[~table["perturbed"].astype(bool)].set_index("gene")
    column = "log2fc" if rest["log2fc"].notna().any() else "delta"
    return rest[column].astype(np.float64), column


def compare_prediction(predicted: pd.Series, de: DETable, top: int = 50, *, alpha: float = ALPHA) -> Comparison:
    """Compare a predicted change (gene -> delta or log2 fold change; the perturbed genes left out by the caller)
    with the measured one of ``de``, over the genes in both.

    Raises :class:`~mtlgrn_core.errors.DataValidationError` when fewer than 3 genes match, naming examples of
    the table's and the run's genes and the fix.
    """
    table = _matched(predicted, de)
    if len(table) < MIN_GENES:
        raise _too_few_matches(table, predicted, de)
    k = min(int(top), len(table))
    significant = table[table["padj"] < alpha] if de.padj is not None else None
    top_predicted, top_measured = _most_changed(table, "predicted", k), _most_changed(table, "measured", k)
    overlap = len(set(top_predicted) & set(top_measured))
    n, matched_keys = len(table), set(table["gene"].map(lambda g: gene_key(str(g))))
    missing = de.n_genes - len(matched_keys)
    notes = list(de.notes) + ([f"{missing:,} of the table's {de.n_genes:,} genes are not genes of the run (or "
                               "were perturbed)."] if missing > 0 else [])
    all_genes, top_genes = _sign_agreement(table), _sign_agreement(table.head(k))
    significant_genes = _sign_agreement(significant.head(k)) if significant is not None else (None, 0)
    return Comparison(
        name=de.name, table=table, n_table_genes=de.n_genes, top=k,
        pearson=_correlation(table, "pearson"), spearman=_correlation(table, "spearman"),
        sign_agreement=all_genes[0], sign_genes=all_genes[1],
        sign_agreement_top=top_genes[0], sign_top_genes=top_genes[1],
        sign_agreement_significant=significant_genes[0], significant_top_genes=significant_genes[1],
        top_predicted=top_predicted, top_measured=top_measured, overlap=overlap,
        overlap_expected=len(top_predicted) * len(top_measured) / n,
        overlap_p=float(stats.hypergeom.sf(overlap - 1, n, len(top_measured), len(top_predicted))), alpha=alpha,
        notes=notes)


def _matched(predicted: pd.Series, de: DETable) -> pd.DataFrame:
    """``gene, predicted, measured, padj`` of the predicted genes found in ``de`` (by :func:`gene_key`), sorted by
    decreasing ``|measured|``."""
    predicted = predicted[np.isfinite(predicted.astype(np.float64))]
    by_key = pd.Series(de.log2fc.index, index=de.log2fc.index.map(gene_key))
    keys = predicted.index.map(lambda g: gene_key(str(g)))
    found = keys.isin(by_key.index)
    names = by_key[keys[found]].to_numpy()
    padj = de.padj[names].to_numpy() if de.padj is not None else np.full(len(names), np.nan)
    table = pd.DataFrame({"gene": predicted.index[found], "predicted": predicted.to_numpy()[found],
                          "measured": de.log2fc[names].to_numpy(), "padj": padj})
    order = table["measured"].abs().sort_values(ascending=False, kind="stable").index
    return table.reindex(order).reset_index(drop=True)


def _too_few_matches(table: pd.DataFrame, predicted: pd.Series, de: DETable) -> DataValidationError:
    ours = ", ".join(str(g) for g in predicted.index[:5])
    theirs = ", ".join(str(g) for g in de.log2fc.index[:5])
    found = "none is a gene of the run" if table.empty else \
        f"only {len(table)} ({', '.join(table['gene'])}) are genes of the run"
    return DataValidationError(
        f"of its {de.n_genes:,} genes (e.g. {theirs}; column '{de.columns['gene']}'), {found} (e.g. {ours}); at "
        f"least {MIN_GENES} are needed to compare. Use the same kind of gene identifiers as the run's data: gene "
        "symbols (e.g. TP53) or Ensembl ids (e.g. ENSG00000141510); convert one to the other (e.g. with BioMart) "
        "or add a column of the run's kind named 'gene'. Check also that the table is of the same species.",
        file=de.name)


def _correlation(table: pd.DataFrame, method: str) -> float:
    """Pearson or Spearman correlation of predicted and measured change (NaN when either is constant)."""
    if table["predicted"].nunique() < 2 or table["measured"].nunique() < 2:
        return float("nan")
    return float(table["predicted"].corr(table["measured"], method=method))


def _sign_agreement(table: pd.DataFrame) -> tuple[float, int]:
    """Share of the genes moving in both whose predicted direction is the measured one, and how many move."""
    moving = table[(table["predicted"] != 0) & (table["measured"] != 0)]
    if moving.empty:
        return float("nan"), 0
    return float((np.sign(moving["predicted"]) == np.sign(moving["measured"])).mean()), len(moving)


def _most_changed(table: pd.DataFrame, column: str, k: int) -> list[str]:
    """The ``k`` genes of largest ``|column|`` (zeros left out: a gene that does not move is not among them)."""
    moving = table.loc[table[column] != 0, ["gene", column]]
    order = moving[column].abs().sort_values(ascending=False, kind="stable").index
    return moving.loc[order[:k], "gene"].tolist()
