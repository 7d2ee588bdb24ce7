"""The BEELINE scRNA-seq sets that ship expression, as MTLGRN datasets (BENCHMARK.md section 1).

Reads ``shared/data/beeline_benchmark/<truth>/<cell>/TFs+<size>/`` (GENELink's packaging of BEELINE, see its
SOURCE.md) and builds one :class:`Dataset` per (cell, size, ground truth):

- sets (``BEELINE_SETS``): hHEP TFs+500 and TFs+1000, mDC TFs+500 and TFs+1000, mESC TFs+500, mHSC-GM TFs+500
  (the others have no expression file in the shared data); ground truths (``TRUTHS``): ``STRING``,
  ``Non-Specific``, ``Specific`` (each where its folder holds ``BL--ExpressionData.csv.gz``: all 18 here).
- expression: ``BL--ExpressionData.csv.gz`` (genes x cells, gene symbols in the first column, cell ids in the
  header), already log-transformed and normalised by BEELINE, so it is taken as it is
  (``build_dataset(log_transform=False)``; values stay unchanged, stored as float32). A NaN, infinite or
  non-numeric value, an empty or duplicated gene name (also when duplicated only up to case) or a duplicated
  cell id is an error (``ValueError`` naming the file and the first offender): none occurs in the shipped
  files, and imputing or merging would silently change the benchmark. Gene symbols are kept as written (upper
  case, except some human ``CxORFy`` names such as ``C11orf74`` in hHEP).
- tfs: ``TF.csv`` of the same folder (BEELINE's TF list restricted to the expressed genes; it also holds TFs
  without any ground-truth edge, and the ``Specific`` folders list 1-7 more TFs than STRING / Non-Specific,
  e.g. SUMO1 / SUMO2 in mDC).
- prior and truth: the edges of ``BL--network.csv`` (``Gene1 -> Gene2``; the ``Score`` column of the Specific
  networks is ignored), sign 0 (unknown), restricted to TF -> gene pairs with both genes in the expression;
  self-loops and duplicates are dropped too. Anything dropped is reported in ``dataset.warnings`` (nothing is
  dropped in the shipped files). The prior is the full edge set that BENCHMARK.md section 1 splits per seed;
  a method must only ever see the train part of it.
- no sample sheet (single-cell snapshots: no perturbations) and no promoters (the shared data hold promoter
  sequences only for the DREAM4 organisms, none for human or mouse), so MTLGRN uses expression features only.

Genes are matched by SYMBOL, never by row index: the row order of the expression file differs between the
three ground-truth folders of one cell / size (same genes, same values), and ``Label.csv`` / ``TF.csv`` /
``Target.csv`` indices refer to the row order of their own folder. The loader checks that ``TF.csv`` and
``Target.csv`` indices agree with their folder's expression rows (a mixed-up folder is an error) and that
``Label.csv`` names the same edges as ``BL--network.csv`` (a warning otherwise).

CLI::

    python bench/beeline_data.py --cell hHEP --size 500 --truth STRING --out DIR   # one dataset into DIR
    python bench/beeline_data.py                      # all 18 into bench/out/beeline_<cell>_TFs<size>_<truth>
    python bench/beeline_data.py --cell mDC --out ROOT   # several: into ROOT/beeline_<cell>_TFs<size>_<truth>

The shared data folder is ``<repo>/../shared/data`` by default, or ``$MTLGRN_SHARED_DATA``, or ``--shared``.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from mtlgrn_core.inputs.data import Dataset, build_dataset, write_dataset
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mtlgrn_core.inputs.data import Dataset, build_dataset, write_dataset
if str(Path(__file__).resolve().parent) not in sys.path:  # imported from elsewhere (tests)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_data import ENV_VAR, shared_data_dir  # noqa: E402

BEELINE_SETS = [("hHEP", 500), ("hHEP", 1000), ("mDC", 500), ("mDC", 1000), ("mESC", 500), ("mHSC-GM", 500)]
TRUTHS = ("STRING", "Non-Specific", "Specific")
CELLS = tuple(dict.fromkeys(cell for cell, _ in BEELINE_SETS))
SIZES = (500, 1000)
EXPRESSION_FILE = "BL--ExpressionData.csv.gz"
DEFAULT_OUT = Path(__file__).resolve().parent / "out"  # bench/out/ (git-ignored)

__all__ = ["BEELINE_SETS", "TRUTHS", "shared_data_dir", "beeline_dir", "set_dir", "set_name",
           "beeline_counts", "read_expression", "load_beeline", "write_beeline", "main"]


# ----------------------------------------------------------------------------------------------------
# Locating files


def beeline_dir(shared: str | Path | None = None) -> Path:
    """``<shared>/beeline_benchmark``; raises ``FileNotFoundError`` (with the place tried) when absent."""
    folder = shared_data_dir(shared) / "beeline_benchmark"
    if not all((folder / truth).is_dir() for truth in TRUTHS):
        raise FileNotFoundError(
            f"BEELINE data not found at {folder} (expected {', '.join(TRUTHS)}/ inside). Pass --shared / "
            f"shared=, or set ${ENV_VAR} to the folder holding beeline_benchmark/.")
    return folder


def _check_set(cell: str, size: int, truth: str) -> tuple[str, int, str]:
    if (cell, int(size)) not in BEELINE_SETS:
        raise ValueError(f"BEELINE set {cell} TFs+{size} has no expression here; use one of "
                         f"{', '.join(f'{c}:{s}' for c, s in BEELINE_SETS)}.")
    if truth not in TRUTHS:
        raise ValueError(f"ground truth {truth!r} is not one of {', '.join(TRUTHS)}.")
    return cell, int(size), truth


def set_dir(cell: str, size: int, truth: str, *, shared: str | Path | None = None) -> Path:
    """``<beeline_benchmark>/<truth>/<cell>/TFs+<size>``; raises ``FileNotFoundError`` when the folder or its
    expression file is missing."""
    cell, size, truth = _check_set(cell, size, truth)
    folder = beeline_dir(shared) / truth / cell / f"TFs+{size}"
    if not (folder / EXPRESSION_FILE).is_file():
        raise FileNotFoundError(f"BEELINE {truth} {cell} TFs+{size}: {folder / EXPRESSION_FILE} is missing.")
    return folder


def set_name(cell: str, size: int, truth: str) -> str:
    """The dataset / file name of one set, e.g. ``beeline_mHSC-GM_TFs500_STRING``."""
    return f"beeline_{cell}_TFs{int(size)}_{truth}"


def beeline_counts(cell: str, size: int, truth: str, *, shared: str | Path | None = None) -> dict[str, int]:
    """``genes``, ``cells``, ``tfs`` and ``edges`` of one set from its small index files and the expression
    header (the matrix is not read): enough to size a run before loading it."""
    folder = set_dir(cell, size, truth, shared=shared)
    with gzip.open(folder / EXPRESSION_FILE, "rt") as fh:
        n_cells = len(fh.readline().rstrip("\r\n").split(",")) - 1
    return {"genes": len(pd.read_csv(folder / "Target.csv")), "cells": n_cells,
            "tfs": len(pd.read_csv(folder / "TF.csv")), "edges": len(pd.read_csv(folder / "BL--network.csv"))}


# ----------------------------------------------------------------------------------------------------
# Reading the BEELINE files


def read_expression(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """``(genes in file order, cell ids, float64 matrix genes x cells)`` of a BEELINE expression CSV (.gz).

    Raises ``ValueError`` on an empty / duplicated gene name (also duplicated only up to case), a duplicated
    cell id, or a NaN / infinite / non-numeric / missing value, naming the first offender.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        header = fh.readline().rstrip("\r\n").split(",")
    cells = [c.strip().strip('"') for c in header[1:]]
    if not cells:
        raise ValueError(f"{path.name}: header has no cell ids")
    _unique(cells, "cell id", path)
    table = pd.read_csv(path, header=None, skiprows=1, index_col=0, dtype={0: str})
    genes = [str(g).strip().strip('"') for g in table.index]
    _unique(genes, "gene", path)
    _unique([g.upper() for g in genes], "gene (ignoring case)", path)
    if table.shape[1] != len(cells):
        raise ValueError(f"{path.name}: rows have {table.shape[1]} values but the header names {len(cells)} "
                         "cells")
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{path.name}: {int(bad.sum())} values are missing, NaN, infinite or not numbers "
                         f"(first: gene {genes[i]}, cell {cells[j]}: {table.iat[i, j]!r}). BEELINE ships none; "
                         "fix the file rather than imputing.")
    return genes, cells, values


def _unique(names: list[str], what: str, path: Path) -> None:
    if any(n == "" or n.lower() == "nan" for n in names):
        raise ValueError(f"{path.name}: a {what.split()[0]} name is empty")
    seen = pd.Index(names)
    dup = seen[seen.duplicated()]
    if len(dup):
        raise ValueError(f"{path.name}: {len(dup)} duplicated {what} name(s), e.g. {', '.join(map(str, dup[:5]))}. "
                         "Merge or drop them before loading.")


def _read_index_file(path: Path, column: str, genes: list[str]) -> list[str]:
    """Names of ``TF.csv`` / ``Target.csv``, checking their ``index`` column against ``genes`` (file order)."""
    table = pd.read_csv(path, dtype={column: str})
    if column not in table.columns or "index" not in table.columns:
        raise ValueError(f"{path}: expected columns {column}, index (got {list(table.columns)})")
    names = table[column].str.strip().tolist()
    idx = table["index"].to_numpy(dtype=np.int64)
    if idx.min(initial=0) < 0 or idx.max(initial=0) >= len(genes) or \
            any(genes[i] != n for i, n in zip(idx, names)):
        raise ValueError(f"{path}: its row indices do not match the expression file of the same folder (files "
                         "of different folders mixed?)")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a {column} is listed twice")
    return names


def _read_network(path: Path) -> pd.DataFrame:
    """``BL--network.csv`` as ``source, target`` (file order; ``Score`` ignored)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [c.strip() for c in table.columns]
    if not {"Gene1", "Gene2"} <= set(table.columns):
        raise ValueError(f"{path}: expected columns Gene1, Gene2 (got {list(table.columns)})")
    return pd.DataFrame({"source": table["Gene1"].str.strip(), "target": table["Gene2"].str.strip()})


def _label_mismatch(folder: Path, genes: list[str], edges: pd.DataFrame) -> str | None:
    """A sentence when ``Label.csv`` (row indices) does not name the same edges as ``BL--network.csv``."""
    label = pd.read_csv(folder / "Label.csv")
    if not {"TF", "Target"} <= set(label.columns):
        return "Label.csv: no TF, Target columns; not cross-checked."
    idx = label[["TF", "Target"]].to_numpy(dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(genes)):
        return "Label.csv: row indices outside the expression file; ignored (BL--network.csv is used)."
    from_label = {(genes[a], genes[b]) for a, b in idx}
    from_net = set(zip(edges["source"], edges["target"]))
    if from_label != from_net:
        return (f"Label.csv names {len(from_label - from_net)} edges not in BL--network.csv and misses "
                f"{len(from_net - from_label)}; BL--network.csv (gene symbols) is used.")
    return None


# ----------------------------------------------------------------------------------------------------
# Public API


def load_beeline(cell: str, size: int, truth: str, *, shared: str | Path | None = None) -> Dataset:
    """BEELINE ``cell`` TFs+``size`` with ground truth ``truth`` as a validated :class:`Dataset`.

    Genes sorted by name (the expression values of a gene are the same in every truth folder of one cell /
    size); samples = cell ids in file order; ``tfs`` from ``TF.csv``; ``prior`` and ``truth`` both the
    ground-truth edges restricted to TF -> expressed gene (sign 0). What was dropped is in ``warnings``.
    """
    cell, size, truth = _check_set(cell, size, truth)
    folder = set_dir(cell, size, truth, shared=shared)
    genes, cells, values = read_expression(folder / EXPRESSION_FILE)
    targets = _read_index_file(folder / "Target.csv", "Gene", genes)
    if sorted(targets) != sorted(genes):
        raise ValueError(f"{folder / 'Target.csv'}: does not list exactly the genes of the expression file")
    tfs = _read_index_file(folder / "TF.csv", "TF", genes)
    notes: list[str] = []

    raw = _read_network(folder / "BL--network.csv")
    gene_set, tf_set = set(genes), set(tfs)
    reasons = {
        "self-loop": raw["source"] == raw["target"],
        "gene not in the expression": ~(raw["source"].isin(gene_set) & raw["target"].isin(gene_set)),
    }
    reasons["source not in TF.csv"] = ~raw["source"].isin(tf_set) & ~reasons["gene not in the expression"]
    drop = np.zeros(len(raw), dtype=bool)
    parts = []
    for why, mask in reasons.items():
        new = mask.to_numpy() & ~drop
        if new.any():
            examples = ", ".join(f"{s}->{t}" for s, t in raw[new][["source", "target"]].head(3).itertuples(index=False))
            parts.append(f"{int(new.sum())} {why} (e.g. {examples})")
        drop |= new
    edges = raw[~drop]
    duplicates = int(edges.duplicated().sum())
    if duplicates:
        parts.append(f"{duplicates} duplicate(s)")
    edges = edges.drop_duplicates().reset_index(drop=True)
    if parts:
        notes.append(f"BL--network.csv: {len(raw) - len(edges)} of {len(raw)} edges dropped: "
                     + "; ".join(parts) + ".")
    mismatch = _label_mismatch(folder, genes, raw)
    if mismatch:
        notes.append(mismatch)
    if edges.empty:
        raise ValueError(f"{folder / 'BL--network.csv'}: no edge left among the TFs and expressed genes")
    edges = edges.assign(sign=0)

    dataset = build_dataset(genes=genes, samples=cells, expression=values, prior=edges, tfs=tfs,
                            truth=edges.copy(), log_transform=False, name=set_name(cell, size, truth),
                            files={"expression": EXPRESSION_FILE, "network": "BL--network.csv",
                                   "tfs": "TF.csv", "truth": "BL--network.csv"})
    dataset.warnings.extend(notes)
    return dataset


def write_beeline(cell: str, size: int, truth: str, out_dir: str | Path, *, shared: str | Path | None = None,
                  dataset: Dataset | None = None) -> Path:
    """Write one set as a dataset folder (``expression.csv``, ``network.csv``, ``tfs.txt``, ``truth.csv``);
    ``load_dataset(folder, log_transform=False)`` reads it back."""
    dataset = load_beeline(cell, size, truth, shared=shared) if dataset is None else dataset
    return write_dataset(dataset, out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert the BEELINE sets that ship expression into MTLGRN "
                                                 "dataset folders.")
    parser.add_argument("--cell", action="append", choices=CELLS, help="cell type (repeatable; default: all)")
    parser.add_argument("--size", type=int, action="append", choices=SIZES,
                        help="TFs+500 or TFs+1000 (repeatable; default: both where available)")
    parser.add_argument("--truth", action="append", choices=TRUTHS, help="ground truth (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="with one set: the dataset folder; with several: the parent of "
                             "beeline_<cell>_TFs<size>_<truth> (default: bench/out/...)")
    parser.add_argument("--shared", type=Path, default=None,
                        help=f"the shared data folder (default: ${ENV_VAR} or <repo>/../shared/data)")
    args = parser.parse_args(argv)
    cells, sizes = args.cell or list(CELLS), args.size or list(SIZES)
    sets = [(c, s) for c, s in BEELINE_SETS if c in cells and s in sizes]
    if not sets:
        print(f"error: no BEELINE set with expression matches --cell {cells} --size {sizes}; available: "
              f"{', '.join(f'{c} TFs+{s}' for c, s in BEELINE_SETS)}", file=sys.stderr)
        return 2
    jobs = [(c, s, t) for c, s in sets for t in (args.truth or TRUTHS)]
    try:
        beeline_dir(args.shared)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for cell, size, truth in jobs:
        if args.out is not None and len(jobs) == 1:
            folder = args.out
        else:
            folder = (args.out or DEFAULT_OUT) / set_name(cell, size, truth)
        dataset = load_beeline(cell, size, truth, shared=args.shared)
        folder = write_beeline(cell, size, truth, folder, dataset=dataset)
        summary = dataset.summary()
        print(f"{cell} TFs+{size} {truth} -> {folder}: {summary['genes']} genes x {summary['samples']} cells, "
              f"{summary['tfs']} TFs, {summary['truth_edges']} ground-truth edges")
        for warning in dataset.warnings:
            print(f"  warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
