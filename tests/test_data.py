"""Tests of the data layer (mtlgrn_core/inputs/data.py): loading, validation messages, round trips, perturbations.

Every test builds a small dataset folder in ``tmp_path`` with :func:`make_folder` (a valid folder) and then
breaks one thing.
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core import Dataset, DataValidationError, Perturbation, build_dataset, load_dataset, write_dataset
from mtlgrn_core.inputs.data import read_edges, read_fasta, read_gene_list

# ----------------------------------------------------------------------------------------------------
# The reference dataset (genes deliberately not sorted in the files)

GENES = ["Sox2", "Gata1", "Pax6", "Nanog", "Klf4", "Myc", "Oct4", "Tal1", "Spi1", "Cebpa"]
SAMPLES = ["ctrl1", "ctrl2", "ctrl3", "ko_gata1", "kd_pax6", "dko", "oe_myc", "s8"]
EXPR = np.round(np.random.default_rng(0).uniform(1.0, 9.0, size=(len(GENES), len(SAMPLES))), 4)

NETWORK = [("Gata1", "Tal1", "+"), ("Gata1", "Spi1", "-"), ("Spi1", "Cebpa", "+"), ("Sox2", "Nanog", "+"),
           ("Oct4", "Nanog", "+"), ("Nanog", "Klf4", ""), ("Myc", "Klf4", "+"), ("Pax6", "Sox2", "-")]
SIGN = {"+": 1, "-": -1, "": 0}
TFS = ["Gata1", "Spi1", "Sox2", "Oct4", "Nanog", "Myc", "Pax6"]
SHEET = [("ctrl1", "control", "1"), ("ctrl2", "control", "1"), ("ctrl3", "Control", ""),
         ("ko_gata1", "Gata1", "0"), ("kd_pax6", "Pax6", "0.5"), ("dko", "Nanog+Klf4", "0"),
         ("oe_myc", "Myc", "2")]
PROMOTERS = {g: "".join("ACGT"[(i * 7 + k * 3) % 4] for k in range(100 + 10 * i)) for i, g in enumerate(GENES)}
ANNOT_LENGTH = {g: 1000 + 37 * i for i, g in enumerate(GENES)}
ANNOT_FAMILY = {g: ("TF" if g in TFS else "other") for g in GENES}
TRUTH = [("Gata1", "Tal1", "+"), ("Gata1", "Spi1", "-"), ("Sox2", "Nanog", "+"), ("Oct4", "Sox2", "+")]

OPTIONAL = ["network", "tfs", "samples", "promoters", "annotations", "truth"]
FILE_OF = {"network": "network.csv", "tfs": "tfs.txt", "samples": "samples.csv", "promoters": "promoters.fa",
           "annotations": "annotations.csv", "truth": "truth.csv"}


def fmt(v: float) -> str:
    return repr(float(v))


def expression_text(matrix=EXPR, genes=GENES, samples=SAMPLES, *, sep=",", transpose=False, cell=fmt) -> str:
    """The expression table as text: genes as rows (or samples as rows with ``transpose``)."""
    rows, cols, m, corner = (samples, genes, np.asarray(matrix).T, "sample") if transpose else \
        (genes, samples, np.asarray(matrix), "gene")
    lines = [sep.join([corner, *cols])]
    for name, row in zip(rows, m):
        lines.append(sep.join([name, *(cell(v) for v in row)]))
    return "\n".join(lines) + "\n"


def edges_text(edges) -> str:
    return "source,target,sign\n" + "".join(f"{s},{t},{g}\n" for s, t, g in edges)


def fasta_text(promoters: dict[str, str]) -> str:
    out = []
    for i, (g, seq) in enumerate(promoters.items()):
        out.append(f">{g} promoter of {g}")
        width = 60 if i % 2 else 37  # different line widths
        seq = seq.lower() if i == 3 else seq  # lower case is accepted
        out.extend(seq[k:k + width] for k in range(0, len(seq), width))
    return "\n".join(out) + "\n"


def annotations_text() -> str:
    order = GENES[::-1]
    return "gene,length,family\n" + "".join(f"{g},{ANNOT_LENGTH[g]},{ANNOT_FAMILY[g]}\n" for g in order)


def make_folder(folder, *, skip=(), expression: str | None = None, expression_name="expression.csv"):
    """Write a valid small dataset folder (minus the optional inputs named in ``skip``)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = expression_text() if expression is None else expression
    (folder / expression_name).write_text(text)
    files = {
        "network": edges_text(NETWORK),
        "tfs": "\n".join(TFS) + "\n",
        "samples": "sample,perturbation,dose\n" + "".join(f"{s},{p},{d}\n" for s, p, d in SHEET),
        "promoters": fasta_text(PROMOTERS),
        "annotations": annotations_text(),
        "truth": edges_text(TRUTH),
    }
    for kind, content in files.items():
        if kind not in skip:
            (folder / FILE_OF[kind]).write_text(content)
    return folder


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "ds")


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_dataset(make_folder(tmp_path_factory.mktemp("ref") / "ds"))


def expected_edges(edges) -> pd.DataFrame:
    return pd.DataFrame({"source": [e[0] for e in edges], "target": [e[1] for e in edges],
                         "sign": [SIGN[e[2]] for e in edges]})


def expected_sheet() -> pd.DataFrame:
    return pd.DataFrame({"sample": [r[0] for r in SHEET], "perturbation": [r[1] for r in SHEET],
                         "dose": [float(r[2]) if r[2] else 1.0 for r in SHEET]})


def assert_edges_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got["source"]) == list(want["source"])
    assert list(got["target"]) == list(want["target"])
    assert [int(s) for s in got["sign"]] == [int(s) for s in want["sign"]]


def assert_same_dataset(a: Dataset, b: Dataset, *, rtol: float = 1e-6) -> None:
    """Every aligned array and table of ``a`` equals that of ``b``."""
    assert a.genes == b.genes
    assert a.samples == b.samples
    assert a.gene_index == b.gene_index
    assert a.expression.shape == b.expression.shape
    np.testing.assert_allclose(a.expression, b.expression, rtol=rtol)
    assert_edges_equal(a.prior, b.prior)
    assert a.tfs == b.tfs
    for x, y in [(a.sample_sheet, b.sample_sheet), (a.annotations, b.annotations)]:
        assert (x is None) == (y is None)
        if x is not None:
            pd.testing.assert_frame_equal(x, y, check_dtype=False)
    assert a.promoters == b.promoters
    assert (a.truth is None) == (b.truth is None)
    if a.truth is not None:
        assert_edges_equal(a.truth, b.truth)
    assert a.log_transformed == b.log_transformed


def load_error(folder, **kwargs) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder, **kwargs)
    return info.value


def check_error(err: DataValidationError, file: str, *fragments: str, line: int | None = None) -> str:
    """The message names the file, the line when given, and holds each fragment (case-insensitive)."""
    msg = str(err)
    assert err.file is not None and err.file.startswith(file), msg
    assert msg.startswith(file), msg
    if line is not None:
        assert err.line == line, msg
        assert f"line {line}" in msg, msg
    for frag in fragments:
        assert frag.lower() in msg.lower(), f"{frag!r} not in {msg!r}"
    return msg


def gene_line(gene: str) -> int:
    """1-based line of ``gene`` in the expression file written by :func:`expression_text` (header = line 1)."""
    return GENES.index(gene) + 2


# ----------------------------------------------------------------------------------------------------
# A valid folder


def test_valid_folder_loads_sorted_and_aligned(ds):
    assert isinstance(ds, Dataset)
    assert ds.genes == tuple(sorted(GENES))
    assert ds.samples == tuple(SAMPLES)
    assert ds.n_genes == len(GENES)
    assert ds.gene_index == {g: i for i, g in enumerate(ds.genes)}
    assert ds.expression.dtype == np.float32
    assert ds.expression.shape == (len(GENES), len(SAMPLES))
    assert ds.expression.flags["C_CONTIGUOUS"]
    for g in GENES:
        np.testing.assert_allclose(ds.expression[ds.gene_index[g]], EXPR[GENES.index(g)], rtol=1e-6)
    assert not ds.log_transformed
    assert ds.name == "ds"


def test_valid_folder_prior_tfs_and_tables(ds):
    assert_edges_equal(ds.prior, expected_edges(NETWORK))
    idx = ds.edge_indices()
    assert idx.shape == (2, len(NETWORK)) and idx.dtype == np.int64
    for k, (s, t, _) in enumerate(NETWORK):
        assert (ds.genes[idx[0, k]], ds.genes[idx[1, k]]) == (s, t)
    assert ds.tfs == tuple(sorted(TFS))
    assert [ds.genes[i] for i in ds.tf_indices] == sorted(TFS)
    pd.testing.assert_frame_equal(ds.sample_sheet, expected_sheet())
    assert ds.promoters == {g: PROMOTERS[g] for g in sorted(GENES)}
    assert list(ds.promoters) == list(ds.genes)
    assert list(ds.annotations.index) == list(ds.genes)
    assert ds.annotations.index.name == "gene"
    assert pd.api.types.is_numeric_dtype(ds.annotations["length"])
    assert list(ds.annotations["length"]) == [ANNOT_LENGTH[g] for g in ds.genes]
    assert list(ds.annotations["family"]) == [ANNOT_FAMILY[g] for g in ds.genes]
    assert_edges_equal(ds.truth, expected_edges(TRUTH))
    assert ds.warnings == []


def test_summary_counts(ds):
    s = ds.summary()
    assert s == {"genes": 10, "samples": 8, "tfs": len(TFS), "prior_edges": len(NETWORK), "perturbed_samples": 4,
                 "control_samples": 3, "promoters": 10, "annotation_columns": 2, "truth_edges": len(TRUTH),
                 "log_transformed": False, "regulators": "tfs"}


@pytest.mark.parametrize("kind", OPTIONAL)
@pytest.mark.parametrize("present", [True, False], ids=["present", "absent"])
def test_each_optional_input_present_or_absent(tmp_path, kind, present):
    others = [k for k in OPTIONAL if k != kind]
    skip = others if present else OPTIONAL  # only this input, or none at all
    ds = load_dataset(make_folder(tmp_path / "ds", skip=skip))
    assert ds.genes == tuple(sorted(GENES))
    assert ds.samples == tuple(SAMPLES)
    np.testing.assert_allclose(ds.expression[ds.gene_index["Myc"]], EXPR[GENES.index("Myc")], rtol=1e-6)
    if kind == "network":
        if present:
            assert_edges_equal(ds.prior, expected_edges(NETWORK))
        else:
            assert len(ds.prior) == 0 and list(ds.prior.columns) == ["source", "target", "sign"]
            assert ds.edge_indices().shape == (2, 0)
            assert any("network" in w for w in ds.warnings)
    elif kind == "tfs":
        assert ds.tfs == (tuple(sorted(TFS)) if present else ds.genes)
    elif kind == "samples":
        if present:
            pd.testing.assert_frame_equal(ds.sample_sheet, expected_sheet())
        else:
            assert ds.sample_sheet is None
            assert ds.perturbations() == []
            assert list(ds.control_samples()) == list(range(len(SAMPLES)))
    elif kind == "promoters":
        assert ds.promoters == ({g: PROMOTERS[g] for g in GENES} if present else None)
    elif kind == "annotations":
        assert (ds.annotations is not None) == present
    elif kind == "truth":
        if present:
            assert_edges_equal(ds.truth, expected_edges(TRUTH))
        else:
            assert ds.truth is None


def test_only_expression(tmp_path):
    ds = load_dataset(make_folder(tmp_path / "ds", skip=OPTIONAL))
    assert ds.tfs == ds.genes
    assert ds.sample_sheet is None and ds.promoters is None and ds.annotations is None and ds.truth is None
    assert len(ds.prior) == 0
    assert ds.summary()["truth_edges"] is None


def test_alternative_optional_file_names(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "network.csv").rename(folder / "network.tsv")
    (folder / "network.tsv").write_text(edges_text(NETWORK).replace(",", "\t"))
    (folder / "promoters.fa").rename(folder / "promoters.fasta")
    (folder / "tfs.txt").unlink()
    (folder / "tfs.csv").write_text("tf,family\n" + "".join(f"{t},x\n" for t in TFS))
    ds = load_dataset(folder)
    assert_edges_equal(ds.prior, expected_edges(NETWORK))
    assert ds.tfs == tuple(sorted(TFS))
    assert ds.promoters == PROMOTERS


def test_missing_folder_and_missing_expression(tmp_path):
    err = load_error(tmp_path / "nope")
    assert "does not exist" in str(err)
    (tmp_path / "empty").mkdir()
    err = load_error(tmp_path / "empty")
    assert "expression" in str(err) and "Add the expression matrix" in str(err)


# ----------------------------------------------------------------------------------------------------
# Orientation and formats


def test_transposed_matrix_loads_to_same_dataset(tmp_path, ds):
    folder = make_folder(tmp_path / "ds", expression=expression_text(transpose=True))
    assert_same_dataset(load_dataset(folder), ds)


def test_transposed_detected_from_tfs_only(tmp_path):
    folder = make_folder(tmp_path / "ds", skip=["network", "truth"], expression=expression_text(transpose=True))
    got = load_dataset(folder)
    assert got.genes == tuple(sorted(GENES)) and got.samples == tuple(SAMPLES)


def test_the_truth_never_decides_the_orientation(tmp_path):
    """The ground truth is evaluation labels: it must not choose which axis holds the genes. Here the truth names
    four of the column names (the genes) and two of the row names (the samples): with no prior and no TF list,
    the rows are the genes (the default) whether or not the truth is there."""
    truth = [("Gata1", "Tal1", "+"), ("Sox2", "Nanog", "+"), ("ctrl1", "ctrl2", "")]
    with_truth = make_folder(tmp_path / "with", skip=OPTIONAL, expression=expression_text(transpose=True))
    (with_truth / "truth.csv").write_text(edges_text(truth))
    without = make_folder(tmp_path / "without", skip=OPTIONAL, expression=expression_text(transpose=True))
    a, b = load_dataset(with_truth), load_dataset(without)
    assert a.genes == b.genes == tuple(sorted(SAMPLES)) and a.samples == b.samples
    np.testing.assert_array_equal(a.expression, b.expression)
    assert_edges_equal(a.truth, expected_edges(truth[-1:]))  # only the edge between modelled genes is scored
    assert any("truth.csv: kept 1 of 3 edges" in w for w in a.warnings)


def test_orientation_can_be_forced(tmp_path, ds):
    folder = make_folder(tmp_path / "ds", skip=OPTIONAL, expression=expression_text(transpose=True))
    auto = load_dataset(folder)  # nothing to match against: rows are taken as genes
    assert auto.genes == tuple(sorted(SAMPLES))
    forced = load_dataset(folder, orientation="genes_columns")
    assert forced.genes == ds.genes and forced.samples == ds.samples
    np.testing.assert_allclose(forced.expression, ds.expression, rtol=1e-6)
    rows = load_dataset(make_folder(tmp_path / "ds2", skip=OPTIONAL), orientation="genes_rows")
    np.testing.assert_allclose(rows.expression, ds.expression, rtol=1e-6)


@pytest.mark.parametrize("name", ["expression.tsv", "expression.csv.gz", "expression.tsv.gz"])
def test_tsv_and_gzip_load_same_values(tmp_path, ds, name):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    text = expression_text(sep="\t" if ".tsv" in name else ",")
    data = text.encode()
    (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert_same_dataset(load_dataset(folder), ds)


def test_semicolon_and_whitespace_delimiters(tmp_path, ds):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").write_text(expression_text(sep=";"))
    assert_same_dataset(load_dataset(folder), ds)
    (folder / "expression.csv").write_text(expression_text(sep="  "))
    assert_same_dataset(load_dataset(folder), ds)


def test_crlf_bom_and_quotes(tmp_path, ds):
    folder = make_folder(tmp_path / "ds")
    text = expression_text(cell=lambda v: fmt(v))
    lines = text.splitlines()
    quoted = [",".join(f'"{c}"' if k == 0 else c for k, c in enumerate(line.split(","))) for line in lines]
    (folder / "expression.csv").write_bytes(("\ufeff" + "\r\n".join(quoted) + "\r\n").encode("utf-8"))
    assert_same_dataset(load_dataset(folder), ds)


def _write_h5ad(path, matrix=EXPR, genes=GENES, samples=SAMPLES, sparse=False):
    anndata = pytest.importorskip("anndata")
    x = np.asarray(matrix, dtype=np.float32).T  # cells (samples) x genes
    if sparse:
        from scipy import sparse as sp
        x = sp.csr_matrix(x)
    adata = anndata.AnnData(X=x, obs=pd.DataFrame(index=list(samples)), var=pd.DataFrame(index=list(genes)))
    adata.write_h5ad(path)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_h5ad_loads_same_values(tmp_path, ds, sparse):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    _write_h5ad(folder / "expression.h5ad", sparse=sparse)
    assert_same_dataset(load_dataset(folder), ds)


def test_h5ad_counts_are_normalised_per_cell_and_log_transformed(tmp_path):
    counts = np.random.default_rng(1).integers(0, 500, size=(len(GENES), len(SAMPLES))).astype(np.float64)
    counts[0, 0] = 400
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    _write_h5ad(folder / "expression.h5ad", matrix=counts)
    got = load_dataset(folder)
    assert got.log_transformed
    per_cell = counts / counts.sum(axis=0, keepdims=True) * 1e4  # scanpy normalize_total, then log1p
    np.testing.assert_allclose(got.expression[got.gene_index["Sox2"]], np.log1p(per_cell[0]), rtol=1e-5)
    assert any("normalised to 10,000 per cell and log1p-transformed" in w for w in got.warnings)


def test_broken_h5ad(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    (folder / "expression.h5ad").write_bytes(b"this is not hdf5 at all")
    check_error(load_error(folder), "expression.h5ad", "AnnData")


def test_gene_order_in_file_does_not_matter(tmp_path, ds):
    perm = np.random.default_rng(3).permutation(len(GENES))
    text = expression_text(EXPR[perm], [GENES[i] for i in perm])
    got = load_dataset(make_folder(tmp_path / "ds", expression=text))
    assert_same_dataset(got, ds)
    np.testing.assert_array_equal(got.expression, ds.expression)


def test_sample_order_is_kept(tmp_path):
    perm = [3, 0, 7, 1, 2, 6, 5, 4]
    text = expression_text(EXPR[:, perm], GENES, [SAMPLES[j] for j in perm])
    got = load_dataset(make_folder(tmp_path / "ds", expression=text))
    assert got.samples == tuple(SAMPLES[j] for j in perm)
    j = got.samples.index("ko_gata1")
    np.testing.assert_allclose(got.expression[got.gene_index["Gata1"], j], EXPR[GENES.index("Gata1"), 3],
                               rtol=1e-6)
    ko = [p for p in got.perturbations() if p.dose == 0.0 and len(p.genes) == 1][0]
    assert ko.sample == j


# ----------------------------------------------------------------------------------------------------
# log1p


def _counts(max_value=500):
    rng = np.random.default_rng(2)
    counts = rng.integers(0, max_value, size=(len(GENES), len(SAMPLES))).astype(np.float64)
    counts[0, 0] = max_value
    return counts


def test_raw_counts_are_log_transformed_under_auto(tmp_path):
    counts = _counts()
    folder = make_folder(tmp_path / "ds", expression=expression_text(counts, cell=lambda v: str(int(v))))
    got = load_dataset(folder)
    assert got.log_transformed
    for g in GENES:
        np.testing.assert_allclose(got.expression[got.gene_index[g]], np.log1p(counts[GENES.index(g)]), rtol=1e-6)
    assert any("raw counts" in w and "log1p" in w and "expression.csv" in w for w in got.warnings)
    assert got.summary()["log_transformed"] is True


def test_log_transform_off_keeps_counts(tmp_path):
    counts = _counts()
    folder = make_folder(tmp_path / "ds", expression=expression_text(counts, cell=lambda v: str(int(v))))
    got = load_dataset(folder, log_transform=False)
    assert not got.log_transformed
    np.testing.assert_allclose(got.expression[got.gene_index["Sox2"]], counts[0], rtol=1e-6)
    assert not any("log1p" in w for w in got.warnings)


def test_auto_leaves_log_scale_data_alone(tmp_path, ds):
    assert not ds.log_transformed  # non-integer values
    small = _counts(max_value=50)  # integers but small: not counts
    got = load_dataset(make_folder(tmp_path / "ds", expression=expression_text(small)))
    assert not got.log_transformed
    neg = EXPR - 5.0  # negative values: already log-scaled or centred
    got = load_dataset(make_folder(tmp_path / "ds2", expression=expression_text(neg)), log_transform="auto")
    assert not got.log_transformed
    assert got.expression.min() < 0


def test_forced_log_transform(tmp_path, ds):
    got = load_dataset(make_folder(tmp_path / "ds"), log_transform=True)
    assert got.log_transformed
    np.testing.assert_allclose(got.expression, np.log1p(ds.expression.astype(np.float64)), rtol=1e-6)


def test_negative_values_with_forced_log_raise(tmp_path):
    folder = make_folder(tmp_path / "ds", expression=expression_text(EXPR - 5.0))
    err = load_error(folder, log_transform=True)
    check_error(err, "expression.csv", "negative", "log transform off")


# ----------------------------------------------------------------------------------------------------
# Validation errors: expression


def test_a_network_with_no_edge_between_measured_genes_is_refused_with_a_diagnosis(tmp_path):
    folder = make_folder(tmp_path / "ds", skip=["truth"])
    ensembl = [("ENSMUSG00000000001", "ENSMUSG00000000028", "+"), ("ENSMUSG00000000031", "Tal1", "+"),
               ("ENSMUSG00000000037", "ENSMUSG00000000049", "-")]
    (folder / "network.csv").write_text(edges_text(ensembl))
    check_error(load_error(folder), "network.csv", "none of its 3 edges joins two genes", "1 of its 6 genes match",
                "Ensembl ids, the expression by gene symbols", "same kind of identifier")


def test_a_network_in_another_case_style_is_renamed_and_said_so(tmp_path):
    folder = make_folder(tmp_path / "ds", skip=["truth"])
    upper = [(s.upper(), t.upper(), g) for s, t, g in NETWORK]  # a human-style prior on mouse-style genes
    (folder / "network.csv").write_text(edges_text(upper))
    got = load_dataset(folder)
    assert_edges_equal(got.prior, expected_edges(NETWORK))
    assert any("network.csv" in w and "renamed" in w and "'GATA1' -> 'Gata1'" in w for w in got.warnings)


def test_network_genes_outside_the_expression_are_a_note_not_an_error(tmp_path):
    folder = make_folder(tmp_path / "ds")
    unmeasured = [("Gata1", "Zfp999", "+"), ("Hoxa9", "Tal1", "-"), ("Hoxa9", "Meis1", "+")]
    (folder / "network.csv").write_text(edges_text(NETWORK + unmeasured))
    got = load_dataset(folder)
    assert_edges_equal(got.prior, expected_edges(NETWORK))
    (note,) = [w for w in got.warnings if w.startswith("network.csv")]
    regulators = len({s for s, _, _ in NETWORK})
    assert f"kept {len(NETWORK)} of {len(NETWORK) + 3} edges ({regulators} regulators" in note
    assert "3 edges name 3 genes the expression does not have (e.g. Hoxa9, Meis1, Zfp999)" in note


def test_truth_gene_names_mismatch(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "truth.csv").write_text(edges_text([("X1", "X2", "+"), ("X3", "X4", "")]))
    check_error(load_error(folder), "truth.csv", "none of its 2 edges", "0 of its 4 genes match")


def test_duplicate_gene(tmp_path):
    genes = GENES + ["Pax6"]
    matrix = np.vstack([EXPR, EXPR[:1]])
    folder = make_folder(tmp_path / "ds", expression=expression_text(matrix, genes))
    dup_line = len(genes) + 1
    check_error(load_error(folder), "expression.csv", "gene 'Pax6'", f"lines {gene_line('Pax6')} and {dup_line}",
                "duplicate", line=dup_line)


def test_duplicate_sample(tmp_path):
    samples = SAMPLES[:-1] + ["ctrl2"]
    folder = make_folder(tmp_path / "ds", skip=["samples"], expression=expression_text(EXPR, GENES, samples))
    # the header is line 1; the duplicate is named by its columns (corner cell = column 1)
    check_error(load_error(folder), "expression.csv", "sample 'ctrl2'", "appears twice (columns 3 and 9)",
                "duplicate", line=1)


def test_duplicate_gene_in_transposed_header(tmp_path):
    genes = GENES[:-1] + ["Gata1"]
    folder = make_folder(tmp_path / "ds", expression=expression_text(EXPR, genes, transpose=True))
    check_error(load_error(folder), "expression.csv", "gene 'Gata1'", "appears twice (columns 3 and 11)", line=1)


def test_duplicate_sample_in_transposed_rows(tmp_path):
    samples = SAMPLES[:-1] + ["ctrl1"]
    folder = make_folder(tmp_path / "ds", skip=["samples"],
                         expression=expression_text(EXPR, GENES, samples, transpose=True))
    check_error(load_error(folder), "expression.csv", "sample 'ctrl1'", "appears twice", line=len(SAMPLES) + 1)


def test_empty_gene_name(tmp_path):
    genes = list(GENES)
    genes[4] = ""
    folder = make_folder(tmp_path / "ds", expression=expression_text(EXPR, genes))
    check_error(load_error(folder), "expression.csv", "name is empty", line=6)


def test_empty_sample_name_in_header(tmp_path):
    samples = list(SAMPLES)
    samples[2] = ""
    folder = make_folder(tmp_path / "ds", skip=["samples"], expression=expression_text(EXPR, GENES, samples))
    check_error(load_error(folder), "expression.csv", "sample name is empty (column 4)", line=1)


def _with_cell(gene: str, sample: str, value: str, **kw) -> str:
    i, j = GENES.index(gene), SAMPLES.index(sample)
    return expression_text(cell=fmt, **kw).splitlines(keepends=True)[0] + "".join(
        kw.get("sep", ",").join([g, *(value if (k == i and c == j) else fmt(EXPR[k, c])
                                      for c in range(len(SAMPLES)))]) + "\n"
        for k, g in enumerate(GENES))


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Inf", "Infinity"])
def test_nan_or_inf_cell(tmp_path, value):
    folder = make_folder(tmp_path / "ds", expression=_with_cell("Klf4", "dko", value))
    check_error(load_error(folder), "expression.csv", "NaN or infinite", "'dko'", "Replace missing values",
                line=gene_line("Klf4"))


@pytest.mark.parametrize("value", ["NA", "N/A", "#N/A", "null"])
def test_missing_value_marker_cell(tmp_path, value):
    folder = make_folder(tmp_path / "ds", expression=_with_cell("Oct4", "ctrl2", value))
    check_error(load_error(folder), "expression.csv", f"'{value}'", "'ctrl2'", "missing value",
                line=gene_line("Oct4"))


def test_empty_cell(tmp_path):
    folder = make_folder(tmp_path / "ds", expression=_with_cell("Tal1", "s8", ""))
    check_error(load_error(folder), "expression.csv", "not a number", "Fill the empty cell",
                line=gene_line("Tal1"))


def test_short_row(tmp_path):
    text = expression_text().splitlines()
    text[3] = ",".join(text[3].split(",")[:-2])
    folder = make_folder(tmp_path / "ds", expression="\n".join(text) + "\n")
    check_error(load_error(folder), "expression.csv", "not a number", line=4)


@pytest.mark.parametrize("gene", ["Sox2", "Myc", "Cebpa"])
def test_non_numeric_cell_line_number(tmp_path, gene):
    folder = make_folder(tmp_path / "ds", expression=_with_cell(gene, "kd_pax6", "high"))
    check_error(load_error(folder), "expression.csv", "'high'", "column 'kd_pax6'", "must be numbers",
                line=gene_line(gene))


def test_non_numeric_cell_line_number_transposed(tmp_path):
    text = expression_text(transpose=True).splitlines()
    cells = text[5].split(",")
    cells[3] = "x1"
    text[5] = ",".join(cells)
    folder = make_folder(tmp_path / "ds", expression="\n".join(text) + "\n")
    check_error(load_error(folder), "expression.csv", "'x1'", line=6)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_comma_decimal_hint(tmp_path, sep):
    text = expression_text(sep=sep, cell=lambda v: fmt(v).replace(".", ","))
    folder = make_folder(tmp_path / "ds", expression=text)
    check_error(load_error(folder), "expression.csv", "decimal separator", "comma", line=2)


def test_comma_decimal_hint_quoted_csv(tmp_path):
    text = expression_text(cell=lambda v: '"' + fmt(v).replace(".", ",") + '"')
    folder = make_folder(tmp_path / "ds", expression=text)
    check_error(load_error(folder), "expression.csv", "decimal separator", line=2)


@pytest.mark.parametrize("cells", ["1,5,2,5", "1,5,2"], ids=["every-cell", "one-cell"])
def test_comma_decimal_in_comma_separated_file(tmp_path, cells):
    """Unquoted comma decimals give rows with more fields than the header: never a silent misread."""
    text = "gene,s1,s2\nSox2," + cells + "\nGata1," + cells.replace("1", "3") + "\n"
    folder = make_folder(tmp_path / "ds", skip=OPTIONAL, expression=text)
    check_error(load_error(folder), "expression.csv", "numbers of fields", "decimal", line=2)


def test_row_with_extra_field(tmp_path):
    text = expression_text().splitlines()
    text[6] += ",3.5"
    folder = make_folder(tmp_path / "ds", expression="\n".join(text) + "\n")
    check_error(load_error(folder), "expression.csv", "as many cells as the header", line=7)


@pytest.mark.parametrize("content", ["", "\n\n", "   \n"])
def test_empty_expression_file(tmp_path, content):
    folder = make_folder(tmp_path / "ds", expression=content)
    check_error(load_error(folder), "expression.csv", "is empty", "header line")


def test_header_only_expression_file(tmp_path):
    folder = make_folder(tmp_path / "ds", expression="gene," + ",".join(SAMPLES) + "\n")
    check_error(load_error(folder), "expression.csv", "at least one value column")


@pytest.mark.parametrize("kind", ["network", "tfs", "samples", "promoters", "annotations", "truth"])
def test_empty_optional_file(tmp_path, kind):
    folder = make_folder(tmp_path / "ds")
    (folder / FILE_OF[kind]).write_text("")
    check_error(load_error(folder), FILE_OF[kind], "is empty")


def test_binary_file(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(range(256)) * 4)
    check_error(load_error(folder), "expression.csv", "binary", "Export it as CSV")


def test_binary_optional_file(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "network.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    check_error(load_error(folder), "network.csv", "binary")


def test_gz_that_is_not_gzip(tmp_path):
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    (folder / "expression.csv.gz").write_text(expression_text())
    check_error(load_error(folder), "expression.csv.gz", "not a valid gzip")


def test_single_sample(tmp_path):
    text = expression_text(EXPR[:, :1], GENES, SAMPLES[:1])
    folder = make_folder(tmp_path / "ds", skip=["samples"], expression=text)
    check_error(load_error(folder), "expression.csv", "1 sample(s)", "at least 2", "orientation")


def test_single_sample_transposed(tmp_path):
    text = expression_text(EXPR[:, :1], GENES, SAMPLES[:1], transpose=True)
    folder = make_folder(tmp_path / "ds", skip=["samples"], expression=text)
    check_error(load_error(folder), "expression.csv", "1 sample(s)")


# ----------------------------------------------------------------------------------------------------
# Validation errors: sample sheet


def _sheet(folder, rows, header="sample,perturbation,dose"):
    (folder / "samples.csv").write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))


def test_knocked_out_gene_absent(folder):
    rows = [list(r) for r in SHEET]
    rows[4][1] = "Foxp3"
    _sheet(folder, rows)
    check_error(load_error(folder), "samples.csv", "'Foxp3'", "'kd_pax6'", "not in the expression",
                "Fix the name", line=6)


def test_double_knockout_with_absent_gene(folder):
    rows = [list(r) for r in SHEET]
    rows[5][1] = "Nanog+Foxp3"
    _sheet(folder, rows)
    msg = check_error(load_error(folder), "samples.csv", "'Foxp3'", line=7)
    assert "'Nanog'" not in msg


def test_sample_sheet_sample_not_in_expression(folder):
    _sheet(folder, list(SHEET) + [("ctrl9", "control", "1")])
    check_error(load_error(folder), "samples.csv", "sample 'ctrl9'", "not a column of the expression",
                "Use the expression's sample names", line=len(SHEET) + 2)


@pytest.mark.parametrize("dose", ["2.5", "-1", "-0.1", "nan", "inf"])
def test_dose_outside_range(folder, dose):
    rows = [list(r) for r in SHEET]
    rows[3][2] = dose
    _sheet(folder, rows)
    check_error(load_error(folder), "samples.csv", "outside [0, 2]", "knockout", line=5)


@pytest.mark.parametrize("dose", ["0", "0.5", "1", "2"])
def test_dose_bounds_are_accepted(folder, dose):
    rows = [list(r) for r in SHEET]
    rows[3][2] = dose
    _sheet(folder, rows)
    assert load_dataset(folder).sample_sheet["dose"][3] == float(dose)


def test_dose_not_a_number(folder):
    rows = [list(r) for r in SHEET]
    rows[6][2] = "high"
    _sheet(folder, rows)
    check_error(load_error(folder), "samples.csv", "'high'", "not a number", line=8)


def test_duplicate_sample_in_sheet(folder):
    _sheet(folder, list(SHEET) + [SHEET[1]])
    check_error(load_error(folder), "samples.csv", "'ctrl2'", "appears twice", line=len(SHEET) + 2)


def test_sample_sheet_missing_columns(folder):
    _sheet(folder, [(s, p) for s, p, _ in SHEET], header="name,condition")
    check_error(load_error(folder), "samples.csv", "sample,perturbation", line=1)


def test_sample_sheet_without_dose_column(folder):
    _sheet(folder, [(s, p) for s, p, _ in SHEET], header="Sample,Perturbation")
    sheet = load_dataset(folder).sample_sheet
    assert list(sheet["dose"]) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


# ----------------------------------------------------------------------------------------------------
# Validation errors: FASTA, TF list, network, annotations


def test_invalid_fasta_characters(folder):
    text = ">Sox2\nACGTACGT\nACGTNNRY\n>Gata1\nACGT\nACGXZ-T\n"
    (folder / "promoters.fa").write_text(text)
    msg = check_error(load_error(folder), "promoters.fa", "record 'Gata1'", "invalid characters", "IUPAC", line=6)
    assert "X" in msg and "Z" in msg and "-" in msg


def test_duplicate_fasta_record(folder):
    (folder / "promoters.fa").write_text(">Sox2\nACGT\n\n>Gata1 a\nAC\n>Sox2 again\nGG\n")
    check_error(load_error(folder), "promoters.fa", "'Sox2'", "appears twice", "lines 1 and 6",
                "Keep one sequence per gene", line=6)


def test_fasta_sequence_before_header_and_nameless_header(folder):
    (folder / "promoters.fa").write_text("ACGT\n>Sox2\nACGT\n")
    check_error(load_error(folder), "promoters.fa", "before the first", line=1)
    (folder / "promoters.fa").write_text(">Sox2\nACGT\n> \nACGT\n")
    check_error(load_error(folder), "promoters.fa", "no name", line=3)


def test_fasta_no_matching_record(folder):
    (folder / "promoters.fa").write_text(">chr1:100-200\nACGT\n>chr2:5-9\nACGT\n")
    check_error(load_error(folder), "promoters.fa", "no record matches", "chr1:100-200")


def test_fasta_iupac_rna_and_partial_cover(folder):
    (folder / "promoters.fa").write_text(">Sox2 x\nacgu\nRYSWKMBDHVN\n>Gata1\nACGT\n>Unrelated\nAAAA\n")
    got = load_dataset(folder)
    assert got.promoters == {"Gata1": "ACGT", "Sox2": "ACGTRYSWKMBDHVN"}
    assert any("promoters.fa" in w and "8 genes have no promoter" in w for w in got.warnings)
    assert read_fasta(folder / "promoters.fa")["Unrelated"] == "AAAA"


def test_tf_list_with_no_known_gene(folder):
    (folder / "tfs.txt").write_text("FOO\nBAR\nBAZ\n")
    check_error(load_error(folder), "tfs.txt", "none of its 3 genes", "FOO", "do not match even ignoring case")


def test_tf_list_header_only(folder):
    (folder / "tfs.txt").write_text("tf\n")
    check_error(load_error(folder), "tfs.txt", "lists no gene")


def test_tf_list_partial_match_and_header(folder):
    (folder / "tfs.txt").write_text("TF\nGata1\nFOO\nSpi1\nGata1\n")
    got = load_dataset(folder)
    assert got.tfs == ("Gata1", "Spi1")
    assert any("tfs.txt" in w and "FOO" in w for w in got.warnings)
    assert read_gene_list(folder / "tfs.txt") == ["Gata1", "FOO", "Spi1"]


def test_network_bad_sign(folder):
    (folder / "network.csv").write_text(edges_text(NETWORK[:3] + [("Sox2", "Nanog", "up")]))
    check_error(load_error(folder), "network.csv", "sign 'up'", line=5)


def test_network_empty_gene_name(folder):
    (folder / "network.csv").write_text("Gata1,Tal1\nGata1,\n")
    check_error(load_error(folder), "network.csv", "empty gene name", line=2)


def test_network_one_column(folder):
    (folder / "network.csv").write_text("Gata1\nTal1\n")
    check_error(load_error(folder), "network.csv", "two columns")


def test_read_edges_variants(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("Gata1,Tal1\nGata1,Tal1\nSpi1,Spi1\nSpi1,Cebpa\n")  # no header, duplicate, self-loop
    e = read_edges(p)
    assert list(zip(e["source"], e["target"], e["sign"])) == [("Gata1", "Tal1", 0), ("Spi1", "Cebpa", 0)]
    p.write_text("G1\tG2\t1\nG1\tG3\t0\nG2\tG3\t1\n")  # DREAM-style 0/1 labels
    e = read_edges(p)
    assert list(zip(e["source"], e["target"])) == [("G1", "G2"), ("G2", "G3")]
    p.write_text("regulator,target,mode\nA,B,activation\nA,C,repressor\nB,C,?\n")
    assert list(read_edges(p)["sign"]) == [1, -1, 0]


def test_header_only_network_loads_empty(folder):
    (folder / "network.csv").write_text("source,target,sign\n")
    got = load_dataset(folder)
    assert len(got.prior) == 0
    assert got.edge_indices().shape == (2, 0)


def test_annotations_no_matching_gene(folder):
    (folder / "annotations.csv").write_text("gene,length\nFOO,1\nBAR,2\n")
    check_error(load_error(folder), "annotations.csv", "no row matches")


def test_annotations_duplicate_gene(folder):
    (folder / "annotations.csv").write_text("gene,length\nSox2,1\nMyc,2\nSox2,3\n")
    check_error(load_error(folder), "annotations.csv", "'Sox2'", "appears twice", line=4)


def test_annotations_infinite_value(folder):
    (folder / "annotations.csv").write_text("gene,score\nSox2,1\nMyc,inf\n")
    check_error(load_error(folder), "annotations.csv", "'score'", "infinite")


def test_annotations_partial_and_mixed_columns(folder):
    (folder / "annotations.csv").write_text("gene,score,group,note\nSox2,1.5,a,\nMyc,,b,\nGata1,2,3,\n")
    got = load_dataset(folder)
    ann = got.annotations
    assert list(ann.index) == list(got.genes)
    assert pd.api.types.is_numeric_dtype(ann["score"])
    assert ann.loc["Sox2", "score"] == 1.5 and math.isnan(ann.loc["Myc", "score"])
    assert list(ann.loc[["Sox2", "Myc", "Gata1"], "group"]) == ["a", "b", "3"]
    assert ann.loc["Tal1"].isna().all()
    assert any("annotations.csv" in w and "7 genes have no annotation" in w for w in got.warnings)


# ----------------------------------------------------------------------------------------------------
# Round trip


def test_write_then_load_round_trips(tmp_path, ds):
    out = write_dataset(ds, tmp_path / "copy")
    assert out == tmp_path / "copy"
    back = load_dataset(out)
    assert_same_dataset(back, ds, rtol=1e-5)
    pd.testing.assert_frame_equal(back.sample_sheet, ds.sample_sheet)
    pd.testing.assert_frame_equal(back.annotations, ds.annotations)
    assert back.promoters == ds.promoters
    assert back.warnings == []


def test_round_trip_without_optional_inputs(tmp_path):
    ds = load_dataset(make_folder(tmp_path / "ds", skip=OPTIONAL))
    back = load_dataset(write_dataset(ds, tmp_path / "copy"))
    assert_same_dataset(back, ds, rtol=1e-5)
    assert not (tmp_path / "copy" / "tfs.txt").exists()


def test_round_trip_of_log_transformed_counts(tmp_path):
    counts = _counts()
    ds = load_dataset(make_folder(tmp_path / "ds", expression=expression_text(counts, cell=lambda v: str(int(v)))))
    assert ds.log_transformed
    back = load_dataset(write_dataset(ds, tmp_path / "copy"))
    np.testing.assert_allclose(back.expression, ds.expression, rtol=1e-5)


def test_round_trip_of_built_dataset(tmp_path):
    rng = np.random.default_rng(5)
    genes = ["g3", "g1", "g2", "g0"]
    matrix = rng.normal(size=(4, 5)) * 1e-3 + rng.choice([1e-4, 1.0, 1e4], size=(4, 5))
    prior = pd.DataFrame({"source": ["g1", "g3"], "target": ["g2", "g0"], "sign": [-1, 0]})
    built = build_dataset(genes=genes, samples=[f"c{j}" for j in range(5)], expression=matrix, prior=prior,
                          tfs=["g3", "g1"])
    assert built.genes == ("g0", "g1", "g2", "g3")
    np.testing.assert_allclose(built.expression[built.gene_index["g3"]], matrix[0], rtol=1e-6)
    back = load_dataset(write_dataset(built, tmp_path / "b"), log_transform=False)
    assert_same_dataset(back, built, rtol=1e-5)


def test_build_dataset_shape_mismatch():
    with pytest.raises(DataValidationError, match="does not match 3 genes x 2 samples"):
        build_dataset(genes=["a", "b", "c"], samples=["s1", "s2"], expression=np.zeros((2, 3)))


# ----------------------------------------------------------------------------------------------------
# Perturbations, controls, baseline


def test_perturbations(ds):
    gi, col = ds.gene_index, {s: j for j, s in enumerate(ds.samples)}
    perts = ds.perturbations()
    assert all(isinstance(p, Perturbation) for p in perts)
    assert perts == [
        Perturbation(col["ko_gata1"], (gi["Gata1"],), 0.0),
        Perturbation(col["kd_pax6"], (gi["Pax6"],), 0.5),
        Perturbation(col["dko"], (gi["Nanog"], gi["Klf4"]), 0.0),
        Perturbation(col["oe_myc"], (gi["Myc"],), 2.0),
    ]
    double = [p for p in perts if len(p.genes) == 2]
    assert len(double) == 1 and len(set(double[0].genes)) == 2


def test_the_samples_without_a_knockout_are_chosen_by_dose(ds):
    """Knockouts (dose 0, alone or combined) are left out; knockdowns, overexpression and the rest stay."""
    kept = [ds.samples[j] for j in ds.samples_without_knockout()]
    assert "ko_gata1" not in kept and "dko" not in kept
    assert {"ctrl1", "ctrl2", "ctrl3", "kd_pax6", "oe_myc"} <= set(kept)
    assert len(kept) == len(ds.samples) - 2


def test_control_samples_labelled(ds):
    # 'control' and 'Control' rows; the unlisted sample s8 is not a labelled control
    assert list(ds.control_samples()) == [0, 1, 2]
    np.testing.assert_allclose(ds.baseline(), ds.expression[:, :3].mean(axis=1), rtol=1e-6)
    assert ds.baseline().shape == (ds.n_genes,)


def test_control_fallback_to_unperturbed(folder):
    _sheet(folder, [("ctrl1", "none", ""), ("ctrl2", "wildtype", ""), ("ctrl3", "Tal1", "1"),
                    ("ko_gata1", "Gata1", "0"), ("kd_pax6", "Pax6", "0.5"), ("dko", "Nanog+Klf4", ""),
                    ("oe_myc", "Myc", "2")])
    got = load_dataset(folder)
    perts = got.perturbations()
    assert [got.samples[p.sample] for p in perts] == ["ko_gata1", "kd_pax6", "dko", "oe_myc"]
    assert [p.dose for p in perts] == [0.0, 0.5, 0.0, 2.0]  # dko: empty dose = knockout
    unperturbed = [got.samples.index(s) for s in ("ctrl1", "ctrl2", "ctrl3", "s8")]
    assert list(got.control_samples()) == unperturbed
    np.testing.assert_allclose(got.baseline(), got.expression[:, unperturbed].mean(axis=1), rtol=1e-6)


def test_baseline_without_any_control(tmp_path):
    samples = ["a", "b", "c"]
    matrix = EXPR[:, :3]
    folder = make_folder(tmp_path / "ds", skip=["samples"], expression=expression_text(matrix, GENES, samples))
    _sheet(folder, [("a", "Sox2", "0"), ("b", "Myc", "0.5"), ("c", "Gata1+Tal1", "0")])
    got = load_dataset(folder)
    assert got.control_samples().size == 0
    assert len(got.perturbations()) == 3
    np.testing.assert_allclose(got.baseline(), got.expression.mean(axis=1), rtol=1e-6)


def test_without_samples_and_with_prior(ds):
    smaller = ds.without_samples({"ko_gata1", "ctrl1"})
    assert smaller.samples == tuple(s for s in SAMPLES if s not in ("ko_gata1", "ctrl1"))
    assert smaller.expression.shape == (ds.n_genes, len(SAMPLES) - 2)
    np.testing.assert_array_equal(smaller.expression[:, 0], ds.expression[:, 1])
    assert "ko_gata1" not in set(smaller.sample_sheet["sample"])
    assert [smaller.samples[p.sample] for p in smaller.perturbations()] == ["kd_pax6", "dko", "oe_myc"]
    assert list(smaller.control_samples()) == [0, 1]
    assert ds.samples == tuple(SAMPLES)  # the original is untouched
    other = ds.with_prior(pd.DataFrame({"source": ["Myc"], "target": ["Sox2"], "sign": [1]}, index=[7]))
    assert list(other.prior.index) == [0] and other.edge_indices().tolist() == [[ds.gene_index["Myc"]],
                                                                                  [ds.gene_index["Sox2"]]]
    assert len(ds.prior) == len(NETWORK)


# ----------------------------------------------------------------------------------------------------
# More formats and h5ad validation


def test_gzipped_promoters(folder):
    (folder / "promoters.fa").unlink()
    (folder / "promoters.fa.gz").write_bytes(gzip.compress(fasta_text(PROMOTERS).encode()))
    assert load_dataset(folder).promoters == PROMOTERS


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_h5ad_duplicate_gene_is_renamed_as_scanpy_does(tmp_path):
    """A symbol twice in the var_names (two Ensembl ids of one symbol): made unique as
    AnnData.var_names_make_unique does, with a note (a CSV's repeated gene stays an error)."""
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    with pytest.warns(UserWarning):  # anndata itself warns when writing non-unique names
        _write_h5ad(folder / "expression.h5ad", genes=GENES[:-1] + ["Sox2"])
    ds = load_dataset(folder)
    assert "Sox2-1" in ds.genes and GENES[-1] not in ds.genes
    assert any("1 name appears more than once (e.g. Sox2)" in w for w in ds.warnings)


def test_h5ad_nan(tmp_path):
    matrix = EXPR.copy()
    matrix[GENES.index("Myc"), SAMPLES.index("dko")] = np.nan
    folder = make_folder(tmp_path / "ds")
    (folder / "expression.csv").unlink()
    _write_h5ad(folder / "expression.h5ad", matrix=matrix)
    check_error(load_error(folder), "expression.h5ad", "gene 'Myc'", "'dko'", "NaN or infinite")


def test_round_trip_partial_annotations_and_promoters(folder, tmp_path):
    (folder / "annotations.csv").write_text("gene,score,group\nSox2,1.5,a\nMyc,,\nGata1,2,3\n")
    (folder / "promoters.fa").write_text(">Sox2\nACGT\n>Myc\n" + "ACGTN" * 40 + "\n")
    ds = load_dataset(folder)
    assert ds.annotations.loc["Myc"].isna().all()  # a blank categorical cell is missing, as an absent row
    back = load_dataset(write_dataset(ds, tmp_path / "copy"))
    pd.testing.assert_frame_equal(back.annotations, ds.annotations)
    assert back.promoters == ds.promoters == {"Myc": "ACGTN" * 40, "Sox2": "ACGT"}


def test_double_knockout_with_spaces(folder):
    rows = [list(r) for r in SHEET]
    rows[5][1] = " Nanog + Klf4 "
    _sheet(folder, rows)
    got = load_dataset(folder)
    dko = [p for p in got.perturbations() if got.samples[p.sample] == "dko"][0]
    assert dko.genes == (got.gene_index["Nanog"], got.gene_index["Klf4"]) and dko.dose == 0.0


def test_tab_separated_sample_sheet(folder):
    (folder / "samples.csv").unlink()
    (folder / "samples.tsv").write_text("sample\tperturbation\tdose\n" +
                                        "".join("\t".join(r) + "\n" for r in SHEET))
    pd.testing.assert_frame_equal(load_dataset(folder).sample_sheet, expected_sheet())
