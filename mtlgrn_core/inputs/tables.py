"""Reading text tables as users save them: encodings, byte order marks, gzip, the delimiter, ragged rows.

Every problem raises :class:`~mtlgrn_core.errors.DataValidationError` naming the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError

DELIMITER_NAMES = {"\t": "tabs", ",": "commas", ";": "semicolons"}


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataValidationError(f"cannot read the file ({exc.strerror}). Check the path.", file=path.name)
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise DataValidationError("is named .gz but is not a valid gzip file. Re-compress it or "
                                      "remove the .gz suffix.", file=path.name)
    text = _decode(raw, path.name)
    if "\x00" in text[:8192]:
        raise DataValidationError("looks like a binary file (e.g. an Excel workbook or an image), not text. Export "
                                  "it as CSV/TSV (FASTA for promoters, .h5ad for AnnData).", file=path.name)
    if not text.strip():
        raise DataValidationError("is empty. Provide a file with a header line and at least one row.",
                                  file=path.name)
    return text


def _decode(raw: bytes, file: str) -> str:
    """UTF-8 (a byte order mark is dropped), UTF-16 with a byte order mark (Excel's 'Unicode text'), else Latin-1."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not raw.startswith(codecs.BOM_UTF32_LE):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataValidationError("starts with a UTF-16 byte order mark but is not valid UTF-16 text. "
                                      "Save it as UTF-8 CSV.", file=file)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _delimiter(first_line: str) -> str:
    for sep in ("\t", ",", ";"):
        if sep in first_line:
            return sep
    return r"\s+"


def read_table(path: Path, *, header: bool = True, need: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV (optionally gzipped) as strings; the delimiter is detected from the first line.

    ``need`` describes the columns the file must have: with it, a table of one column is refused (the usual
    sign of a delimiter other than comma, tab, semicolon or spaces).
    """
    path = Path(path)
    text = read_text(path)
    first = re.split(r"\r\n?|\n", text.lstrip("\r\n"), maxsplit=1)[0]
    sep = _delimiter(first)
    try:
        # header=None, then the first row as names: with header=0 pandas renames duplicate names ('s1' ->
        # 's1.1') and silently takes the first column as index when rows have more fields than the header.
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            header=None, engine="python" if sep == r"\s+" else "c",
                            skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise _ragged_error(exc, sep, path.name)
    if need is not None and table.shape[1] < 2:
        raise DataValidationError(f"needs {need}, but its lines hold one column only (first line: "
                                  f"'{first[:60]}'). Separate the cells with commas (CSV) or tabs (TSV).",
                                  file=path.name, line=1)
    _check_one_delimiter(table, sep, path.name)
    if header:
        table.columns = [str(c) for c in table.iloc[0]]
        table = table.iloc[1:].reset_index(drop=True)
    return table


def _ragged_error(exc: Exception, sep: str, file: str) -> DataValidationError:
    """The error for rows with more fields than the first line, with the likely causes."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    line = re.search(r"line (\d+)", str(exc))
    hints = ""
    if sep == ",":
        hints += " A comma used as decimal mark also causes this: export with '.' as decimal separator."
    if found and found.group(2) == "2" and int(found.group(3)) == int(found.group(1)) + 1:
        hints += " If the header has no name above the first column (as R's write.table writes it), add one, " \
                 "e.g. 'gene'."
    return DataValidationError(
        f"rows have different numbers of fields ({str(exc).strip()}). Every row needs as many cells as the "
        f"header.{hints}", file=file, line=int(line.group(1)) if line else None)


def _check_one_delimiter(table: pd.DataFrame, sep: str, file: str) -> None:
    """Refuse a line written with another delimiter than the first line (it reads as one long first cell)."""
    if table.shape[1] < 2:
        return
    others = [d for d in DELIMITER_NAMES if d != sep]
    first_cells = table.iloc[:, 0].astype(str)
    for k in np.flatnonzero(first_cells.str.contains("|".join(others)).to_numpy()):
        other = next(d for d in others if d in first_cells.iat[k])
        if k > 0 and all(pd.isna(c) or c == "" for c in table.iloc[k, 1:]):
            raise DataValidationError(
                f"this line is separated by {DELIMITER_NAMES[other]} but the first line by "
                f"{DELIMITER_NAMES.get(sep, 'spaces')}. Use one delimiter throughout the file.",
                file=file, line=k + 1)


def strip_quotes(values) -> list[str]:
    return [str(v).strip().strip('"').strip("'").strip() for v in values]


def check_unique(names: list[str], what: str, file: str, line_offset: int, *, header: bool = False,
                  only: tuple[str, ...] | None = None) -> None:
    """Every name is given and unique (``only``: these names, where the others do not matter).

    ``header``: the names are the cells of the header line, so positions are columns and the line is 1.
    """
    unit = "column" if header else "line"
    seen: dict[str, int] = {}
    for pos, name in enumerate(names):
        if only is not None and name not in only:
            continue
        if name == "":
            raise DataValidationError(f"{what} name is empty{f' (column {pos + line_offset})' if header else ''}. "
                                      f"Give every {what} a name.",
                                      file=file, line=1 if header else pos + line_offset)
        if name in seen:
            raise DataValidationError(
                f"{what} '{name}' appears twice ({unit}s {seen[name] + line_offset} and {pos + line_offset}). "
                f"Remove or merge the duplicate.", file=file,
                line=1 if header else pos + line_offset)
        seen[name] = pos


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def number_fix(values: np.ndarray, i: int, j: int) -> str:
    """What to do about the non-numeric cell ``values[i, j]``."""
    cell = values[i, j].strip()
    if cell == "":
        if all(c.strip() == "" for c in values[i, j:]) and j > 0:
            return ("Fill the empty cell; if the line ends early, give it as many cells as the header, with the "
                    "same delimiter.")
        return "Fill the empty cell (or drop that row/column)."
    if cell.lower() in ("na", "n/a", "#n/a", "null", "none"):
        return "It marks a missing value: replace missing values (e.g. with 0) before loading."
    if re.fullmatch(r"-?\d+,\d+", cell):
        return "It uses a comma as decimal mark: export with '.' as decimal separator."
    if len(values) > 1 and not any(is_number(c) for c in values[:, j]):
        return ("That column holds no number at all: only the first column may hold names. Remove the other "
                "text columns (e.g. descriptions or gene symbols).")
    if values.shape[1] > 1 and not any(is_number(c) for c in values[i]):
        return "This line holds no number at all: is it a second header line? Keep one header line."
    return "Expression values must be numbers."
