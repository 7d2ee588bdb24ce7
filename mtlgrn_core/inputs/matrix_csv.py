"""A large expression matrix read from a delimited text file in proportion to its size.

The careful reader (:func:`~mtlgrn_core.inputs.tables.read_table`) holds the whole text and every cell as a Python
string before converting: some 20 times the file's size in memory, minutes for a file of a few hundred MB. Here
pyarrow's CSV reader streams the file (gzipped or not) in blocks, the first column as names and every other as
``float32``, each block written into a matrix allocated once (its lines counted first): little beyond the matrix
itself in memory.

What it does not take goes back to the careful reader, which names the file, the line and the fix: a file that is
not UTF-8, one whose first line has no comma, tab or semicolon, and one with a cell that is not a number or a row of
the wrong length. A file too large for the careful reader is scanned line by line instead (:func:`first_problem`),
in constant memory, for the same messages. A file whose matrix would not fit in the memory the machine has free is
refused before it is read (:func:`check_room`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from pathlib import Path

import numpy as np

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.host_memory import gib, host_available
from mtlgrn_core.inputs.tables import number_fix

#: Files from this size on are streamed (smaller ones are read carefully: the same matrix, in little time).
STREAM_MIN_BYTES = 16 << 20
#: The careful reader's limit when the streamed read fails: above it, the file is scanned line by line instead.
CAREFUL_MAX_BYTES = 64 << 20
BLOCK_BYTES = 16 << 20
#: Matrices a load holds at its peak (the matrix, then a sorted or transformed copy of it).
LOAD_COPIES = 2
DELIMITERS = ("\t", ",", ";")


def header_line(path: Path) -> str | None:
    """The file's first line (UTF-8, a byte order mark dropped), or None when it is not UTF-8 text."""
    with _open_binary(path) as stream:
        raw = stream.read(1 << 20)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw[:8192]:
        return None
    first = raw.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return first.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def delimiter_of(first: str) -> str | None:
    """The delimiter of the first line: tab, comma or semicolon, the first found (None: spaces or one column)."""
    return next((sep for sep in DELIMITERS if sep in first), None)


def read_matrix_csv(path: Path) -> tuple[list[str], list[str], np.ndarray] | None:
    """``(row names, column names, float32 matrix)`` of a delimited file whose first column names the rows and whose
    header names the columns; None when the careful reader should read it (see the module): not UTF-8, no delimiter,
    or a problem in a file small enough for it. A larger file with a problem raises the careful reader's message."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    first = header_line(path)
    sep = None if first is None else delimiter_of(first)
    if sep is None:
        return None
    header = next(csv.reader([first], delimiter=sep))
    names = [f"c{k}" for k in range(len(header))]
    options = dict(
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES, use_threads=True),
        parse_options=pa_csv.ParseOptions(delimiter=sep),
        convert_options=pa_csv.ConvertOptions(
            column_types={"c0": pa.string(), **{n: pa.float32() for n in names[1:]}}, null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    n_rows = count_lines(path)
    check_room(path, n_rows, len(names) - 1)
    rows: list[str] = []
    matrix = np.empty((n_rows, len(names) - 1), dtype=np.float32)  # at least the rows: no second copy
    try:
        with _open_arrow(path) as stream:
            for batch in pa_csv.open_csv(stream, **options):
                start = len(rows)
                rows.extend(batch.column(0).to_pylist())
                for k in range(1, len(names)):
                    matrix[start:len(rows), k - 1] = batch.column(k).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        if path.stat().st_size <= CAREFUL_MAX_BYTES:
            return None  # the careful reader reads it, or names the problem
        raise _explained(path, sep, header, exc) from None
    matrix = matrix[:len(rows)]
    bad = ~np.isfinite(matrix)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataValidationError(
            f"value '{matrix[i, j]}' in column '{header[j + 1].strip()}' is NaN or infinite ({int(bad.sum())} such "
            "cells). Replace missing values (e.g. with 0) before loading.", file=path.name, line=int(i) + 2)
    return rows, header[1:], matrix


def check_room(path: Path, rows: int, columns: int) -> None:
    """Refuse, before reading it, a file whose matrix the machine cannot hold: loading keeps the matrix and, at the
    peak, about one more copy of it (:data:`LOAD_COPIES` in all)."""
    need, have = LOAD_COPIES * rows * columns * 4, host_available()
    if have is not None and need > have:
        raise DataValidationError(
            f"holds about {rows:,} rows x {columns:,} columns: loading it needs about {gib(need)} of memory and "
            f"{gib(have)} is free on this server. Upload it as a sparse .h5ad (single-cell counts are mostly zeros), "
            "keep fewer genes or samples, or load it on a machine with more memory.", file=path.name)


def count_lines(path: Path) -> int:
    """The number of line ends in the file (a bound on its rows), counted in blocks."""
    count, last = 0, b"\n"
    with _open_binary(path) as stream:
        while block := stream.read(BLOCK_BYTES):
            count, last = count + block.count(b"\n"), block[-1:]
    return count + (last != b"\n")


def _explained(path: Path, sep: str, header: list[str], exc: Exception) -> DataValidationError:
    """The careful reader's message for a file too large for the careful reader that the streamed one refused."""
    first_problem(path, sep, header)
    if "UTF8" in str(exc):
        return DataValidationError("is not UTF-8 text (a name holds a character of another encoding). Save it as "
                                   "UTF-8 CSV.", file=path.name)
    return DataValidationError(f"cannot be read as a table of numbers ({exc}). Save it as CSV or TSV with a gene "
                               "column and one number per sample.", file=path.name)


def first_problem(path: Path, sep: str, header: list[str]) -> None:
    """Scan the file line by line (constant memory) and raise for its first line of the wrong length or its first
    cell that is not a finite number, as the careful reader words it."""
    with io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=sep)
        next(reader, None)
        for line, fields in enumerate(reader, start=2):
            if not fields or not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataValidationError(f"rows have different numbers of fields (expected {len(header)} fields, "
                                          f"saw {len(fields)}). Every row needs as many cells as the header.",
                                          file=path.name, line=line)
            for j, cell in enumerate(fields[1:]):
                try:
                    value = float(cell)
                except ValueError:
                    values = np.array([fields[1:]], dtype=str)
                    raise DataValidationError(f"cell '{cell}' in column '{header[j + 1].strip()}' is not a number. "
                                              f"{number_fix(values, 0, j)}", file=path.name, line=line) from None
                if not np.isfinite(value):
                    raise DataValidationError(f"value '{cell}' in column '{header[j + 1].strip()}' is NaN or "
                                              "infinite. Replace missing values (e.g. with 0) before loading.",
                                              file=path.name, line=line)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _open_arrow(path: Path):
    import pyarrow as pa

    return pa.input_stream(str(path), compression="gzip" if path.suffix == ".gz" else None)
