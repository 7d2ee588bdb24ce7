"""The streamed reader of large expression files (issue 29): the same genes, samples and values as the careful
reader, gzipped or not, with quotes, a byte order mark and Windows line ends; a bad cell, a short row or a NaN
named by line and column as the careful reader names them, in a file too large to read carefully too; and the
files it leaves to the careful reader."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs import data, matrix_csv
from mtlgrn_core.inputs.data import load_dataset, read_expression_table
from mtlgrn_core.inputs.matrix_csv import read_matrix_csv


def _matrix_text(sep: str = ",", *, quotes: bool = False, newline: str = "\n") -> str:
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 3.0, size=(30, 6)).round(4)
    q = '"' if quotes else ""
    lines = [sep.join([f"{q}gene{q}"] + [f"{q}s{j}{q}" for j in range(6)])]
    lines += [sep.join([f"{q}G{i:03d}{q}"] + [f"{v:g}" for v in row]) for i, row in enumerate(values)]
    return newline.join(lines) + newline


@pytest.mark.parametrize("sep,quotes,newline,bom,gz", [(",", False, "\n", False, False),
                                                        ("\t", True, "\r\n", True, False),
                                                        (";", False, "\n", False, True)])
def test_the_streamed_matrix_is_the_careful_one(tmp_path, sep, quotes, newline, bom, gz):
    text = ("\ufeff" if bom else "") + _matrix_text(sep, quotes=quotes, newline=newline)
    path = tmp_path / ("expression.csv.gz" if gz else "expression.csv")
    raw = text.encode("utf-8")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    rows, columns, matrix = read_matrix_csv(path)
    careful_rows, careful_columns, careful = read_expression_table(path)
    assert [r.strip('"') for r in rows] == careful_rows and [c.strip('"') for c in columns] == careful_columns
    assert matrix.dtype == np.float32 and matrix.shape == careful.shape
    np.testing.assert_allclose(matrix, careful, rtol=1e-6)


def test_a_large_file_loads_as_a_small_one_does(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "expression.csv").write_text(_matrix_text())
    careful = load_dataset(folder, log_transform="auto")
    monkeypatch.setattr(data, "STREAM_MIN_BYTES", 0)
    streamed = load_dataset(folder, log_transform="auto")
    assert streamed.genes == careful.genes and streamed.samples == careful.samples
    np.testing.assert_allclose(streamed.expression, careful.expression, rtol=1e-6)


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("line,cell,message", [
    (5, "abc", r"cell 'abc' in column 's2' is not a number"),
    (7, "NA", r"cell 'NA' in column 's2' is not a number\. It marks a missing value"),
    (9, "nan", r"value '.*nan' in column 's2' is NaN or infinite"),
])
def test_a_bad_cell_is_named_by_line_and_column(tmp_path, monkeypatch, large, line, cell, message):
    lines = _matrix_text().splitlines()
    fields = lines[line - 1].split(",")
    fields[3] = cell
    lines[line - 1] = ",".join(fields)
    path = tmp_path / "expression.csv"
    path.write_text("\n".join(lines) + "\n")
    if large:  # too large for the careful reader: scanned line by line
        monkeypatch.setattr(matrix_csv, "CAREFUL_MAX_BYTES", 0)
    with pytest.raises(DataValidationError, match=message) as caught:  # as the loader reads: streamed first
        read_matrix_csv(path) or read_expression_table(path)
    assert f"line {line}" in str(caught.value) and "expression.csv" in str(caught.value)


def test_a_short_row_in_a_large_file_is_named(tmp_path, monkeypatch):
    lines = _matrix_text().splitlines()
    lines[11] = ",".join(lines[11].split(",")[:-1])
    path = tmp_path / "expression.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(matrix_csv, "CAREFUL_MAX_BYTES", 0)
    with pytest.raises(DataValidationError, match=r"different numbers of fields \(expected 7 fields, saw 6\)"):
        read_matrix_csv(path)


def test_what_the_streamed_reader_leaves_to_the_careful_one(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(_matrix_text().replace("G001", "Gène1").encode("latin-1"))
    spaces = tmp_path / "spaces.txt"
    spaces.write_text(_matrix_text(" "))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(_matrix_text().encode("utf-16"))
    assert read_matrix_csv(latin) is None and read_matrix_csv(spaces) is None and read_matrix_csv(utf16) is None


def test_a_large_file_in_another_encoding_is_told_to_be_saved_as_utf8(tmp_path, monkeypatch):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(_matrix_text().replace("G001", "Gène1").encode("latin-1"))
    monkeypatch.setattr(matrix_csv, "CAREFUL_MAX_BYTES", 0)
    with pytest.raises(DataValidationError, match="latin.csv: is not UTF-8 text"):
        read_matrix_csv(latin)


def test_a_file_too_large_for_the_free_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from mtlgrn_core.host_memory import MEMORY_LIMIT_ENV

    path = tmp_path / "expression.csv"
    path.write_text(_matrix_text())
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "0.001")  # about 1 kB free
    with pytest.raises(DataValidationError, match=r"expression.csv: holds about 31 rows x 6 columns: loading it "
                                                  r"needs about .* Upload it as a sparse \.h5ad"):
        read_matrix_csv(path)
