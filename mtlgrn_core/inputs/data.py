"""The data layer: one :class:`Dataset` with a fixed gene index shared by every input.

A dataset folder holds ``expression.csv`` (required) and the optional ``network.csv``, ``tfs.txt``,
``samples.csv``, ``promoters.fa``, ``annotations.csv`` and ``truth.csv``. :func:`load_dataset` reads and
validates such a folder; :func:`write_dataset` writes one. Every problem raises
:class:`~mtlgrn_core.errors.DataValidationError` with the file, the line or gene, and the fix.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import CELL_FILE_NAMES, is_cell_file
from mtlgrn_core.inputs.gene_names import near_hint, warn_near_duplicates
from mtlgrn_core.inputs.matrix_csv import STREAM_MIN_BYTES, read_matrix_csv
from mtlgrn_core.inputs.priors import candidate_regulators, edges_from_unmeasured, match_prior, read_edges
from mtlgrn_core.inputs.step_timer import StepTimer
from mtlgrn_core.inputs.tables import check_unique, is_number, number_fix, read_table, read_text, strip_quotes

if TYPE_CHECKING:  # pragma: no cover
    from mtlgrn_core.inputs.single_cell import CellOptions

EXPRESSION_NAMES = ("expression.csv", "expression.tsv", "expression.csv.gz", "expression.tsv.gz") + CELL_FILE_NAMES
OPTIONAL_FILES = {
    "network": ("network.csv", "network.tsv"),
    "tfs": ("tfs.txt", "tfs.csv"),
    "samples": ("samples.csv", "samples.tsv"),
    "promoters": ("promoters.fa", "promoters.fasta", "promoters.fa.gz"),
    "annotations": ("annotations.csv", "annotations.tsv"),
    "truth": ("truth.csv", "truth.tsv"),
    "sample_info": ("sample_info.csv",),
}
#: How the workspace stores a dataset's (final) expression: the float32 matrix with its gene and sample names, read and
#: written in a second, not a text table (write_dataset(binary_expression=True)).
STORED_EXPRESSION = "expression.npz"
CONTROL = "control"
MAX_DOSE = 2.0
_FASTA_OK = re.compile(r"^[ACGTNRYSWKMBDHVU]*$")


@dataclass(frozen=True)
class Perturbation:
    """One perturbed sample: which genes were knocked out or down, and to what dose.

    ``dose`` 0 is a knockout, 0.5 a knockdown to half, 1 unperturbed, above 1 overexpression.
    """

    sample: int
    genes: tuple[int, ...]
    dose: float


@dataclass
class Dataset:
    """Every input of one experiment, aligned on one gene index.

    Attributes
    ----------
    genes
        Gene names, sorted; position ``i`` is gene index ``i`` in every array and table.
    samples
        Sample names in the order of the expression columns.
    expression
        ``float32`` array of shape ``(n_genes, n_samples)`` (log1p-transformed when ``log_transformed``).
    prior
        Known regulatory edges: columns ``source, target, sign`` (gene names; sign +1, -1 or 0 = unknown).
    tfs
        Candidate regulators (sorted).
    sample_info
        What describes each sample (indexed by sample, in sample order): for single-cell data the cell group,
        the perturbation and how many cells a metacell holds; or ``None``.
    regulator_rule
        How they were chosen: ``"tfs"`` (a TF list), ``"prior"`` (the prior's regulators, no TF list given) or
        ``"all"`` (every gene); :func:`~mtlgrn_core.inputs.priors.describe_regulators` says it in words.
    sample_sheet
        ``sample, perturbation, dose`` for the samples it describes, or ``None``.
    promoters
        Gene -> DNA sequence (upper case), or ``None``.
    annotations
        Gene features indexed by gene (only genes in ``genes``), or ``None``.
    truth
        Ground-truth edges (same columns as ``prior``), or ``None``.
    warnings
        What the loader fixed or dropped, in sentences.
    outside_prior
        The prior's edges from regulators the expression does not measure onto measured genes (``source, target,
        sign``): such a regulator can still be knocked out (:mod:`~mtlgrn_core.model.outside_regulators`).
    timings
        Seconds per step of :func:`load_dataset` (``inputs``: the files besides the expression; an ``.h5ad``'s
        ``read``, ``normalise``, ``select_genes``, ``metacells`` and ``aggregate`` or a table's ``read``;
        ``build``: validating and aligning them); empty for a dataset built in code.
    """

    genes: tuple[str, ...]
    samples: tuple[str, ...]
    expression: np.ndarray
    prior: pd.DataFrame
    tfs: tuple[str, ...]
    sample_sheet: pd.DataFrame | None = None
    promoters: dict[str, str] | None = None
    annotations: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    log_transformed: bool = False
    name: str = "dataset"
    warnings: list[str] = field(default_factory=list)
    regulator_rule: str = "tfs"
    sample_info: pd.DataFrame | None = None
    outside_prior: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "target", "sign"]))
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.gene_index = {g: i for i, g in enumerate(self.genes)}

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def tf_indices(self) -> np.ndarray:
        return np.array([self.gene_index[t] for t in self.tfs], dtype=np.int64)

    def edge_indices(self, edges: pd.DataFrame | None = None) -> np.ndarray:
        """``(2, n)`` int64 array of gene indices of ``edges`` (default: the prior)."""
        edges = self.prior if edges is None else edges
        if len(edges) == 0:
            return np.zeros((2, 0), dtype=np.int64)
        src = edges["source"].map(self.gene_index).to_numpy(dtype=np.int64)
        dst = edges["target"].map(self.gene_index).to_numpy(dtype=np.int64)
        return np.stack([src, dst])

    def perturbations(self) -> list[Perturbation]:
        """The perturbed samples of the sample sheet (knockouts, knockdowns, overexpression) of measured genes."""
        return [Perturbation(sample, tuple(self.gene_index[g] for g in genes), dose)
                for sample, genes, dose in self._sheet_perturbations() if all(g in self.gene_index for g in genes)]

    def outside_perturbations(self) -> list[tuple[int, tuple[str, ...], float]]:
        """``(sample, genes, dose)`` of the perturbed samples whose perturbation names a regulator the
        expression does not measure (the prior names it: ``outside_prior``); :meth:`perturbations` leaves them
        out, and they are not controls."""
        return [p for p in self._sheet_perturbations() if not all(g in self.gene_index for g in p[1])]

    def _sheet_perturbations(self) -> list[tuple[int, tuple[str, ...], float]]:
        """``(sample position, perturbed gene names, dose)`` of every perturbed row of the sample sheet."""
        if self.sample_sheet is None:
            return []
        sample_pos = {s: j for j, s in enumerate(self.samples)}
        return [(sample_pos[row.sample], tuple(genes), float(row.dose))
                for row in self.sample_sheet.itertuples(index=False)
                if (genes := _perturbed_genes(row.perturbation)) and row.dose != 1.0]

    def control_samples(self) -> np.ndarray:
        """Column indices of control samples; every unperturbed sample when none is labelled control."""
        if self.sample_sheet is not None:
            sheet = self.sample_sheet
            ctrl = set(sheet.loc[sheet["perturbation"].str.lower() == CONTROL, "sample"])
            if ctrl:
                return np.array([j for j, s in enumerate(self.samples) if s in ctrl], dtype=np.int64)
        perturbed = {p.sample for p in self.perturbations()} | {p[0] for p in self.outside_perturbations()}
        return np.array([j for j in range(len(self.samples)) if j not in perturbed], dtype=np.int64)

    def samples_without_knockout(self) -> np.ndarray:
        """Column indices of the samples no knockout (dose 0) touches: controls, other unperturbed samples and
        partial perturbations (knockdowns, overexpression), the data a linear model of regulation is fitted on
        beside knockouts that are held out or predicted."""
        knocked_out = {p.sample for p in self.perturbations() if p.dose == 0.0}
        return np.array([j for j in range(len(self.samples)) if j not in knocked_out], dtype=np.int64)

    def baseline(self) -> np.ndarray:
        """Mean expression of the control samples: the reference a knockout is compared with."""
        cols = self.control_samples()
        if cols.size == 0:
            cols = np.arange(len(self.samples))
        return self.expression[:, cols].mean(axis=1)

    def with_prior(self, prior: pd.DataFrame) -> "Dataset":
        """A copy of this dataset with another prior network (gene names must be in ``genes``)."""
        return replace(self, prior=prior.reset_index(drop=True), warnings=list(self.warnings))

    def samples_perturbing(self, genes) -> set[str]:
        """Names of the samples whose perturbation touches any of ``genes`` (gene indices): knockouts,
        knockdowns and overexpression, alone or with other genes. Dropping them leaves no trace of what
        perturbing these genes does."""
        wanted = {int(g) for g in genes}
        return {self.samples[p.sample] for p in self.perturbations() if wanted.intersection(p.genes)}

    def without_samples(self, drop: set[str]) -> "Dataset":
        """A copy without the named samples (and their sample-sheet rows)."""
        keep = [j for j, s in enumerate(self.samples) if s not in drop]
        sheet = None
        if self.sample_sheet is not None:
            sheet = self.sample_sheet[~self.sample_sheet["sample"].isin(drop)].reset_index(drop=True)
        info = None if self.sample_info is None else self.sample_info.iloc[keep]
        return replace(self, samples=tuple(self.samples[j] for j in keep),
                       expression=np.ascontiguousarray(self.expression[:, keep]),
                       sample_sheet=sheet, sample_info=info, warnings=list(self.warnings))

    def summary(self) -> dict:
        """Counts for a validation report."""
        return {
            "genes": self.n_genes, "samples": len(self.samples), "tfs": len(self.tfs),
            "prior_edges": int(len(self.prior)),
            "perturbed_samples": len(self.perturbations()),
            "control_samples": int(self.control_samples().size),
            "promoters": 0 if self.promoters is None else len(self.promoters),
            "annotation_columns": 0 if self.annotations is None else self.annotations.shape[1],
            "truth_edges": None if self.truth is None else int(len(self.truth)),
            "log_transformed": self.log_transformed, "regulators": self.regulator_rule,
        }


# ----------------------------------------------------------------------------------------------------
# Reading files


def _perturbed_genes(perturbation: str) -> list[str]:
    text = str(perturbation).strip()
    if text == "" or text.lower() in (CONTROL, "none", "nan", "wildtype", "other"):
        return []
    return [g.strip() for g in text.split("+") if g.strip()]


def _numeric_matrix(table: pd.DataFrame, file: str) -> np.ndarray:
    """Convert string cells to float, naming the first bad cell (1-based file line, header = line 1)."""
    values = table.to_numpy(dtype=str)
    try:
        matrix = values.astype(np.float64)
    except ValueError:
        _raise_not_a_number(values, [str(c) for c in table.columns], file)
        # numpy refused a cell that Python's float() reads (e.g. other Unicode digits): parse cell by cell
        matrix = np.array([[float(c) for c in row] for row in values], dtype=np.float64).reshape(values.shape)
    bad = ~np.isfinite(matrix)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataValidationError(
            f"value '{values[i, j]}' in column '{table.columns[j]}' is NaN or infinite "
            f"({int(bad.sum())} such cells). Replace missing values (e.g. with 0) before loading.",
            file=file, line=int(i) + 2)
    return matrix


def _raise_not_a_number(values: np.ndarray, columns: list[str], file: str) -> None:
    """Raise for the first cell that is not a number (line = row + 2), with the likely fix."""
    for i, row in enumerate(values):
        for j, cell in enumerate(row):
            if not is_number(cell):
                raise DataValidationError(f"cell '{cell}' in column '{columns[j]}' is not a number. "
                                          f"{number_fix(values, i, j)}", file=file, line=i + 2)


def read_expression(path: Path, *, reference_genes: set[str] | None = None, orientation: str = "auto",
                    warnings: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """Read an expression table; return ``(genes, samples, matrix genes x samples)``.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv`` (optionally ``.gz``) with names in the first column and header, or a single-cell
        file (``.h5ad``, ``.loom``, Cell Ranger ``.h5`` or folder; cells are observations, genes variables).
    reference_genes
        Gene names from the model's other inputs (the prior, the TF list; never the ground truth), used to
        detect the orientation. Default ``None``.
    orientation
        ``"auto"`` (default: genes are whichever axis matches ``reference_genes`` better, rows on a tie),
        ``"genes_rows"`` or ``"genes_columns"``.
    warnings
        Gets a sentence for gene names that differ only in case or version suffix (kept apart, not merged).
    """
    path = Path(path)
    if path.name == STORED_EXPRESSION:
        genes, samples, matrix = read_stored_expression(path)
    elif is_cell_file(path):  # as stored: no normalisation, selection or aggregation (load_dataset does those)
        from mtlgrn_core.inputs.single_cell import CellOptions, read_cells

        cells = read_cells(path, CellOptions(max_genes=None, max_samples=None), log_transform=False)
        genes, samples, matrix = cells.genes, cells.samples, cells.matrix
    else:
        genes, samples, matrix = _read_delimited_expression(path, reference_genes, orientation)
    if warnings is not None:
        warn_near_duplicates(genes, path.name, warnings)
    return genes, samples, matrix


def read_stored_expression(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """The workspace's binary expression (:data:`STORED_EXPRESSION`): genes, samples, float32 matrix (nothing is
    unpickled)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return stored["genes"].tolist(), stored["samples"].tolist(), stored["matrix"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataValidationError(f"the stored matrix cannot be read ({type(exc).__name__}: {exc}). Load the "
                                  "dataset again.", file=path.name) from None


def _read_delimited_expression(path: Path, reference_genes: set[str] | None,
                               orientation: str) -> tuple[list[str], list[str], np.ndarray]:
    streamed = read_matrix_csv(path) if path.stat().st_size >= STREAM_MIN_BYTES else None
    if streamed is not None:  # a large file, read in proportion to its size (float32)
        rows, columns, matrix = streamed
        row_names, col_names = strip_quotes(rows), strip_quotes(columns)
        if not row_names:
            raise DataValidationError("needs a header line and one name column plus at least one value column "
                                      "(genes as rows, samples as columns).", file=path.name)
    else:
        row_names, col_names, matrix = read_expression_table(path)
    transpose = orientation == "genes_columns"
    if orientation == "auto" and reference_genes:
        row_hits = len(reference_genes.intersection(row_names))
        col_hits = len(reference_genes.intersection(col_names))
        transpose = col_hits > row_hits
    if transpose:
        check_unique(col_names, "gene", path.name + " (header)", 2, header=True)
        check_unique(row_names, "sample", path.name, 2)
        return col_names, row_names, matrix.T
    check_unique(row_names, "gene", path.name, 2)
    check_unique(col_names, "sample", path.name + " (header)", 2, header=True)
    return row_names, col_names, matrix


def read_expression_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """``(row names, column names, float64 matrix)`` of a delimited expression file, read carefully: every problem
    named with its line and fix."""
    table = read_table(path, need="one name column plus at least one value column (genes as rows, samples "
                                  "as columns)")
    if table.shape[0] < 1:
        raise DataValidationError("needs a header line and one name column plus at least one value column "
                                  "(genes as rows, samples as columns).", file=path.name)
    col_names = strip_quotes(table.columns[1:])
    values = table.iloc[:, 1:]
    values.columns = col_names
    return strip_quotes(table.iloc[:, 0]), col_names, _numeric_matrix(values, path.name)


def read_gene_list(path: Path) -> list[str]:
    """One gene per line (a CSV's first column is taken; a header named tf/gene/name is skipped)."""
    path = Path(path)
    lines = read_text(path).splitlines()
    names = []
    for line in lines:
        cell = re.split(r"[,\t;]", line)[0].strip().strip('"')
        if cell:
            names.append(cell)
    if names and names[0].lower() in ("tf", "tfs", "gene", "genes", "name", "regulator"):
        names = names[1:]
    if not names:
        raise DataValidationError("lists no gene. Put one gene name per line.", file=path.name)
    return list(dict.fromkeys(names))


def read_sample_sheet(path: Path) -> pd.DataFrame:
    """Read ``sample,perturbation,dose`` (dose defaults to 0 for a named perturbation, 1 for control)."""
    path = Path(path)
    table = read_table(path, need="the columns sample,perturbation[,dose]")
    cols = [c.strip().lower() for c in table.columns]
    table.columns = cols
    if "sample" not in cols or "perturbation" not in cols:
        raise DataValidationError("needs the columns sample,perturbation[,dose]; found "
                                  f"{', '.join(cols)}.", file=path.name, line=1)
    check_unique(cols, "column", path.name, 1, header=True, only=("sample", "perturbation", "dose"))
    samples = strip_quotes(table["sample"])
    check_unique(samples, "sample", path.name, 2)
    perts = strip_quotes(table["perturbation"])
    doses = []
    raw_doses = strip_quotes(table["dose"]) if "dose" in cols else [""] * len(samples)
    for k, (p, d) in enumerate(zip(perts, raw_doses)):
        if d == "":
            doses.append(1.0 if not _perturbed_genes(p) else 0.0)
            continue
        try:
            dose = float(d)
        except ValueError:
            raise DataValidationError(f"dose '{d}' is not a number. Use 0 (knockout), 0.5 (knockdown), "
                                      "1 (unperturbed) or up to 2 (overexpression).", file=path.name, line=k + 2)
        if not (0.0 <= dose <= MAX_DOSE) or math.isnan(dose):
            raise DataValidationError(f"dose {d} is outside [0, {MAX_DOSE:g}]. Use 0 for a knockout, "
                                      "0.5 for a knockdown to half, 1 for unperturbed.", file=path.name,
                                      line=k + 2)
        doses.append(dose)
    return pd.DataFrame({"sample": pd.Series(samples, dtype=object), "perturbation": pd.Series(perts, dtype=object),
                         "dose": pd.Series(doses, dtype=np.float64)})


def read_fasta(path: Path) -> dict[str, str]:
    """Read a FASTA file: record id = first word of the header; IUPAC codes are allowed."""
    path = Path(path)
    records: dict[str, list[str]] = {}
    header_line: dict[str, int] = {}
    current = None
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            name = line[1:].split()[0] if line[1:].split() else ""
            if not name:
                raise DataValidationError("a FASTA header has no name. Write '>GENE' before each sequence.",
                                          file=path.name, line=lineno)
            if name in records:
                raise DataValidationError(f"record '{name}' appears twice (lines {header_line[name]} and "
                                          f"{lineno}). Keep one sequence per gene.", file=path.name, line=lineno)
            records[name] = []
            header_line[name] = lineno
            current = name
            continue
        if current is None:
            raise DataValidationError("sequence before the first '>' header. Start each record with '>GENE'.",
                                      file=path.name, line=lineno)
        seq = line.upper()
        if not _FASTA_OK.match(seq):
            bad = sorted(set(seq) - set("ACGTNRYSWKMBDHVU"))
            raise DataValidationError(f"record '{current}' has invalid characters {''.join(bad)!r}. A DNA "
                                      "sequence may hold A, C, G, T, N and IUPAC codes only.",
                                      file=path.name, line=lineno)
        records[current].append(seq.replace("U", "T"))
    if not records:
        raise DataValidationError("holds no FASTA record. Write '>GENE' then the sequence.", file=path.name)
    return {k: "".join(v) for k, v in records.items()}


def read_annotations(path: Path) -> pd.DataFrame:
    """Read gene features: first column = gene, then numeric or categorical columns."""
    path = Path(path)
    table = read_table(path, need="a gene column and at least one feature column")
    check_unique(list(table.columns[1:]), "column", path.name, 2, header=True)
    genes = strip_quotes(table.iloc[:, 0])
    check_unique(genes, "gene", path.name, 2)
    feats = table.iloc[:, 1:].copy()
    feats.index = genes
    feats.index.name = "gene"
    for col in feats.columns:
        numeric = pd.to_numeric(feats[col].where(feats[col] != ""), errors="coerce")
        if numeric.notna().sum() == (feats[col] != "").sum():
            if not np.isfinite(numeric.dropna()).all():
                raise DataValidationError(f"column '{col}' holds an infinite value. Replace it.", file=path.name)
            feats[col] = numeric
        else:  # a blank categorical cell is missing, like a gene without a row (NaN after reindexing)
            feats[col] = feats[col].where(feats[col] != "")
    return feats


# ----------------------------------------------------------------------------------------------------
# Assembling a dataset


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).exists():
            return folder / name
    return None


def _whole_numbers(matrix: np.ndarray, rows: int = 1024) -> bool:
    """Whether every value is a whole number (up to ``np.allclose``'s tolerance), a block of rows at a time: no
    temporary the size of a large matrix."""
    return all(np.allclose(matrix[k:k + rows], np.round(matrix[k:k + rows])) for k in range(0, len(matrix), rows))


def _maybe_log(matrix: np.ndarray, log_transform: bool | str, file: str, names: tuple[list[str], list[str]],
               warnings: list[str]) -> tuple[np.ndarray, bool]:
    """``(matrix, logged)``: log1p applied when asked (``"auto"``: when the values look like raw counts)."""
    if log_transform == "auto":
        is_counts = matrix.min() >= 0 and matrix.max() > 100 and _whole_numbers(matrix)
        if not is_counts:
            return matrix, False
        warnings.append(f"{file}: values look like raw counts (non-negative integers up to "
                        f"{matrix.max():.0f}); applied log1p.")
    elif not log_transform:
        return matrix, False
    if matrix.min() < 0:
        i, j = np.unravel_index(np.argmin(matrix), matrix.shape)
        raise DataValidationError(f"a log transform was asked for but the data hold negative values "
                                  f"({int((matrix < 0).sum())} cell(s), e.g. {matrix[i, j]:.3g} for gene "
                                  f"'{names[0][i]}' in sample '{names[1][j]}'); the data are probably already "
                                  "log-scaled. Turn the log transform off.", file=file)
    return np.log1p(matrix), True


def build_dataset(*, genes: list[str], samples: list[str], expression: np.ndarray,
                  prior: pd.DataFrame | None = None, tfs: list[str] | None = None,
                  sample_sheet: pd.DataFrame | None = None, promoters: dict[str, str] | None = None,
                  annotations: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
                  log_transform: bool | str = False, name: str = "dataset",
                  files: dict[str, str] | None = None, regulators: str = "prior",
                  sample_info: pd.DataFrame | None = None, measured_genes: Sequence[str] | None = None) -> Dataset:
    """Validate and align already-read inputs into a :class:`Dataset` (genes sorted by name).

    ``files`` maps an input kind to the file name used in messages (defaults: the dataset folder names).
    The prior and the truth keep their edges between measured genes (:func:`~mtlgrn_core.inputs.priors.match_prior`).
    ``measured_genes``: every gene of the expression file when ``genes`` are a selection of them (an ``.h5ad``'s
    gene budget); the truth is matched against them and then kept between the modelled ``genes`` only, its other
    edges counted as not scorable (:func:`_match_truth`). The truth never chooses genes, regulators or anything
    else that is modelled: it is evaluation labels.
    ``regulators`` says who the candidate regulators are without a TF list: ``"prior"`` (default: the prior's
    regulators) or ``"all"`` (every gene); see :func:`~mtlgrn_core.inputs.priors.candidate_regulators`.
    ``sample_info`` (indexed by sample name) is kept in sample order.
    """
    files = {"expression": "expression.csv", "network": "network.csv", "tfs": "tfs.txt",
             "samples": "samples.csv", "promoters": "promoters.fa", "annotations": "annotations.csv",
             "truth": "truth.csv", **(files or {})}
    warnings: list[str] = []
    # float32 stays float32 (a large file's streamed matrix: no copy at twice its size), anything else float64
    expression = np.asarray(expression, dtype=np.float32 if np.asarray(expression).dtype == np.float32 else np.float64)
    if expression.shape != (len(genes), len(samples)):
        raise DataValidationError(f"matrix shape {expression.shape} does not match {len(genes)} genes x "
                                  f"{len(samples)} samples.", file=files["expression"])
    if len(samples) < 2:
        raise DataValidationError(f"has {len(samples)} sample(s); at least 2 are needed (more than 10 for "
                                  "useful correlations). Check the orientation: genes as rows, samples as "
                                  "columns.", file=files["expression"])
    expression, logged = _maybe_log(expression, log_transform, files["expression"], (genes, samples), warnings)
    _check_float32(expression, genes, samples, files["expression"])
    order = np.argsort(np.array(genes, dtype=object), kind="stable")
    sorted_genes = tuple(genes[i] for i in order)
    in_order = bool(np.all(order == np.arange(len(order))))
    matrix = np.ascontiguousarray(expression if in_order else expression[order], dtype=np.float32)
    gene_set = set(sorted_genes)

    if prior is None:
        prior = pd.DataFrame({"source": [], "target": [], "sign": []})
        warnings.append("no network.csv: the model trains without a prior network (edge task off).")
    outside_prior = edges_from_unmeasured(prior, sorted_genes)
    prior = match_prior(prior, sorted_genes, file=files["network"], warnings=warnings, regulators_outside=True)
    tf_names, regulator_rule = candidate_regulators(tfs, prior, sorted_genes, rule=regulators, file=files["tfs"],
                                                    warnings=warnings)

    if sample_sheet is not None:
        sample_sheet = _validate_sheet(sample_sheet, set(samples), gene_set, files["samples"],
                                       set(outside_prior["source"]))

    if promoters is not None:
        missing = [g for g in sorted_genes if g not in promoters]
        if len(missing) == len(sorted_genes):
            raise DataValidationError(f"no record matches a gene of the expression matrix (record ids e.g. "
                                      f"{', '.join(list(promoters)[:5])}). Name each record after its gene."
                                      + near_hint(list(promoters), sorted_genes), file=files["promoters"])
        if missing:
            warnings.append(f"{files['promoters']}: {len(missing)} genes have no promoter sequence (e.g. "
                            f"{', '.join(missing[:5])}); their k-mer features are zero.")
        promoters = {g: promoters[g] for g in sorted_genes if g in promoters}

    if annotations is not None:
        overlap = [g for g in sorted_genes if g in annotations.index]
        if not overlap:
            raise DataValidationError("no row matches a gene of the expression matrix. Put gene names in the "
                                      "first column." + near_hint(list(annotations.index), sorted_genes),
                                      file=files["annotations"])
        if len(overlap) < len(sorted_genes):
            warnings.append(f"{files['annotations']}: {len(sorted_genes) - len(overlap)} genes have no "
                            "annotation; numeric features are imputed with the column mean.")
        annotations = annotations.reindex(list(sorted_genes))

    if truth is not None:
        truth = _match_truth(truth, sorted_genes, measured_genes, files["truth"], warnings)

    if sample_info is not None:
        sample_info = _align_sample_info(sample_info, samples, files.get("sample_info", "sample_info.csv"))
    return Dataset(genes=sorted_genes, samples=tuple(samples), expression=matrix, prior=prior,
                   tfs=tuple(tf_names), sample_sheet=sample_sheet, promoters=promoters,
                   annotations=annotations, truth=truth, log_transformed=logged, name=name,
                   warnings=warnings, regulator_rule=regulator_rule, sample_info=sample_info,
                   outside_prior=outside_prior)


def _match_truth(truth: pd.DataFrame, genes: Sequence[str], measured: Sequence[str] | None, file: str,
                 warnings: list[str]) -> pd.DataFrame | None:
    """The truth's edges between the modelled ``genes`` (``None`` when none is left).

    Names are matched, and an identifier mismatch is an error, against every measured gene
    (:func:`~mtlgrn_core.inputs.priors.match_prior`); edges naming a measured gene that a gene budget did not keep are
    then left out with a warning saying how many cannot be scored. The truth never widens the gene set.
    """
    if measured is None or set(measured) <= set(genes):
        return match_prior(truth, genes, file=file, warnings=warnings)
    matched = match_prior(truth, sorted(measured), file=file, warnings=warnings)
    kept = set(genes)
    inside = matched["source"].isin(kept) & matched["target"].isin(kept)
    if inside.all():
        return matched
    unkept = sorted((set(matched["source"]) | set(matched["target"])) - kept)
    if not inside.any():
        warnings.append(f"{file}: none of its {len(matched):,} edges between measured genes joins two kept genes "
                        f"({len(unkept):,} of its genes are outside the gene budget, e.g. {', '.join(unkept[:5])}), "
                        "so it cannot be scored and is left out. The ground truth never chooses the modelled "
                        "genes: raise the gene budget, or set none, to evaluate against it.")
        return None
    warnings.append(f"{file}: {int((~inside).sum()):,} of its {len(matched):,} edges between measured genes name "
                    f"{len(unkept):,} genes the gene budget did not keep (e.g. {', '.join(unkept[:5])}); they cannot "
                    f"be scored, and the evaluation uses the other {int(inside.sum()):,}. The ground truth never "
                    "chooses the modelled genes: raise the gene budget, or set none, to score more of it.")
    return matched[inside].reset_index(drop=True)


def _align_sample_info(info: pd.DataFrame, samples: list[str], file: str) -> pd.DataFrame:
    missing = [s for s in samples if s not in info.index]
    if missing:
        raise DataValidationError(f"has no row for sample '{missing[0]}' ({len(missing)} such samples). Keep one "
                                  "row per sample of the expression matrix.", file=file)
    return info.reindex(list(samples))


def _check_float32(matrix: np.ndarray, genes: list[str], samples: list[str], file: str) -> None:
    """Every value must be finite, also once stored as 32-bit floats (up to about 3.4e38)."""
    limit = np.finfo(np.float32).max
    if np.isfinite(matrix).all() and -limit <= matrix.min(initial=0) and matrix.max(initial=0) <= limit:
        return
    i, j = np.argwhere(~np.isfinite(matrix) | (np.abs(matrix) > limit))[0]
    raise DataValidationError(f"gene '{genes[i]}' in sample '{samples[j]}' holds {matrix[i, j]:.3g}, which is "
                              "missing, infinite or beyond the 3.4e38 limit of 32-bit floats. Replace missing "
                              "values and rescale (e.g. log-transform) the data.", file=file)


def _validate_sheet(sheet: pd.DataFrame, samples: set[str], genes: set[str], file: str,
                    outside: set[str] = frozenset()) -> pd.DataFrame:
    """The sample sheet, checked: every sample a column of the expression, every perturbed gene measured or a
    regulator of the prior that is not measured (``outside``: its perturbation teaches how such a knockout
    spreads, :mod:`~mtlgrn_core.model.outside_regulators`)."""
    unknown: dict[str, int] = {}  # perturbed gene -> its first line
    for k, row in enumerate(sheet.itertuples(index=False)):
        if row.sample not in samples:
            raise DataValidationError(f"sample '{row.sample}' is not a column of the expression matrix. Use "
                                      "the expression's sample names.", file=file, line=k + 2)
        for gene in _perturbed_genes(row.perturbation):
            if gene not in genes and gene not in outside:
                unknown.setdefault(gene, k + 2)
    if unknown:
        gene, line = next(iter(unknown.items()))
        row = sheet.iloc[line - 2]
        others = list(unknown)[1:]
        more = (f" So are {len(others)} more ({', '.join(others[:5])}{', ...' if len(others) > 5 else ''})."
                if others else "")
        raise DataValidationError(f"perturbed gene '{gene}' (sample '{row['sample']}') is not in the expression "
                                  f"matrix, nor a regulator of a measured gene in the prior.{more} Fix the name or "
                                  "remove the row; for a gene that is neither measured nor in the prior, add its "
                                  "edges to the prior, or write 'other' as its perturbation (the sample is then "
                                  "used as an unperturbed one)." + near_hint([gene], genes), file=file, line=line)
    return sheet.reset_index(drop=True)


def load_dataset(folder: str | Path, *, log_transform: bool | str = "auto", orientation: str = "auto",
                 regulators: str = "prior", prior_min_confidence: str | float | None = None,
                 cells: "CellOptions | None" = None) -> Dataset:
    """Read and validate a dataset folder.

    Parameters
    ----------
    folder
        A folder holding ``expression.csv`` (or ``.tsv``, ``.gz``, or a single-cell file:
        :data:`~mtlgrn_core.inputs.cell_files.CELL_FILE_NAMES`) and the optional inputs.
    log_transform
        ``"auto"`` (default: log1p when the values look like raw counts), ``True`` or ``False``.
    orientation
        See :func:`read_expression`.
    regulators
        Without ``tfs.txt``: ``"prior"`` (default: the network's regulators) or ``"all"`` (every gene).
    prior_min_confidence
        Keep only the network's edges at least this confident (a level A-E or a number; see
        :func:`~mtlgrn_core.inputs.priors.read_edges`). Default: every edge.
    cells
        For single-cell data: the matrix, gene names, cell groups, perturbations and budgets
        (:class:`~mtlgrn_core.inputs.single_cell.CellOptions`; default: X, the most variable 3,000 genes plus those the
        prior, the TF list or a perturbation names, at most about 500 metacells). Counts are normalised per cell
        and log-transformed.

    The ground truth (``truth.csv``) is read for evaluation only: it chooses neither the orientation, the gene
    names of an ``.h5ad``, nor the genes its gene budget keeps; its edges between genes that are not modelled
    are left out with a warning that counts them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(f"folder '{folder}' does not exist. Give the folder that holds "
                                  "expression.csv.")
    expr_path = _find(folder, (STORED_EXPRESSION, *EXPRESSION_NAMES))
    if expr_path is None:
        raise DataValidationError(f"folder '{folder}' has no expression file ({', '.join(EXPRESSION_NAMES)}). "
                                  "Add the expression matrix (genes as rows, samples as columns).")
    timer = StepTimer()
    paths = {kind: _find(folder, names) for kind, names in OPTIONAL_FILES.items()}
    notes: list[str] = []  # what the readers dropped or noticed
    prior = read_edges(paths["network"], warnings=notes, min_confidence=prior_min_confidence) \
        if paths["network"] else None
    truth = read_edges(paths["truth"], warnings=notes) if paths["truth"] else None
    tfs = read_gene_list(paths["tfs"]) if paths["tfs"] else None
    sheet = read_sample_sheet(paths["samples"]) if paths["samples"] else None
    # the genes the model's inputs name: they decide the orientation and an .h5ad's gene names, and the gene
    # budget keeps them. Never the truth's: evaluation labels must not shape what is modelled.
    reference: set[str] = set(tfs or [])
    if prior is not None:
        reference |= set(prior["source"]) | set(prior["target"])
    sample_info = read_sample_info(paths["sample_info"]) if paths["sample_info"] else None
    logged, measured = None, None
    timer.lap("inputs")
    if is_cell_file(expr_path):
        from mtlgrn_core.inputs.single_cell import CellOptions, read_cells

        single = read_cells(expr_path, cells or CellOptions(), reference_genes=reference, log_transform=log_transform,
                           timer=timer)
        genes, samples, matrix, logged = single.genes, single.samples, single.matrix, single.log_transformed
        measured = single.measured_genes
        notes += single.notes
        sheet = _cells_sheet(sheet, single, paths["samples"])
        sample_info = single.sample_info
    else:
        genes, samples, matrix = read_expression(expr_path, reference_genes=reference, orientation=orientation,
                                                 warnings=notes)
        timer.lap("read")
    files = {kind: p.name for kind, p in paths.items() if p is not None}
    files["expression"] = expr_path.name
    dataset = build_dataset(
        genes=genes, samples=samples, expression=matrix, prior=prior, tfs=tfs, sample_sheet=sheet,
        promoters=read_fasta(paths["promoters"]) if paths["promoters"] else None,
        annotations=read_annotations(paths["annotations"]) if paths["annotations"] else None,
        truth=truth, log_transform=False if logged is not None else log_transform, name=folder.name, files=files,
        regulators=regulators, sample_info=sample_info, measured_genes=measured)
    if logged is not None:
        dataset.log_transformed = logged
    dataset.warnings[:0] = notes
    timer.lap("build")
    dataset.timings = timer.seconds
    return dataset


def read_sample_info(path: Path) -> pd.DataFrame:
    """A table describing the samples: first column the sample name, then any columns (kept as text)."""
    path = Path(path)
    table = read_table(path, need="a sample column and at least one more")
    names = strip_quotes(table.iloc[:, 0])
    check_unique(names, "sample", path.name, 2)
    info = table.iloc[:, 1:].copy()
    info.index = pd.Index(names, name="sample")
    if "cells" in info.columns:
        info["cells"] = pd.to_numeric(info["cells"], errors="coerce")
    return info


def _cells_sheet(sheet: pd.DataFrame | None, single, sheet_path: Path | None) -> pd.DataFrame | None:
    """The sample sheet of single-cell data: samples.csv when given (it must name the samples kept, so cells
    cannot have been aggregated), else the one the perturbation column built."""
    if sheet is None:
        return single.sample_sheet
    if (single.sample_info["cells"] > 1).any():
        raise DataValidationError("names cells, but the cells were aggregated into metacells. Give the "
                                  "perturbations as a column of obs (the perturbation column) instead, or keep every "
                                  "cell (no sample budget).", file=sheet_path.name)
    return sheet


def _sign_text(sign: int) -> str:
    return {1: "+", -1: "-"}.get(int(sign), "")


def write_edges(edges: pd.DataFrame, path: Path) -> None:
    out = edges[["source", "target"]].copy()
    out["sign"] = [_sign_text(s) for s in edges.get("sign", pd.Series([0] * len(edges)))]
    out.to_csv(path, index=False)


def write_dataset(dataset: Dataset, folder: str | Path, *, binary_expression: bool = False) -> Path:
    """Write ``dataset`` as a dataset folder that :func:`load_dataset` reads back identically; the expression as
    ``expression.csv`` (6 significant digits), or with ``binary_expression`` exactly, as :data:`STORED_EXPRESSION`
    (how the workspace keeps it: a 20,000 x 2,500 matrix in a second instead of a minute of text)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if binary_expression:
        np.savez(folder / STORED_EXPRESSION, matrix=np.asarray(dataset.expression, dtype=np.float32),
                 genes=np.array(dataset.genes, dtype=str), samples=np.array(dataset.samples, dtype=str))
    else:
        expr = pd.DataFrame(dataset.expression, index=pd.Index(dataset.genes, name="gene"), columns=dataset.samples)
        expr.to_csv(folder / "expression.csv", float_format="%.6g")
    # the edges from unmeasured regulators too: loading sorts them out again (a sample sheet may name them)
    write_edges(pd.concat([dataset.prior, dataset.outside_prior], ignore_index=True), folder / "network.csv")
    # a TF list, or every gene over a prior (without tfs.txt a prior's regulators are derived again on loading)
    if dataset.regulator_rule == "tfs" or (dataset.regulator_rule == "all" and len(dataset.prior)):
        (folder / "tfs.txt").write_text("\n".join(dataset.tfs) + "\n")
    if dataset.sample_sheet is not None:
        dataset.sample_sheet.to_csv(folder / "samples.csv", index=False)
    if dataset.sample_info is not None:
        dataset.sample_info.to_csv(folder / "sample_info.csv", index_label="sample")
    if dataset.promoters is not None:
        with open(folder / "promoters.fa", "w") as fh:
            for gene, seq in dataset.promoters.items():
                fh.write(f">{gene}\n")
                for k in range(0, len(seq), 80):
                    fh.write(seq[k:k + 80] + "\n")
    if dataset.annotations is not None:
        dataset.annotations.to_csv(folder / "annotations.csv", index_label="gene")
    if dataset.truth is not None:
        write_edges(dataset.truth, folder / "truth.csv")
    return folder
