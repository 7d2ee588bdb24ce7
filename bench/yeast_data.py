"""BENCHMARK.md section 5's data: real yeast deletion profiles and the motif prior (``../shared/data/yeast_deletions``,
read its ``SOURCE.md``).

- ``kemmeren``: 1,484 single-gene deletion strains x 194 measured genes, log2 ratio against the wild-type pool
  (Kemmeren et al. 2014); the three ``WT`` columns (wild-type strains against the pool) are left out.
- ``tf_knockouts``: 179 transcription-factor deletions x 573 measured genes, log2 fold change against wild type (the
  ``WT`` column, all zeros, is the reference); no deleted TF is a measured gene.

The prior is the motif prior (rows targets, columns TFs, a signed integer per edge; no expression data shaped it),
restricted to the measured targets. Never the YEASTRACT table (its expression evidence may come from these same
deletions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FOLDER = "yeast_deletions"
MOTIF_PRIOR = Path("priors") / "yeast-motif-prior.tsv.gz"
SETS = ("kemmeren", "tf_knockouts")


@dataclass
class DeletionSet:
    """Deletion profiles of one data set: ``profiles[g, j]`` is the measured change of ``genes[g]`` when
    ``deleted[j]`` is deleted; ``prior`` holds ``source, target, sign`` (the motif prior's edges onto measured
    genes, sign +1 / -1); ``controls`` the reference the log ratios are taken against (a column of zeros: the
    wild-type pool of Kemmeren's arrays, the wild type of the TF set, which ships it as its ``WT`` column)."""

    name: str
    genes: list[str]
    profiles: np.ndarray
    deleted: list[str]
    prior: pd.DataFrame
    controls: np.ndarray  # the reference every profile is a log ratio against: one column of zeros

    def regulators_with_targets(self) -> list[str]:
        """The deleted genes that regulate a measured gene in the prior (the genes section 5 holds out), in the
        order of their first deletion."""
        sources = set(self.prior["source"])
        return [g for g in dict.fromkeys(self.deleted) if g in sources]


def load(name: str, shared: Path) -> DeletionSet:
    """One of :data:`SETS` from the shared data folder ``shared``."""
    folder = Path(shared) / FOLDER
    if name == "kemmeren":
        path = folder / "kemmeren_deletions_194genes"
        genes, columns = _names(path / "genes"), _names(path / "conditions")
        values = pd.read_csv(path / "data.expr.gz", sep="\t", header=None).to_numpy(dtype=np.float64)
    elif name == "tf_knockouts":
        path = folder / "tf_knockouts_573genes"
        genes, columns = _names(path / "hk_gene_list.csv"), _names(path / "hk_sample_list_all.csv")
        values = pd.read_csv(path / "hk_expression_all.csv.gz", header=None).to_numpy(dtype=np.float64)
    else:
        raise ValueError(f"unknown yeast deletion set {name!r}; one of {', '.join(SETS)}")
    _check_shape(values, genes, columns, path)
    deletions = [j for j, c in enumerate(columns) if c != "WT"]
    return DeletionSet(name, genes, values[:, deletions], [columns[j] for j in deletions],
                       motif_prior(folder / MOTIF_PRIOR, genes), np.zeros((len(genes), 1)))


def motif_prior(path: Path, genes: list[str]) -> pd.DataFrame:
    """The motif prior's edges onto ``genes``: ``source`` (TF), ``target``, ``sign`` (+1 / -1), self-edges left
    out."""
    matrix = pd.read_csv(path, sep="\t", index_col=0)
    matrix = matrix.loc[matrix.index.intersection(genes)]
    long = matrix.stack()
    long = long[long != 0]
    edges = pd.DataFrame({"source": long.index.get_level_values(1).astype(str),
                          "target": long.index.get_level_values(0).astype(str),
                          "sign": np.sign(long.to_numpy()).astype(int)})
    return edges[edges["source"] != edges["target"]].reset_index(drop=True)


def _names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _check_shape(values: np.ndarray, rows: list[str], columns: list[str], folder: Path) -> None:
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"{folder}: the matrix is {values.shape[0]} x {values.shape[1]} but its name lists hold "
                         f"{len(rows)} genes and {len(columns)} conditions")
