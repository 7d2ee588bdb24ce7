"""DREAM4 in-silico size-100 networks 1-4 as MTLGRN datasets (BENCHMARK.md sections 1 and 2).

Reads ``shared/data/dream4_insilico`` and ``shared/data/promoters`` and builds one :class:`Dataset` per
network:

- expression (100 genes x 511 samples, values as given: normalised concentrations in [0, 1], no log):
  ``wt`` (perturbation ``control``, dose 1); ``ko_G1`` .. ``ko_G100`` (perturbation ``Gi``, dose 0);
  ``kd_G1`` .. ``kd_G100`` (``Gi``, dose 0.5); ``mf_001`` .. ``mf_100`` (multifactorial, unlabelled: perturbation
  ``""``, dose 1); ``ts01_t0000`` .. ``ts10_t1000`` (10 time series x 21 points, unlabelled, dose 1).
  The multifactorial files of the "size 100 multifactorial" sub-challenge use randomly renamed genes; they are
  mapped back to the size-100 names through ``*_gene_mapping.tsv`` (``New`` -> ``Old``).
- tfs: every gene (DREAM4 has no TF list: every gene is a candidate regulator).
- prior (``network.csv``) and truth (``truth.csv``): the gold-standard edges with their signs from
  ``*_goldstandard_signed.tsv`` (``+`` 1, ``-`` -1, ``+-`` 0 = unknown). The prior is the full edge set that
  BENCHMARK.md section 1 splits per seed; a method must only ever see the train part of it.
- promoters: the real 500 bp upstream window of each gene (``*_gene_names.tsv`` -> real gene name ->
  ``promoters/{ecoli,yeast}_upstream500.fa.gz``), written under the ``G`` names.

:func:`dream4_knockout_truth` returns the section-2 evaluation data (wildtype, single knockouts, double
knockout pairs and their noise-free steady states) aligned to the dataset's (name-sorted) gene order.

``source_networks/`` is never read: it contains the answer.

CLI::

    python bench/dream4_data.py --net 1 --out DIR     # one network into DIR
    python bench/dream4_data.py                       # nets 1-4 into bench/out/dream4_net{N}
    python bench/dream4_data.py --net 1 --net 3 --out ROOT   # into ROOT/dream4_net{N}

The shared data folder is ``<repo>/../shared/data`` by default, or ``$MTLGRN_SHARED_DATA``, or ``--shared``.
"""

from __future__ import annotations

import argparse
import functools
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

NETS = (1, 2, 3, 4)
N_GENES = 100
ORGANISM = {1: "ecoli", 2: "ecoli", 3: "yeast", 4: "yeast"}
SIGNS = {"+": 1, "-": -1, "+-": 0, "-+": 0, "": 0}
KNOCKDOWN_DOSE = 0.5
FORBIDDEN = "source_networks"
DEFAULT_OUT = Path(__file__).resolve().parent / "out"  # bench/out/ (git-ignored)
FILE_GENES = [f"G{i}" for i in range(1, N_GENES + 1)]  # the files' column order (numeric)

__all__ = ["NETS", "shared_data_dir", "dream4_dir", "load_dream4", "dream4_knockout_truth",
           "dream4_promoter_info", "write_dream4", "main"]


# ----------------------------------------------------------------------------------------------------
# Locating files


def dream4_dir(shared: str | Path | None = None) -> Path:
    """``<shared>/dream4_insilico``; raises ``FileNotFoundError`` (with the places tried) when absent."""
    folder = shared_data_dir(shared) / "dream4_insilico"
    if not (folder / "size100").is_dir():
        raise FileNotFoundError(
            f"DREAM4 data not found at {folder} (expected size100/ inside). Pass --shared / shared=, or set "
            f"${ENV_VAR} to the folder holding dream4_insilico/ and promoters/.")
    return folder


def _check_net(net: int) -> int:
    if int(net) not in NETS:
        raise ValueError(f"DREAM4 size-100 network {net} is not available here; use one of {NETS} "
                         "(network 5 is held out).")
    return int(net)


def _file(shared: str | Path | None, net: int, kind: str) -> Path:
    """Path of one DREAM4 file. ``kind`` e.g. ``knockouts`` -> ``size100/insilico_size100_N/..._knockouts.tsv``;
    ``mf`` / ``mf_mapping`` -> the multifactorial copy and its gene mapping."""
    base = dream4_dir(shared)
    if kind == "mf":
        path = base / "size100_multifactorial" / f"insilico_size100_{net}_multifactorial.tsv"
    elif kind == "mf_mapping":
        path = base / "size100_multifactorial" / f"insilico_size100_multifactorial_{net}_gene_mapping.tsv"
    else:
        path = base / "size100" / f"insilico_size100_{net}" / f"insilico_size100_{net}_{kind}.tsv"
    if FORBIDDEN in path.parts:  # belt and braces: the source networks hold the gold standard
        raise PermissionError(f"refusing to read {path}: {FORBIDDEN}/ contains the answer")
    if not path.is_file():
        raise FileNotFoundError(f"DREAM4 file missing: {path}")
    return path


# ----------------------------------------------------------------------------------------------------
# Reading the DREAM4 files (all tab-separated; quoted headers)


def _read_matrix(path: Path, *, header: bool = True) -> pd.DataFrame:
    """A numeric table; columns = the header's gene names (or G1..G100 when there is no header)."""
    table = pd.read_csv(path, sep="\t", header=0 if header else None, dtype=np.float64)
    if not header:
        if table.shape[1] != N_GENES:
            raise ValueError(f"{path.name}: {table.shape[1]} columns, expected {N_GENES}")
        table.columns = list(FILE_GENES)
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    if table.isna().any().any():
        raise ValueError(f"{path.name}: holds empty or non-numeric cells")
    return table


def _read_steady(shared, net: int, kind: str) -> pd.DataFrame:
    """Wildtype / knockouts / knockdowns as a table indexed by perturbed gene (``wt`` for the wildtype)."""
    table = _read_matrix(_file(shared, net, kind))
    genes = list(FILE_GENES)
    if list(table.columns) != genes:
        raise ValueError(f"{kind}: header is not G1..G{N_GENES}")
    expected = 1 if kind == "wildtype" else N_GENES
    if len(table) != expected:
        raise ValueError(f"{kind}: {len(table)} rows, expected {expected}")
    table.index = ["wt"] if kind == "wildtype" else genes  # row i = perturbation of gene G(i+1)
    return table


def _read_multifactorial(shared, net: int) -> pd.DataFrame:
    """Multifactorial steady states (rows = samples), columns renamed back to the size-100 gene names."""
    mapping = pd.read_csv(_file(shared, net, "mf_mapping"), sep="\t", dtype=str)
    mapping.columns = [c.strip().strip('"') for c in mapping.columns]
    if list(mapping.columns) != ["New", "Old"]:
        raise ValueError(f"gene mapping of net {net}: header {list(mapping.columns)}, expected New, Old")
    new_to_old = dict(zip(mapping["New"].str.strip(), mapping["Old"].str.strip()))
    genes = list(FILE_GENES)
    if sorted(new_to_old) != sorted(genes) or sorted(new_to_old.values()) != sorted(genes):
        raise ValueError(f"gene mapping of net {net} is not a permutation of G1..G{N_GENES}")
    table = _read_matrix(_file(shared, net, "mf"))
    if sorted(table.columns) != sorted(genes) or len(table) != N_GENES:
        raise ValueError(f"multifactorial of net {net}: unexpected shape {table.shape}")
    table = table.rename(columns=new_to_old)[genes]
    table.index = [f"mf_{k + 1:03d}" for k in range(len(table))]
    return table


def _read_timeseries(shared, net: int) -> pd.DataFrame:
    """Time-series points (rows = samples ``tsSS_tTTTT``), from blank-line separated blocks."""
    path = _file(shared, net, "timeseries")
    lines = path.read_text().splitlines()
    header = [c.strip().strip('"') for c in lines[0].split("\t")]
    if header[0] != "Time" or header[1:] != list(FILE_GENES):
        raise ValueError(f"{path.name}: header is not Time, G1..G{N_GENES}")
    blocks: list[list[list[float]]] = []
    current: list[list[float]] = []
    for line in lines[1:]:
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        row = [float(x) for x in line.strip().split("\t")]
        if len(row) != len(header):
            raise ValueError(f"{path.name}: a row has {len(row)} fields, expected {len(header)}")
        current.append(row)
    if current:
        blocks.append(current)
    rows, names = [], []
    for s, block in enumerate(blocks, start=1):
        for row in block:
            names.append(f"ts{s:02d}_t{int(round(row[0])):04d}")
            rows.append(row[1:])
    table = pd.DataFrame(rows, index=names, columns=list(FILE_GENES), dtype=np.float64)
    if table.index.duplicated().any():
        raise ValueError(f"{path.name}: duplicate time points within a series")
    return table


def _read_signed_gold(shared, net: int) -> pd.DataFrame:
    path = _file(shared, net, "goldstandard_signed")
    table = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    if table.shape[1] != 3:
        raise ValueError(f"{path.name}: expected 3 columns regulator, target, sign")
    unknown = set(table[2].str.strip()) - set(SIGNS)
    if unknown:
        raise ValueError(f"{path.name}: unknown sign(s) {sorted(unknown)}")
    edges = pd.DataFrame({"source": table[0].str.strip(), "target": table[1].str.strip(),
                          "sign": [SIGNS[s.strip()] for s in table[2]]})
    if edges.duplicated(["source", "target"]).any():
        raise ValueError(f"{path.name}: duplicate edges")
    return edges


# ----------------------------------------------------------------------------------------------------
# Promoters


@functools.lru_cache(maxsize=4)
def _read_upstream(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(id -> sequence, id -> header)`` of an upstream500 FASTA (first header token = id)."""
    seqs: dict[str, list[str]] = {}
    headers: dict[str, str] = {}
    current = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                current = line[1:].split()[0]
                if current in seqs:
                    raise ValueError(f"{path.name}: record {current} appears twice")
                seqs[current] = []
                headers[current] = line[1:]
            elif current is not None:
                seqs[current].append(line.upper())
    return {k: "".join(v) for k, v in seqs.items()}, headers


def _real_names(shared, net: int) -> dict[str, str]:
    table = pd.read_csv(_file(shared, net, "gene_names"), sep="\t", dtype=str, keep_default_na=False)
    table.columns = [c.strip().strip('"') for c in table.columns]
    names = dict(zip(table["Index"].str.strip(), table["Gene"].str.strip()))
    if sorted(names) != sorted(list(FILE_GENES)):
        raise ValueError(f"gene names of net {net}: index is not G1..G{N_GENES}")
    return names


def _promoter_file(shared, net: int) -> Path:
    path = shared_data_dir(shared) / "promoters" / f"{ORGANISM[net]}_upstream500.fa.gz"
    if not path.is_file():
        raise FileNotFoundError(f"promoter file missing: {path}")
    return path


def dream4_promoter_info(net: int, *, shared: str | Path | None = None) -> pd.DataFrame:
    """Per gene (``G`` name, sorted like the dataset): real name, found, sequence length and ``free_upstream``
    (bp of the window before a neighbouring gene starts; small for operon-internal E. coli genes)."""
    net = _check_net(net)
    names = _real_names(shared, net)
    seqs, headers = _read_upstream(_promoter_file(shared, net))
    rows = []
    for gene in sorted(names):
        real = names[gene]
        fields = dict(f.split("=", 1) for f in headers.get(real, "").split()[1:] if "=" in f)
        rows.append({"gene": gene, "real_name": real, "found": real in seqs,
                     "length": len(seqs.get(real, "")),
                     "free_upstream": int(fields["free_upstream"]) if "free_upstream" in fields else -1})
    return pd.DataFrame(rows).set_index("gene")


def _promoters(shared, net: int) -> tuple[dict[str, str], list[str]]:
    names = _real_names(shared, net)
    seqs, _ = _read_upstream(_promoter_file(shared, net))
    found = {g: seqs[r] for g, r in names.items() if r in seqs}
    missing = [f"{g} ({r})" for g, r in names.items() if r not in seqs]
    return found, missing


# ----------------------------------------------------------------------------------------------------
# Public API


def load_dream4(net: int, *, shared: str | Path | None = None, promoters: bool = True) -> Dataset:
    """DREAM4 size-100 network ``net`` (1-4) as a validated :class:`Dataset` (genes sorted by name).

    Samples (511): ``wt``, ``ko_G1``..``ko_G100``, ``kd_G1``..``kd_G100``, ``mf_001``..``mf_100``,
    ``ts01_t0000``..``ts10_t1000``. ``prior`` and ``truth`` are both the signed gold standard (split the
    prior per BENCHMARK.md section 1 before giving it to a method). Genes without a promoter are reported in
    ``dataset.warnings``.
    """
    net = _check_net(net)
    genes = list(FILE_GENES)
    wt = _read_steady(shared, net, "wildtype")
    ko = _read_steady(shared, net, "knockouts")
    kd = _read_steady(shared, net, "knockdowns")
    mf = _read_multifactorial(shared, net)
    ts = _read_timeseries(shared, net)
    ko.index = [f"ko_{g}" for g in genes]
    kd.index = [f"kd_{g}" for g in genes]
    wt.index = ["wt"]
    blocks = [wt, ko, kd, mf, ts]
    table = pd.concat(blocks, axis=0)[genes]
    samples = list(table.index)
    sheet = pd.DataFrame({
        "sample": samples,
        "perturbation": ["control"] + genes + genes + [""] * (len(mf) + len(ts)),
        "dose": [1.0] + [0.0] * N_GENES + [KNOCKDOWN_DOSE] * N_GENES + [1.0] * (len(mf) + len(ts)),
    })
    gold = _read_signed_gold(shared, net)
    proms, missing = (None, []) if not promoters else _promoters(shared, net)
    dataset = build_dataset(genes=genes, samples=samples, expression=table.to_numpy(dtype=np.float64).T,
                            prior=gold, tfs=list(genes), sample_sheet=sheet, promoters=proms,
                            truth=gold.copy(), log_transform=False, name=f"dream4_net{net}")
    if missing:
        dataset.warnings.append(f"promoters: {len(missing)} of {N_GENES} genes not found in "
                                f"{ORGANISM[net]}_upstream500.fa.gz: {', '.join(missing)}.")
    return dataset


def dream4_knockout_truth(net: int, *, shared: str | Path | None = None) -> dict:
    """Section-2 evaluation data, aligned to the dataset's gene order (sorted by name: G1, G10, G100, G11, ...).

    Returns a dict with
    ``genes`` (tuple, = ``load_dream4(net).genes``); ``wildtype`` (G,); ``knockouts`` (G, G): row i = steady
    state after knocking out ``genes[i]``, columns in ``genes`` order; ``knockdowns`` (G, G) likewise;
    ``double_pairs`` (list of 20 ``(gene_a, gene_b)`` names, file order); ``double_index`` (20, 2) int indices
    into ``genes``; ``double_states`` (20, G): the noise-free true steady states of those double knockouts.
    All arrays float64 as read (the single knockouts carry measurement noise; the doubles do not).
    """
    net = _check_net(net)
    file_genes = list(FILE_GENES)
    genes = tuple(sorted(file_genes))
    wt = _read_steady(shared, net, "wildtype")
    ko = _read_steady(shared, net, "knockouts")
    kd = _read_steady(shared, net, "knockdowns")
    pairs = pd.read_csv(_file(shared, net, "dualknockouts_indexes"), sep="\t", dtype=np.int64)
    pairs.columns = [c.strip().strip('"') for c in pairs.columns]
    if list(pairs.columns) != ["G_i", "G_j"] or not pairs.isin(range(1, N_GENES + 1)).all().all():
        raise ValueError(f"double-knockout indexes of net {net}: unexpected content")
    states = _read_matrix(_file(shared, net, "nonoise_dualknockouts_goldstandard"), header=False)
    if len(states) != len(pairs):
        raise ValueError(f"net {net}: {len(pairs)} double-knockout pairs but {len(states)} steady states")
    double_pairs = [(f"G{i}", f"G{j}") for i, j in pairs[["G_i", "G_j"]].itertuples(index=False)]
    position = {g: k for k, g in enumerate(genes)}
    order = list(genes)
    return {
        "genes": genes,
        "wildtype": wt.loc["wt", order].to_numpy(dtype=np.float64),
        "knockouts": ko.loc[order, order].to_numpy(dtype=np.float64),
        "knockdowns": kd.loc[order, order].to_numpy(dtype=np.float64),
        "double_pairs": double_pairs,
        "double_index": np.array([[position[a], position[b]] for a, b in double_pairs], dtype=np.int64),
        "double_states": states[order].to_numpy(dtype=np.float64),
    }


def write_dream4(net: int, out_dir: str | Path, *, shared: str | Path | None = None,
                 with_truth: bool = True, dataset: Dataset | None = None) -> Path:
    """Write network ``net`` as a dataset folder (``load_dataset`` reads it back). With ``with_truth`` also
    ``knockout_truth.npz`` (the arrays of :func:`dream4_knockout_truth`; ignored by ``load_dataset``)."""
    dataset = load_dream4(net, shared=shared) if dataset is None else dataset
    folder = write_dataset(dataset, out_dir)
    if with_truth:
        truth = dream4_knockout_truth(net, shared=shared)
        np.savez(folder / "knockout_truth.npz", genes=np.array(truth["genes"]),
                 wildtype=truth["wildtype"], knockouts=truth["knockouts"], knockdowns=truth["knockdowns"],
                 double_pairs=np.array(truth["double_pairs"]), double_index=truth["double_index"],
                 double_states=truth["double_states"])
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert DREAM4 size-100 networks 1-4 into MTLGRN dataset "
                                                 "folders.")
    parser.add_argument("--net", type=int, action="append", choices=NETS,
                        help="network number (repeatable; default: all of 1-4)")
    parser.add_argument("--out", type=Path, default=None,
                        help="with one --net: the dataset folder; with several: the parent of dream4_net{N} "
                             "(default: bench/out/dream4_net{N})")
    parser.add_argument("--shared", type=Path, default=None,
                        help=f"the shared data folder (default: ${ENV_VAR} or <repo>/../shared/data)")
    parser.add_argument("--no-truth", action="store_true", help="do not write knockout_truth.npz")
    args = parser.parse_args(argv)
    nets = sorted(set(args.net or NETS))
    try:
        dream4_dir(args.shared)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for net in nets:
        if args.out is not None and len(nets) == 1:
            folder = args.out
        else:
            folder = (args.out or DEFAULT_OUT) / f"dream4_net{net}"
        dataset = load_dream4(net, shared=args.shared)
        folder = write_dream4(net, folder, shared=args.shared, with_truth=not args.no_truth, dataset=dataset)
        summary = dataset.summary()
        print(f"net {net} -> {folder}: {summary['genes']} genes, {summary['samples']} samples, "
              f"{summary['truth_edges']} gold-standard edges, {summary['promoters']} promoters")
        for warning in dataset.warnings:
            print(f"  warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
