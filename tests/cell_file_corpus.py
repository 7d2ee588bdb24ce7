"""A corpus of single-cell files as the field writes them, for the tests (issue 26).

Real files where the installed packages ship them (scanpy's ``10x_pbmc68k_reduced.h5ad``, written by an anndata
before 0.7), and files written here in the layouts other tools and older versions produce: ``obs`` / ``var`` as
compound datasets with categories in ``uns`` (anndata < 0.7), categories referenced from ``__categories``
(anndata 0.7), today's encoding with a sparse CSR or CSC ``X``, dense float16 / float64, integer counts, scaled
data beside a log-normalised ``raw``, Ensembl ids with symbols in a column, repeated var names, an empty ``obs``;
a loom from anndata and one from loompy; Cell Ranger's matrix folder (v3 and the v2 ``genes.tsv``) and its HDF5
file. And the malformed cases: a truncated ``.h5ad``, a loom without a gene attribute, a Cell Ranger folder
without ``features.tsv.gz``.

Each entry is written into a dataset folder beside a small prior (``network.csv``) that links some of its
genes, so that it can be trained on.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
from scipy import io as scipy_io
from scipy import sparse

N_CELLS, N_GENES = 60, 40
SCANPY_PBMC = Path(importlib.util.find_spec("scanpy").origin).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"


def gene_names() -> list[str]:
    return [f"Gene{j:02d}" for j in range(N_GENES)]


def ensembl_ids() -> list[str]:
    return [f"ENSG{j:011d}" for j in range(N_GENES)]


def cell_names() -> list[str]:
    return [f"AAAC{i:04d}-1" for i in range(N_CELLS)]


def counts() -> np.ndarray:
    """Cells x genes counts with two cell types (the first 10 genes mark the second)."""
    rng = np.random.default_rng(7)
    rate = rng.gamma(1.0, 3.0, N_GENES)
    second = np.arange(N_CELLS) >= N_CELLS // 2
    rate_2 = rate * np.where(np.arange(N_GENES) < 10, 5.0, 1.0)
    return rng.poisson(np.where(second[:, None], rate_2, rate) * rng.uniform(0.5, 2.0, (N_CELLS, 1))).astype(np.int64)


def cell_types() -> np.ndarray:
    return np.where(np.arange(N_CELLS) >= N_CELLS // 2, "B cell", "T cell")


def log_normalised(x: np.ndarray) -> np.ndarray:
    return np.log1p(x / np.maximum(x.sum(axis=1, keepdims=True), 1) * 1e4)


def _adata(x, *, var_names=None, obs=None, var=None) -> anndata.AnnData:
    obs = obs if obs is not None else pd.DataFrame({"cell_type": pd.Categorical(cell_types())},
                                                   index=cell_names())
    var = var if var is not None else pd.DataFrame(index=var_names or gene_names())
    return anndata.AnnData(X=x, obs=obs, var=var)


# ------------------------------------------------------------------------------------------------------------
# writers: each writes its file (or folder) into a dataset folder and returns its path


def scanpy_pbmc(folder: Path) -> Path:
    shutil.copy(SCANPY_PBMC, folder / "expression.h5ad")
    return folder / "expression.h5ad"


def compound_pre07(folder: Path) -> Path:
    """anndata < 0.7: X a dense dataset; obs / var compound datasets with an ``index`` field; a categorical
    column stored as codes, its categories in ``uns/<column>_categories``."""
    path = folder / "expression.h5ad"
    x = log_normalised(counts()).astype(np.float32)
    types, codes = np.unique(cell_types(), return_inverse=True)
    with h5py.File(path, "w") as f:
        f["X"] = x
        obs = np.zeros(N_CELLS, dtype=[("index", "S16"), ("cell_type", "i1"), ("n_counts", "f4")])
        obs["index"], obs["cell_type"], obs["n_counts"] = cell_names(), codes, counts().sum(axis=1)
        f["obs"] = obs
        var = np.zeros(N_GENES, dtype=[("index", "S16"), ("means", "f4")])
        var["index"], var["means"] = gene_names(), x.mean(axis=0)
        f["var"] = var
        f["uns/cell_type_categories"] = types.astype("S")
    return path


def categories_v07(folder: Path) -> Path:
    """anndata 0.7: obs / var groups (encoding ``dataframe`` 0.1.0) whose categorical column holds codes with
    an attribute referencing its categories in ``__categories``; X a CSR group."""
    path = folder / "expression.h5ad"
    x = sparse.csr_matrix(counts().astype(np.float32))
    types, codes = np.unique(cell_types(), return_inverse=True)
    string = h5py.special_dtype(vlen=str)
    with h5py.File(path, "w") as f:
        group = f.create_group("X")
        group.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": x.shape})
        group["data"], group["indices"], group["indptr"] = x.data, x.indices, x.indptr
        obs = f.create_group("obs")
        obs.attrs.update({"encoding-type": "dataframe", "encoding-version": "0.1.0", "_index": "index",
                          "column-order": np.array(["cell_type"], dtype=string)})
        obs.create_dataset("index", data=np.array(cell_names(), dtype=object), dtype=string)
        obs["__categories/cell_type"] = np.array(types, dtype=object).astype(string)
        obs["cell_type"] = codes.astype(np.int8)
        obs["cell_type"].attrs["categories"] = obs["__categories/cell_type"].ref
        var = f.create_group("var")
        var.attrs.update({"encoding-type": "dataframe", "encoding-version": "0.1.0", "_index": "index",
                          "column-order": np.array([], dtype=string)})
        var.create_dataset("index", data=np.array(gene_names(), dtype=object), dtype=string)
    return path


def _written(folder: Path, adata: anndata.AnnData) -> Path:
    path = folder / "expression.h5ad"
    adata.write_h5ad(path)
    return path


def csr_counts(folder: Path) -> Path:
    return _written(folder, _adata(sparse.csr_matrix(counts().astype(np.float32))))


def csc_float64(folder: Path) -> Path:
    return _written(folder, _adata(sparse.csc_matrix(counts().astype(np.float64))))


def dense_float16(folder: Path) -> Path:
    return _written(folder, _adata(log_normalised(counts()).astype(np.float16)))


def integer_counts(folder: Path) -> Path:
    return _written(folder, _adata(counts().astype(np.int32)))


def scaled_with_raw(folder: Path) -> Path:
    """X z-scored (negative values), raw the log-normalised expression: as scanpy's tutorial leaves a file."""
    normalised = log_normalised(counts()).astype(np.float32)
    adata = _adata(normalised)
    adata.raw = adata.copy()
    adata.X = ((normalised - normalised.mean(axis=0)) / (normalised.std(axis=0) + 1e-6)).astype(np.float32)
    return _written(folder, adata)


def ensembl_with_symbols(folder: Path) -> Path:
    var = pd.DataFrame({"gene_symbols": gene_names()}, index=ensembl_ids())
    return _written(folder, _adata(sparse.csr_matrix(counts().astype(np.float32)), var=var))


def repeated_var_names(folder: Path) -> Path:
    names = gene_names()
    names[-1], names[-2] = names[20], names[21]  # two symbols repeated, as two Ensembl ids of one symbol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's warning on writing repeated names: the point of this file
        return _written(folder, _adata(sparse.csr_matrix(counts().astype(np.float32)), var=pd.DataFrame(index=names)))


def empty_obs(folder: Path) -> Path:
    return _written(folder, _adata(counts().astype(np.float32), obs=pd.DataFrame(index=cell_names())))


def loom_from_anndata(folder: Path) -> Path:
    path = folder / "expression.loom"
    _adata(sparse.csr_matrix(counts().astype(np.float32))).write_loom(path)  # var_names / obs_names attributes
    return path


def loom_from_loompy(folder: Path) -> Path:
    """loompy's own convention (velocyto, SCENIC): genes in the row attribute ``Gene``, cells in ``CellID``."""
    import loompy

    path = folder / "expression.loom"
    loompy.create(str(path), counts().T.astype(np.float32), {"Gene": np.array(gene_names())},
                  {"CellID": np.array(cell_names()), "cell_type": cell_types()})
    return path


def _tenx_folder(folder: Path, features_name: str) -> Path:
    path = folder / "filtered_feature_bc_matrix"
    path.mkdir()
    with gzip.open(path / "matrix.mtx.gz", "wb") as out:
        scipy_io.mmwrite(out, sparse.coo_matrix(counts().T), field="integer")
    rows = [f"{i}\t{g}" + ("\tGene Expression" if features_name.startswith("features") else "")
            for i, g in zip(ensembl_ids(), gene_names())]
    _write_lines(path / features_name, rows)
    _write_lines(path / "barcodes.tsv.gz", cell_names())
    return path


def _write_lines(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as out:
            out.write(data)
    else:
        path.write_bytes(data)


def tenx_v3_folder(folder: Path) -> Path:
    return _tenx_folder(folder, "features.tsv.gz")


def tenx_v2_folder(folder: Path) -> Path:
    """Cell Ranger 2: ``genes.tsv`` with two columns. scanpy reads the v2 layout from plain files."""
    path = _tenx_folder(folder, "genes.tsv")
    for name in ("matrix.mtx.gz", "barcodes.tsv.gz"):
        with gzip.open(path / name, "rb") as source:
            (path / name[:-3]).write_bytes(source.read())
        (path / name).unlink()
    return path


def tenx_h5(folder: Path) -> Path:
    """Cell Ranger 3's ``filtered_feature_bc_matrix.h5``: a CSC genes x cells matrix with its features."""
    path = folder / "filtered_feature_bc_matrix.h5"
    matrix = sparse.csc_matrix(counts().T.astype(np.int32))
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["data"], group["indices"], group["indptr"] = matrix.data, matrix.indices, matrix.indptr
        group["shape"] = np.array(matrix.shape, dtype=np.int32)
        group["barcodes"] = np.array(cell_names(), dtype="S")
        features = group.create_group("features")
        features["id"] = np.array(ensembl_ids(), dtype="S")
        features["name"] = np.array(gene_names(), dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * N_GENES, dtype="S")
        features["genome"] = np.array(["GRCh38"] * N_GENES, dtype="S")
        features["_all_tag_keys"] = np.array([b"genome"])
    return path


# malformed


def truncated_h5ad(folder: Path) -> Path:
    path = csr_counts(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def loom_without_genes(folder: Path) -> Path:
    import loompy

    path = folder / "expression.loom"
    loompy.create(str(path), counts().T.astype(np.float32), {"chromosome": np.array(["1"] * N_GENES)},
                  {"CellID": np.array(cell_names())})
    return path


def tenx_without_features(folder: Path) -> Path:
    path = tenx_v3_folder(folder)
    (path / "features.tsv.gz").unlink()
    return path


def zipped(folder: Path) -> bytes:
    """The dataset folder as a user zips it: its files (a Cell Ranger folder with its own) inside one top folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@dataclass(frozen=True)
class CorpusFile:
    """One corpus entry: how to write it, the gene names the product should use, the refusal it should get."""

    name: str
    write: Callable[[Path], Path]
    genes: tuple[str, ...] = tuple(gene_names())
    refusal: str | None = None  # a part of the message a malformed file gets

    def dataset_folder(self, root: Path) -> tuple[Path, Path]:
        """``(folder, file)``: a dataset folder with this file and a prior linking its genes."""
        folder = root / self.name
        folder.mkdir(parents=True)
        file = self.write(folder)
        genes = list(self.genes)
        edges = [(genes[i], genes[j]) for i in range(4) for j in range(4, 16) if i != j]
        pd.DataFrame(edges, columns=["source", "target"]).assign(sign="+").to_csv(folder / "network.csv",
                                                                                 index=False)
        return folder, file


def _pbmc_genes() -> tuple[str, ...]:
    if not SCANPY_PBMC.is_file():
        return ()
    with h5py.File(SCANPY_PBMC, "r") as f:
        return tuple(f["var"]["index"][:16].astype(str))


READABLE = [
    CorpusFile("scanpy_pbmc68k_reduced", scanpy_pbmc, _pbmc_genes()),
    CorpusFile("compound_pre07", compound_pre07),
    CorpusFile("categories_v07", categories_v07),
    CorpusFile("csr_counts", csr_counts),
    CorpusFile("csc_float64", csc_float64),
    CorpusFile("dense_float16", dense_float16),
    CorpusFile("integer_counts", integer_counts),
    CorpusFile("scaled_with_raw", scaled_with_raw),
    CorpusFile("ensembl_with_symbols", ensembl_with_symbols),
    CorpusFile("repeated_var_names", repeated_var_names, tuple(gene_names()[:-2])),
    CorpusFile("empty_obs", empty_obs),
    CorpusFile("loom_from_anndata", loom_from_anndata),
    CorpusFile("loom_from_loompy", loom_from_loompy),
    CorpusFile("tenx_v3_folder", tenx_v3_folder),
    CorpusFile("tenx_v2_folder", tenx_v2_folder),
    CorpusFile("tenx_h5", tenx_h5),
]
MALFORMED = [
    CorpusFile("truncated_h5ad", truncated_h5ad, refusal="is not a readable AnnData file"),
    CorpusFile("loom_without_genes", loom_without_genes, refusal="has no row attribute with the gene names"),
    CorpusFile("tenx_without_features", tenx_without_features, refusal="without features.tsv.gz"),
]
