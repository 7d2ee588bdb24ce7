"""A single-cell dataset as labs bring it, built in code for the tests: 400 cells x 300 genes of sparse
counts in layers["counts"] (X log-normalised), Ensembl var_names with mouse-style symbols in var["gene_symbols"],
two cell types and CRISPR guides in obs, and a TRRUST-style prior in human-style case naming genes the cells do
not have."""

from pathlib import Path

import anndata
import numpy as np
import pandas as pd
from scipy import sparse

N_CELLS, N_GENES = 400, 300


def symbols() -> list[str]:
    return [f"Gene{j:03d}" for j in range(N_GENES)]  # mouse-style case: "Gene001"


def write_lab_data(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write ``expression.h5ad`` and ``network.tsv`` into ``folder``; return the counts (cells x genes) and
    the cell types."""
    rng = np.random.default_rng(0)
    cell_type = np.where(np.arange(N_CELLS) < 250, "T cell", "B cell")
    rate = rng.gamma(0.6, 2.0, size=N_GENES)
    rate_b = rate * np.where(np.arange(N_GENES) < 40, 6.0, 1.0)  # the first 40 genes mark B cells
    counts = rng.poisson(np.where(cell_type[:, None] == "B cell", rate_b, rate) * rng.uniform(0.5, 2, (N_CELLS, 1)))
    guide = np.where(np.arange(N_CELLS) % 4 == 0, "Gene050", "non-targeting")
    guide[np.arange(N_CELLS) % 9 == 1] = "NotAGene"
    normalised = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    layers = {"counts": sparse.csr_matrix(counts.astype(np.float32))}
    adata = anndata.AnnData(X=sparse.csr_matrix(normalised), layers=layers,
                            obs=pd.DataFrame({"cell_type": cell_type, "guide": guide, "batch": "one"},
                                             index=[f"cell{i}" for i in range(N_CELLS)]),
                            var=pd.DataFrame({"gene_symbols": symbols()},
                                             index=[f"ENSMUSG{j:011d}" for j in range(N_GENES)]))
    adata.write_h5ad(folder / "expression.h5ad")
    prior = pd.DataFrame({"TF": ["GENE001", "GENE001", "GENE002", "GENE050", "SOX2", "GENE003"],
                          "target": ["GENE010", "GENE200", "GENE001", "GENE299", "NANOG", "MYC"],
                          "mode": ["Activation", "Repression", "Unknown", "Activation", "Activation", "Activation"]})
    prior.to_csv(folder / "network.tsv", sep="\t", index=False)
    return counts, cell_type
