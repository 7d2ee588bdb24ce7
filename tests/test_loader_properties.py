"""Property tests: random tables and random bytes fed to every loader of the data layer.

Whatever the input, a loader either returns a valid value (for those that build a :class:`Dataset`: one whose
expression is finite and aligned with its genes and samples) or raises
:class:`~mtlgrn_core.errors.DataValidationError` naming the file. Any other exception is a loader bug.

The examples are derandomized (the same every run, so CI is reproducible) and few enough for the file to
run in well under a minute on one core: READER_EXAMPLES per reader, DATASET_EXAMPLES per whole-dataset entry
point. Set ``MTLGRN_HYPOTHESIS_SCALE`` (e.g. 20) to search longer, and add ``--hypothesis-show-statistics``
to see which errors the examples met.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs import upload
from mtlgrn_core.inputs.data import (
    Dataset,
    load_dataset,
    read_annotations,
    read_edges,
    read_expression,
    read_fasta,
    read_gene_list,
    read_sample_sheet,
)

READER_EXAMPLES = 150
DATASET_EXAMPLES = 100
SCALE = float(os.environ.get("MTLGRN_HYPOTHESIS_SCALE", "1"))


def examples(n: int) -> settings:
    """``n`` derandomized examples (times MTLGRN_HYPOTHESIS_SCALE), no deadline, no example database."""
    return settings(max_examples=max(1, round(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------------------------------
# Strategies

GENES = ["GATA1", "gata1", "AL627309.1", "SPI1", "TAL1", "CEBPA", "ENSG00000141510.1", "ENSG00000141510.2", "MYC",
         "Klf4"]
SAMPLES = ["s1", "s2", "s3", "ctrl", "ko_GATA1", "S1"]
SPECIAL = ["", " ", "nan", "NaN", "-inf", "Infinity", "NA", "#N/A", "null", "1,5", "0,25", "1e39", "-1e39",
           "1e400", "1_000", "-0", "0", "1", "2", "2.5", "-1", "+", "-", "?", "control", "GATA1+SPI1", "\"",
           "'", "\"a,b\"", "\"1\"", ";", "\t", ",", "|", "#", ">", ">GATA1", "ACGT", "acgu", "NNNX",
           "\ufeff", "\u00e9", "\u0661", "\u2028", "\x85", "\x0b", "source", "target", "gene", "sample",
           "perturbation", "dose"]
cells = st.one_of(
    st.sampled_from(SPECIAL),
    st.sampled_from(GENES + SAMPLES),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: f"{v:.4g}"),
    st.integers(-10, 10 ** 6).map(str),
    st.text(max_size=6),
)
DELIMITERS = [",", "\t", ";", " ", "|", ",\t"]
NEWLINES = ["\n", "\r\n", "\r"]


@st.composite
def tables(draw, cell=cells, max_rows=6, max_cols=5) -> str:
    """A random delimited table as text: random shape, cells, delimiter (sometimes mixed), line ends."""
    n_cols = draw(st.integers(1, max_cols))
    rows = draw(st.lists(st.lists(cell, min_size=max(n_cols - 1, 1), max_size=n_cols + 1),
                         min_size=0, max_size=max_rows))
    delims = draw(st.sampled_from(DELIMITERS))
    newline = draw(st.sampled_from(NEWLINES))
    lines = [draw(st.sampled_from(delims)).join(row) for row in rows]
    return draw(st.sampled_from(["", "\ufeff"])) + newline.join(lines) + draw(st.sampled_from(["", newline]))


numbers = st.one_of(st.floats(0, 1e3, allow_nan=False).map(lambda v: f"{v:.5g}"), st.integers(0, 5000).map(str),
                    st.floats(-5, 5, allow_nan=False).map(lambda v: f"{v:.3f}"))


def one_in(n: int):
    """True about once in ``n`` draws (the simplest value, which Hypothesis favours, is False)."""
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def names(draw, pool: list[str], min_size: int, max_size: int) -> list[str]:
    """Distinct names from ``pool``; one in eight times one of them repeated."""
    chosen = draw(st.permutations(pool))[:draw(st.integers(min_size, max_size))]
    return chosen + chosen[:1] if draw(one_in(8)) else chosen


@st.composite
def expression_tables(draw, genes: list[str] | None = None, samples: list[str] | None = None) -> str:
    """A plausible expression table (names from a small pool, numbers, now and then one odd cell)."""
    genes = draw(names(GENES, 1, 6)) if genes is None else genes
    samples = draw(names(SAMPLES, 1 + (not draw(one_in(8))), 5)) if samples is None else samples
    rows = [[draw(st.sampled_from(["gene", "", "id"])), *samples]]
    rows += [[gene, *(draw(numbers) for _ in samples)] for gene in genes]
    if draw(one_in(3)):  # one odd cell anywhere
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(samples)))
        rows[i][j] = draw(cells)
    if draw(st.booleans()):  # samples as rows
        rows = [list(col) for col in zip(*rows)]
    sep = draw(st.sampled_from([",", "\t", ";"]))
    return "\n".join(sep.join(row) for row in rows) + "\n"


@st.composite
def some(draw, pool: list[str]) -> str:
    """A name of ``pool``, or one in ten times a name from anywhere."""
    return draw(st.sampled_from(GENES + SAMPLES + ["OTHER"] if draw(one_in(10)) else pool))


@st.composite
def edge_lines(draw, genes: list[str] = GENES) -> str:
    rows = draw(st.lists(st.tuples(some(genes), some(genes), st.sampled_from(["+", "-", "", "1", "0", "?"])),
                         min_size=1, max_size=6))
    header = draw(st.sampled_from(["source,target,sign\n", "", "regulator,target,mode\n"]))
    return header + "".join(f"{s},{t},{g}\n" for s, t, g in rows)


@st.composite
def sample_sheets(draw, genes: list[str] = GENES, samples: list[str] = SAMPLES) -> str:
    rows = [(sample, draw(st.one_of(some(genes), st.sampled_from(["control", "", "GATA1+SPI1"]))),
             draw(st.sampled_from(["", "0", "0.5", "1", "2", "", "1", "0", "1.0", "2.5"])))
            for sample in draw(names(samples, 0, 4))]
    return "sample,perturbation,dose\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)


def plausible(genes: list[str] | None = None, samples: list[str] | None = None) -> dict[str, st.SearchStrategy]:
    """Canonical file name -> a strategy for plausible content naming mostly ``genes`` and ``samples``.

    Without ``genes`` and ``samples`` each file draws its own from the pools.
    """
    expression = expression_tables(genes, samples)
    genes, samples = genes or GENES, samples or SAMPLES
    return {
        "expression.csv": expression,
        "network.csv": edge_lines(genes),
        "tfs.txt": st.lists(some(genes + ["tf"]), min_size=1, max_size=5).map("\n".join),
        "samples.csv": sample_sheets(genes, samples),
        "promoters.fa": st.tuples(names(genes, 1, 4), st.lists(st.sampled_from(["ACGT", "nnrY", "acgu", "GGCC", "",
                                                                                "ACGX"]), min_size=5, max_size=5)).map(
            lambda t: "".join(f">{g} promoter\n{s}\n" for g, s in zip(*t))),
        "annotations.csv": st.tuples(names(genes, 1, 5), st.lists(cells, min_size=5, max_size=5),
                                     st.lists(numbers, min_size=5, max_size=5)).map(
            lambda t: "gene,a,b\n" + "".join(f"{g},{x},{y}\n" for g, x, y in zip(*t))),
        "truth.csv": edge_lines(genes),
    }


PLAUSIBLE = plausible()
anything = st.one_of(tables(), st.binary(max_size=120), st.text(max_size=80),
                     tables().map(lambda t: t.encode("utf-16")))


@st.composite
def dataset_files(draw) -> dict[str, str | bytes]:
    """Canonical file name -> content: an expression table and some optional inputs, mostly plausible."""
    genes = draw(names(GENES, 1, 6))
    samples = draw(names(SAMPLES, 1 + (not draw(one_in(8))), 5))
    files: dict[str, str | bytes] = {}
    for name, strategy in plausible(genes, samples).items():
        choice = draw(st.sampled_from(["plausible"] * 6 + ["absent"] * 3 + ["anything"]))
        if choice == "anything":
            files[name] = draw(anything)
        elif choice == "plausible" or name == "expression.csv":  # the expression matrix is never absent
            files[name] = draw(strategy)
    return files


# ----------------------------------------------------------------------------------------------------
# Checks


def check_dataset(ds: Dataset) -> None:
    assert isinstance(ds, Dataset)
    assert ds.expression.shape == (len(ds.genes), len(ds.samples))
    assert ds.expression.dtype == np.float32
    assert np.isfinite(ds.expression).all()
    assert len(set(ds.genes)) == len(ds.genes) and list(ds.genes) == sorted(ds.genes)
    assert len(set(ds.samples)) == len(ds.samples) and len(ds.samples) >= 2
    assert set(ds.tfs) <= set(ds.genes)
    for edges in (ds.prior, ds.truth):
        if edges is not None:
            assert set(edges["source"]) | set(edges["target"]) <= set(ds.genes)
            assert not (edges["source"] == edges["target"]).any()
    ds.edge_indices()
    ds.perturbations()
    ds.baseline()
    ds.summary()
    upload.validation_report(ds)


FILE_NAME = re.compile(r"[\w.-]+\.(csv|tsv|tab|txt|fa|fasta|h5ad|gz|zip)\b", re.IGNORECASE)


def outcome(call, *, file: str | None = None):
    """Run ``call``; return its value, or ``None`` after a DataValidationError.

    The error must name ``file`` first (or, without ``file``, name some file).
    """
    try:
        result = call()
    except DataValidationError as exc:
        message = str(exc)
        assert message.startswith(file) if file is not None else FILE_NAME.search(message), message
        event("DataValidationError: " + re.sub(r"'[^']*'|\d+", "X", message)[:70])  # --hypothesis-show-statistics
        return None
    event("valid value")
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("props")


def as_bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(as_bytes(content))
    return path


def fresh(workdir: Path, name: str = "ds") -> Path:
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


# ----------------------------------------------------------------------------------------------------
# One reader at a time

def valid_expression(result) -> bool:
    genes, samples, matrix = result
    return (len(genes), len(samples)) == matrix.shape and np.isfinite(matrix).all() and \
        len(set(genes)) == len(genes) and len(set(samples)) == len(samples)


READERS = {  # file name -> (reader, what a valid return value is)
    "expression.csv": (read_expression, valid_expression),
    "network.csv": (read_edges, lambda r: list(r.columns) == ["source", "target", "sign"]
                    and not (r["source"] == r["target"]).any() and not r.duplicated(["source", "target"]).any()),
    "tfs.txt": (read_gene_list, lambda r: len(r) > 0 and all(isinstance(g, str) and g for g in r)),
    "samples.csv": (read_sample_sheet, lambda r: list(r.columns) == ["sample", "perturbation", "dose"]
                    and r["dose"].between(0, 2).all() and r["sample"].is_unique),
    "promoters.fa": (read_fasta, lambda r: len(r) > 0 and all(set(s) <= set("ACGTNRYSWKMBDHV") for s in r.values())),
    "annotations.csv": (read_annotations, lambda r: r.index.is_unique and r.columns.is_unique),
}
ORIENTATIONS = ["auto", "genes_rows", "genes_columns"]


@pytest.mark.parametrize("name", list(READERS))
@examples(READER_EXAMPLES)
@given(data=st.data())
def test_reader_returns_a_valid_value_or_a_validation_error(workdir, name, data):
    reader, valid = READERS[name]
    path = write(workdir, name, data.draw(st.one_of(PLAUSIBLE[name], anything), label=name))
    kwargs = {}
    if name == "expression.csv":
        kwargs = {"reference_genes": set(data.draw(names(GENES, 0, 3), label="reference genes")),
                  "orientation": data.draw(st.sampled_from(ORIENTATIONS), label="orientation"), "warnings": []}
    result = outcome(lambda: reader(path, **kwargs), file=name)
    if result is not None:
        assert valid(result), result


# ----------------------------------------------------------------------------------------------------
# Whole datasets: a folder, uploaded files, a zip


@examples(DATASET_EXAMPLES)
@given(files=dataset_files(), log=st.sampled_from(["auto", True, False]), orientation=st.sampled_from(ORIENTATIONS))
def test_load_dataset_on_a_random_folder(workdir, files, log, orientation):
    folder = fresh(workdir)
    for name, data in files.items():
        write(folder, name, data)
    ds = outcome(lambda: load_dataset(folder, log_transform=log, orientation=orientation))
    if ds is not None:
        check_dataset(ds)


@examples(DATASET_EXAMPLES)
@given(files=dataset_files(), log=st.sampled_from(["auto", True, False]))
def test_dataset_from_files_on_random_uploads(files, log):
    kinds = {upload.kind_of(name): (f"my_{name}", as_bytes(data)) for name, data in files.items()}
    ds = outcome(lambda: upload.dataset_from_files(kinds, log_transform=log))
    if ds is not None:
        check_dataset(ds)


zip_names = st.one_of(st.sampled_from(["expression.csv", "ds/expression.csv", "ds/network.csv", "tfs.txt",
                                       "../x.csv", "/abs.csv", "a/b/expression.csv", "__MACOSX/._x",
                                       "Expression.CSV", "ds/", "expression.csv.gz", "expression.h5ad",
                                       "C:\\x.csv", "samples.tsv"]),
                      st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12))


@st.composite
def zips(draw) -> bytes:
    """A zip of a plausible dataset folder and/or odd members (names, contents), sometimes corrupt or not a zip."""
    if draw(one_in(8)):
        return draw(st.binary(max_size=200))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # a repeated member name: wanted here
        if not draw(one_in(4)):
            prefix = draw(st.sampled_from(["", "ds/"]))
            for name, data in draw(dataset_files()).items():
                if name == "expression.csv" and draw(one_in(4)):
                    name, data = "expression.csv.gz", gzip.compress(as_bytes(data))
                archive.writestr(prefix + name, data)
        if draw(one_in(3)):
            for name, data in draw(st.lists(st.tuples(zip_names, anything), min_size=1, max_size=2)):
                archive.writestr(name, data)
    raw = buffer.getvalue()
    if draw(one_in(8)):  # corrupt one byte
        k = draw(st.integers(0, len(raw) - 1))
        raw = raw[:k] + bytes([raw[k] ^ 0xFF]) + raw[k + 1:]
    return raw


@examples(DATASET_EXAMPLES)
@given(data=zips())
def test_dataset_from_zip_on_random_archives(data):
    ds = outcome(lambda: upload.dataset_from_zip(data, file_name="upload.zip"))
    if ds is not None:
        check_dataset(ds)
