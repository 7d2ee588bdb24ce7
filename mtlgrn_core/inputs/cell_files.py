"""The single-cell files labs bring, opened as AnnData by the field's own readers.

Four forms are accepted inside a dataset folder, where ``expression.csv`` would be:

- ``expression.h5ad``: AnnData, any version anndata reads (files of anndata before 0.7 included);
- ``expression.loom``: loom (loompy, velocyto, older SCENIC), genes from a row attribute such as ``Gene``;
- ``filtered_feature_bc_matrix/``: a Cell Ranger folder (``matrix.mtx.gz``, ``features.tsv.gz`` or the older
  ``genes.tsv``, ``barcodes.tsv.gz``);
- ``filtered_feature_bc_matrix.h5``: Cell Ranger's HDF5 matrix.

:func:`open_cells` reads each with anndata's or scanpy's reader (``read_h5ad``, ``read_loom``, ``read_10x_mtx``,
``read_10x_h5``), :func:`describe_cells` tells what a file holds without its matrix where the format allows it
(an ``.h5ad`` in backed mode), for the Data page's choices. A file these readers refuse gets a
:class:`~mtlgrn_core.errors.DataValidationError` naming the file, what is wrong and the fix. The command line
and the page call the same two functions, so they accept and refuse the same files.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings as _warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from mtlgrn_core.errors import DataValidationError

TENX_FOLDER = "filtered_feature_bc_matrix"
CELL_FILE_NAMES = ("expression.h5ad", "expression.loom", TENX_FOLDER + ".h5", TENX_FOLDER)
CELL_SUFFIXES = (".h5ad", ".loom", ".h5")
RAW = "raw"  # the layer name that selects ``adata.raw``
LAYOUT_CELLS = 1000  # cells of X read to tell scaled data (negative values) from expression
LOOM_GENE_ATTRIBUTES = ("Gene", "var_names", "gene_symbols", "gene_symbol", "gene_name", "gene_names", "Genes",
                        "gene", "GeneName", "Accession", "gene_ids")
LOOM_CELL_ATTRIBUTES = ("CellID", "obs_names", "cell_id", "cell_ids", "CellIDs", "barcode", "barcodes", "cell")
TENX_PARTS = {"matrix": ("matrix.mtx.gz", "matrix.mtx"), "barcodes": ("barcodes.tsv.gz", "barcodes.tsv"),
              "features": ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")}
RESAVE = ("Save it again with a current anndata (anndata.read_h5ad, then write_h5ad) or export a CSV "
          "(genes as rows, cells as columns).")


def is_cell_file(path: Path) -> bool:
    """Whether ``path`` is one of the single-cell forms (by name: an ``.h5ad``, ``.loom``, ``.h5`` or a Cell
    Ranger matrix folder)."""
    path = Path(path)
    return path.suffix.lower() in CELL_SUFFIXES or path.name == TENX_FOLDER or path.is_dir()


def open_cells(path: Path, *, backed: bool = False):
    """``(adata, notes)``: the AnnData of a single-cell file (see the module docstring) and what was noticed
    on the way (an old format).

    Parameters
    ----------
    backed
        For an ``.h5ad``: open it in backed mode (``obs``, ``var`` and the layer names without the matrix);
        close ``adata.file`` after use. The other forms are read whole.

    Raises
    ------
    DataValidationError
        Naming the file, what is wrong and the fix, when the format's reader cannot read it.
    """
    path = Path(path)
    if path.is_dir():
        return _open_10x_folder(path), []
    suffix = path.suffix.lower()
    if suffix == ".loom":
        return _open_loom(path), []
    if suffix == ".h5":
        return _open_10x_h5(path), []
    return _open_h5ad(path, backed)


def _open_h5ad(path: Path, backed: bool):
    import anndata  # heavy: only when a single-cell file is read

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            adata = anndata.read_h5ad(path, backed="r" if backed else None)
        except Exception as exc:  # anndata and h5py raise many types for a file that is not AnnData
            raise DataValidationError(f"is not a readable AnnData file ({_reason(exc)}). {RESAVE}",
                                      file=path.name) from None
    notes = []
    if any(type(w.message).__name__ == "OldFormatWarning" for w in caught):
        notes.append(f"{path.name}: written in an older AnnData format; read as it is. Save it again with a "
                     "current anndata to silence this note.")
    return adata, notes


def _open_loom(path: Path):
    import anndata
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            rows = list(handle["row_attrs"].keys()) if "row_attrs" in handle else []
            columns = list(handle["col_attrs"].keys()) if "col_attrs" in handle else []
            if "matrix" not in handle:
                raise DataValidationError("is not a loom file: it has no 'matrix'. Export it again with loompy or "
                                          "scanpy (adata.write_loom), or save an .h5ad.", file=path.name)
    except OSError as exc:
        raise DataValidationError(f"is not a readable loom file ({_reason(exc)}). Export it again with loompy or "
                                  "scanpy (adata.write_loom), or save an .h5ad.", file=path.name) from None
    gene = next((a for a in LOOM_GENE_ATTRIBUTES if a in rows), None)
    if gene is None:
        raise DataValidationError(f"has no row attribute with the gene names (looked for "
                                  f"{', '.join(LOOM_GENE_ATTRIBUTES[:4])} ...; its row attributes: "
                                  f"{', '.join(rows) or 'none'}). Add one (loompy: ds.ra['Gene'] = names) or save "
                                  "the data as an .h5ad.", file=path.name)
    cell = next((a for a in LOOM_CELL_ATTRIBUTES if a in columns), None)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # anndata's notes on loom attributes it keeps as columns
        try:
            adata = anndata.io.read_loom(path, var_names=gene, obs_names=cell or "CellID")
        except Exception as exc:  # loompy raises many types for a damaged file
            raise DataValidationError(f"is not a readable loom file ({_reason(exc)}). Export it again with loompy "
                                      "or scanpy (adata.write_loom), or save an .h5ad.", file=path.name) from None
    if cell is None:
        adata.obs_names = [f"cell{k + 1}" for k in range(adata.n_obs)]
    return adata


def _open_10x_folder(path: Path):
    import scanpy as sc

    found = {part: next((n for n in names if (path / n).is_file()), None) for part, names in TENX_PARTS.items()}
    missing = [names[0] for part, names in TENX_PARTS.items() if found[part] is None]
    if missing:
        present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        raise DataValidationError(f"is a Cell Ranger matrix folder without {' and '.join(missing)} (it holds: "
                                  f"{present}). Copy the whole {TENX_FOLDER} folder that Cell Ranger wrote "
                                  "(matrix.mtx.gz, features.tsv.gz, barcodes.tsv.gz).", file=path.name + "/")
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # scanpy's note on making repeated gene symbols unique
        try:
            return sc.read_10x_mtx(path, var_names="gene_symbols", make_unique=True)
        except Exception as exc:  # a damaged mtx or tsv fails in many ways
            raise DataValidationError(f"cannot be read as a Cell Ranger matrix folder ({_reason(exc)}). Copy the "
                                      "folder again from Cell Ranger's outs/ (or save an .h5ad).",
                                      file=path.name + "/") from None


def _open_10x_h5(path: Path):
    import scanpy as sc

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        try:
            return sc.read_10x_h5(path)
        except Exception as exc:  # h5py and scanpy raise many types for a file that is not Cell Ranger's
            raise DataValidationError(f"is not a readable Cell Ranger HDF5 matrix ({_reason(exc)}). Give the "
                                      f"{TENX_FOLDER}.h5 file from Cell Ranger's outs/, its {TENX_FOLDER} folder, or "
                                      "an .h5ad.", file=path.name) from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@dataclass
class CellLayout:
    """What a single-cell file holds, read without its matrix where the format allows: for choosing
    :class:`~mtlgrn_core.inputs.single_cell.CellOptions`."""

    n_cells: int
    n_genes: int
    layers: list[str]
    has_raw: bool
    var_columns: list[str]
    obs_columns: list[str]
    obs_values: dict[str, int]  # obs column -> number of distinct values
    x_negative: bool = False  # X holds negative values (scaled data), judged on its first cells

    def default_matrix(self) -> tuple[str, str]:
        """The matrix read unless the user chooses another, and why (:func:`default_matrix`)."""
        return default_matrix(self.layers, self.has_raw, self.x_negative)


def default_matrix(layers, has_raw: bool, x_negative: bool) -> tuple[str, str]:
    """The matrix a single-cell file is read from unless the user chooses one, and why, for the page and the
    command line alike: a ``counts`` layer; ``raw`` when ``X`` holds scaled data (:func:`scaled_x_note`) and the
    file has it; else ``X``."""
    if "counts" in layers:
        return "counts", "the counts layer is read: counts are normalised per cell and log-transformed (scanpy)"
    if x_negative and has_raw:
        return RAW, scaled_x_note()
    return "X", "X"


def scaled_x_note() -> str:
    """Why ``raw`` is read instead of an ``X`` with negative values."""
    return ("X holds negative values: scaled data (e.g. sc.pp.scale), whose zero is each gene's mean, not its "
            "absence. raw, the log-normalised expression the file keeps beside it, is read instead; choose X to "
            "override")


def describe_cells(source, name: str | None = None) -> CellLayout:
    """The layout of a single-cell file: a path (file or Cell Ranger folder) or a binary file object (an
    upload: written to a temporary file named ``name``), read by :func:`open_cells` (an ``.h5ad`` in backed
    mode), so that whatever the command line's full read accepts, the page describes alike.

    Raises
    ------
    DataValidationError
        When the format's reader cannot read it.
    """
    name = Path(str(name or getattr(source, "name", None) or "expression.h5ad")).name
    with _as_file(source, name) as path:
        adata, _notes = open_cells(path, backed=True)
        try:
            obs, var = adata.obs, adata.var
            layers, has_raw = sorted(adata.layers.keys()), adata.raw is not None
            x_negative = has_negative(adata.X[:LAYOUT_CELLS])
        finally:
            if getattr(adata, "isbacked", False):
                adata.file.close()
    return CellLayout(n_cells=len(obs), n_genes=len(var), layers=layers, has_raw=has_raw,
                      var_columns=[str(c) for c in var.columns], obs_columns=[str(c) for c in obs.columns],
                      obs_values={str(c): int(obs[c].astype(str).nunique()) for c in obs.columns},
                      x_negative=x_negative)


def has_negative(matrix) -> bool:
    """Whether a (sparse or dense) matrix holds a value below 0."""
    values = matrix.data if sparse.issparse(matrix) else np.asarray(matrix)
    return bool(values.size) and bool(np.nanmin(values) < 0)


@contextmanager
def _as_file(source, name: str):
    """``source`` as a path the readers can open: a path as it is, a file object's bytes in a temporary file
    named ``name`` (its suffix tells the format; deleted afterwards)."""
    if isinstance(source, (str, Path)):
        yield Path(source)
        return
    with tempfile.TemporaryDirectory(prefix="mtlgrn-cells-") as folder:
        path = Path(folder) / name
        source.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(source, out)
        yield path
