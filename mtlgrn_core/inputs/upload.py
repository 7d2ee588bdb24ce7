"""Turn uploaded files (one per input, or a zip of a dataset folder) into a validated :class:`Dataset`.

The uploads are written under the canonical names of a dataset folder (``expression.csv``,
``network.csv``, ...) in a temporary folder and read by :func:`~mtlgrn_core.inputs.data.load_dataset`; every
error message and warning then names the user's own file again. Gzipped uploads are decompressed on the
way (with a size limit), archives are checked before anything is extracted (no absolute paths, no ``..``,
no links, a bounded number of files and total size).

Public API: :func:`dataset_from_files`, :func:`dataset_from_zip`, :func:`demo_dataset`,
:func:`kind_of`, :func:`validation_report`, :func:`example_file`,
:func:`example_zip`, and :data:`INPUTS` (what each input is, for format help).
"""

from __future__ import annotations

import gzip
import io
import re
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pandas as pd

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import TENX_FOLDER, TENX_PARTS
from mtlgrn_core.inputs.data import Dataset, load_dataset
from mtlgrn_core.inputs.simulate import simulate

MAX_FILE_BYTES = 1 << 30  # 1 GiB per input file (after decompression)
MAX_ARCHIVE_BYTES = 2 << 30  # 2 GiB uncompressed in one zip
MAX_ARCHIVE_FILES = 50
DEMO_MIN_GENES, DEMO_MAX_GENES = 10, 2000
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_INPUT_EXTENSIONS = ("csv", "tsv", "txt", "tab", "fa", "fasta", "fna", "h5ad", "loom")
_JUNK = re.compile(r"(^|/)(__MACOSX|\.DS_Store|Thumbs\.db|desktop\.ini)(/|$)|(^|/)\._")
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"


@dataclass(frozen=True)
class InputKind:
    """One input of a dataset folder, for format help beside its uploader."""

    kind: str
    label: str
    canonical: str
    required: bool
    extensions: tuple[str, ...]
    help: str


INPUTS: dict[str, InputKind] = {k.kind: k for k in (
    InputKind("expression", "Expression matrix", "expression.csv", True,
              ("csv", "tsv", "txt", "gz", "h5ad", "loom", "h5"),
              "Genes as rows, samples as columns: a header line `gene,sample1,sample2,...`, then one line per "
              "gene with numbers. Comma or tab separated, optionally gzipped (`.gz`), or single-cell data: an "
              "AnnData `.h5ad`, a `.loom`, Cell Ranger's `filtered_feature_bc_matrix.h5` (its matrix folder: "
              "zip the dataset folder with it inside). Raw counts are log1p-transformed automatically "
              "(single-cell counts after normalising each cell); values that are not whole numbers (log-scaled, "
              "TPM) are kept as they are. The orientation is detected from the gene names of the other files."),
    InputKind("network", "Known network (prior)", "network.csv", False, ("csv", "tsv", "txt", "gz"),
              "Known regulatory edges, one per line: `source,target,sign` with sign `+` (activation), `-` "
              "(repression) or empty (unknown). The header line is optional. Edges from regulators the "
              "expression does not measure are kept for their knockouts. Without it the model trains "
              "without the edge task."),
    InputKind("tfs", "Transcription factors", "tfs.txt", False, ("txt", "csv", "tsv", "gz"),
              "One gene name per line: the candidate regulators. Without it the candidates are the prior's "
              "regulators (genes with an outgoing edge), or every gene when so chosen below or when there is no "
              "prior."),
    InputKind("samples", "Sample sheet", "samples.csv", False, ("csv", "tsv", "txt", "gz"),
              "`sample,perturbation,dose`: one line per sample. Perturbation is `control`, a gene name (a "
              "measured gene, or a regulator of the prior that is not measured), several joined with `+` "
              "(double knockout), `other` or empty. Dose 0 = knockout, 0.5 = knockdown to "
              "half, 1 = unperturbed, up to 2 = overexpression; when empty it is 0 for a named gene."),
    InputKind("promoters", "Promoter sequences", "promoters.fa", False, ("fa", "fasta", "fna", "txt", "gz"),
              "FASTA: `>GENE` then the DNA sequence (A, C, G, T, N and IUPAC codes) on the next lines; "
              "one record per gene. Genes without a record get zero k-mer features."),
    InputKind("annotations", "Gene annotations", "annotations.csv", False, ("csv", "tsv", "txt", "gz"),
              "A gene column, then any numeric or categorical feature columns (e.g. conservation, "
              "half-life, module). Missing genes are imputed."),
    InputKind("truth", "Ground truth", "truth.csv", False, ("csv", "tsv", "txt", "gz"),
              "True edges for evaluation only (same format as the known network); never used for "
              "training."),
)}
KINDS = tuple(INPUTS)


# ----------------------------------------------------------------------------------------------------
# Writing inputs under their canonical names


def _size_text(n_bytes: int) -> str:
    return f"{n_bytes / (1 << 30):.2f} GB" if n_bytes >= (1 << 29) else f"{n_bytes / (1 << 20):.1f} MB"


def _too_large(name: str, limit: int) -> DataValidationError:
    return DataValidationError(f"is larger than the {_size_text(limit)} limit per file. Keep the genes and "
                               "samples you need, or compress the file (.gz).", file=name)


def _copy_bounded(source: BinaryIO, target: Path, limit: int, name: str) -> None:
    """Copy ``source`` to ``target``; stop with an error past ``limit`` bytes."""
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise _too_large(name, limit)
            out.write(chunk)


def _canonical_name(kind: str, original: str, head: bytes) -> str:
    """The dataset-folder file name an upload is written under (after decompression)."""
    if kind != "expression":
        return INPUTS[kind].canonical
    lower = original.lower()
    if lower.endswith(".loom"):
        return "expression.loom"
    if lower.endswith(".h5"):
        return TENX_FOLDER + ".h5"
    if lower.endswith(".h5ad") or head.startswith(_HDF5_MAGIC):
        return "expression.h5ad"
    if re.search(r"\.(tsv|tab|txt)(\.gz)?$", lower):
        return "expression.tsv"
    return "expression.csv"


def _write_input(kind: str, original: str, stream: BinaryIO, folder: Path) -> str:
    """Write one input into ``folder`` under its canonical name, decompressing gzip; returns that name."""
    limit = MAX_FILE_BYTES
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(_GZIP_MAGIC):
        inner = re.sub(r"\.gz$", "", original, flags=re.IGNORECASE)
        canonical = _canonical_name(kind, inner, b"")
        try:
            with gzip.GzipFile(fileobj=stream) as unzipped:
                _copy_bounded(unzipped, folder / canonical, limit, original)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataValidationError(f"is not a valid gzip file ({exc}). Compress it again or upload it "
                                      "uncompressed.", file=original) from None
        return canonical
    canonical = _canonical_name(kind, original, head)
    _copy_bounded(stream, folder / canonical, limit, original)
    return canonical


def _stream(content: bytes | BinaryIO) -> BinaryIO:
    """Uploaded content as a binary stream at its start."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        return io.BytesIO(content)
    content.seek(0)
    return content


def _byte_size(content: bytes | BinaryIO) -> int:
    if isinstance(content, (bytes, bytearray, memoryview)):
        return len(content)
    content.seek(0, io.SEEK_END)
    size = content.tell()
    content.seek(0)
    return size


def _display_names(originals: dict[str, str]) -> dict[str, str]:
    """A clean base name per kind; the kind is added where two inputs have the same name."""
    names = {kind: PurePosixPath(name.replace("\\", "/")).name or INPUTS[kind].canonical
             for kind, name in originals.items()}
    counts = pd.Series(list(names.values())).value_counts()
    return {kind: name if counts[name] == 1 else f"{name} ({kind})" for kind, name in names.items()}


def _rename(text: str, names: dict[str, str]) -> str:
    """Replace the canonical file names in ``text`` by the user's names (in one pass)."""
    if not names:
        return text
    alternatives = "|".join(re.escape(c) for c in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.-])({alternatives})(?![\w-])")
    return pattern.sub(lambda match: names[match.group(1)], text)


def _renamed_error(exc: DataValidationError, names: dict[str, str]) -> DataValidationError:
    """The same error naming the user's file instead of the canonical one."""
    body = str(exc)
    if exc.file is not None:
        where = exc.file + (f", line {exc.line}" if exc.line is not None else "") + ": "
        body = body[len(where):] if body.startswith(where) else body
    file = _rename(exc.file, names) if exc.file is not None else None
    return DataValidationError(_rename(body, names), file=file, line=exc.line)


def _load_folder(folder: Path, names: dict[str, str], *, name: str, **options) -> Dataset:
    """``load_dataset(folder, **options)`` with messages and warnings naming the user's files."""
    try:
        dataset = load_dataset(folder, **options)
    except DataValidationError as exc:
        raise _renamed_error(exc, names) from exc
    dataset.name = name
    dataset.warnings = [_rename(w, names) for w in dataset.warnings]
    return dataset


def _check_kinds(kinds) -> None:
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown input kind(s) {unknown}; use {', '.join(KINDS)}.")


def _missing_expression(given: str) -> DataValidationError:
    return DataValidationError(f"No expression matrix {given}. It is the one required input (genes as rows, "
                               "samples as columns); every other input is optional.")


def dataset_from_files(files: dict[str, tuple[str, bytes | BinaryIO]], *, name: str | None = None,
                       **options) -> Dataset:
    """Validate uploaded files and build a :class:`Dataset`.

    Parameters
    ----------
    files
        Input kind (one of :data:`KINDS`) -> ``(original file name, content)``. ``expression`` is required. The
        content is bytes or a binary file (an upload as the page holds it: copied to disk in chunks, never read
        whole into a second copy).
    name
        Dataset name. Default: the expression file's name without extension.
    options
        The keyword options of :func:`~mtlgrn_core.inputs.data.load_dataset`: ``log_transform`` (default ``"auto"``:
        log1p when the values look like raw counts), ``regulators`` (without a TF list: ``"prior"``, the
        default, or ``"all"``), ``prior_min_confidence``.

    Raises
    ------
    DataValidationError
        With the user's file name, the line and the fix, when an input cannot be used.
    """
    _check_kinds(files)
    if "expression" not in files:
        raise _missing_expression("has reached the server. If you chose one and its box still shows it uploading, "
                                  "wait until it has arrived, then press again")
    display = _display_names({kind: original for kind, (original, _content) in files.items()})
    for kind, (_original, content) in files.items():
        if _byte_size(content) > MAX_FILE_BYTES:
            raise _too_large(display[kind], MAX_FILE_BYTES)
    default_name = re.sub(r"\.gz$", "", files["expression"][0], flags=re.IGNORECASE)
    default_name = PurePosixPath(default_name.replace("\\", "/")).name.rsplit(".", 1)[0] or "dataset"
    with tempfile.TemporaryDirectory(prefix="mtlgrn-upload-") as tmp:
        folder = Path(tmp) / "upload"
        folder.mkdir()
        names = {_write_input(kind, display[kind], _stream(content), folder): display[kind]
                 for kind, (_original, content) in files.items()}
        return _load_folder(folder, names, name=name or default_name, **options)


# ----------------------------------------------------------------------------------------------------
# Zip archives


def kind_of(file_name: str) -> str | None:
    """The input kind a file of a dataset folder holds, from its name (``network.tsv`` -> ``network``)."""
    base = PurePosixPath(file_name).name.lower()
    base = base[:-3] if base.endswith(".gz") else base
    stem, _dot, ext = base.partition(".")
    if ext in _INPUT_EXTENSIONS and stem in INPUTS:
        return stem
    return "expression" if base == TENX_FOLDER + ".h5" else None


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in parts:
        return "climbs out of the archive with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def _archive_members(archive: zipfile.ZipFile, file_name: str) -> list[zipfile.ZipInfo]:
    """The archive's regular files (junk such as __MACOSX left out), checked for safety and size."""
    members = []
    for info in archive.infolist():
        reason = _unsafe_reason(info)
        if reason:
            raise DataValidationError(f"entry '{info.filename}' {reason}; it is refused for safety. Zip the "
                                      "dataset folder itself (files with plain names).", file=file_name)
        if not info.is_dir() and not _JUNK.search(info.filename.replace("\\", "/")):
            members.append(info)
    if len(members) > MAX_ARCHIVE_FILES:
        raise DataValidationError(f"holds {len(members)} files, more than the {MAX_ARCHIVE_FILES} a dataset "
                                  "folder can have. Zip only the dataset folder.", file=file_name)
    total = sum(info.file_size for info in members)
    if total > MAX_ARCHIVE_BYTES:
        raise DataValidationError(f"unpacks to {_size_text(total)}, more than the {_size_text(MAX_ARCHIVE_BYTES)} "
                                  "limit. Keep the genes and samples you need, or upload the files one by "
                                  "one.", file=file_name)
    return members


def _folder_layout(members: list[zipfile.ZipInfo]) -> tuple[str, list[zipfile.ZipInfo], list[str]]:
    """``(top folder or '', files directly in it, paths of other files)``: files at the root or in one folder."""
    paths = [info.filename.replace("\\", "/") for info in members]
    tops = {p.split("/")[0] for p in paths}
    base = tops.pop() + "/" if len(tops) == 1 and all("/" in p for p in paths) else ""
    inside, other = [], []
    for info, path in zip(members, paths):
        rest = path[len(base):]
        if "/" in rest:
            other.append(path)
        else:
            inside.append(info)
    return base.rstrip("/"), inside, other


def dataset_from_zip(data: bytes, *, file_name: str = "dataset.zip", name: str | None = None,
                     **options) -> Dataset:
    """Validate a zipped dataset folder and build a :class:`Dataset`.

    The files may lie at the root of the archive or in one top folder, under the names of a dataset
    folder (``expression.csv`` ... ``truth.csv``, optionally ``.gz``). Other files are ignored with a warning.

    Parameters
    ----------
    data
        The archive's bytes.
    file_name
        The archive's name, used in messages. Default ``"dataset.zip"``.
    name
        Dataset name. Default: the archive's top folder, or its file name without ``.zip``.
    options
        See :func:`dataset_from_files`.

    Raises
    ------
    DataValidationError
        For an unreadable or unsafe archive, one without an expression matrix, or an invalid input.
    """
    file_name = PurePosixPath(file_name.replace("\\", "/")).name or "dataset.zip"
    if len(data) > MAX_ARCHIVE_BYTES:
        raise _too_large(file_name, MAX_ARCHIVE_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise DataValidationError("is not a valid zip archive. Zip the dataset folder again (or upload the "
                                  "files one by one).", file=file_name) from None
    with archive:
        members = _archive_members(archive, file_name)
        tenx = _tenx_members(members, file_name)
        top, inside, other = _folder_layout([m for m in members if m not in tenx])
        chosen: dict[str, zipfile.ZipInfo] = {}
        ignored = list(other)
        for info in inside:
            kind = kind_of(info.filename)
            if kind is None:
                ignored.append(info.filename)
            elif kind in chosen:
                raise DataValidationError(f"holds two {kind} files ('{chosen[kind].filename}' and "
                                          f"'{info.filename}'). Keep one.", file=file_name)
            else:
                chosen[kind] = info
        if tenx and "expression" in chosen:
            raise DataValidationError(f"holds two expression inputs, '{chosen['expression'].filename}' and a Cell "
                                      f"Ranger matrix folder ('{tenx[0].filename.rsplit('/', 1)[0]}/'). Keep one.",
                                      file=file_name)
        if "expression" not in chosen and not tenx:
            found = ", ".join(i.filename for i in members[:8]) or "nothing"
            raise _missing_expression(f"in {file_name} (found: {found}). Name it expression.csv (or .tsv, "
                                      ".csv.gz, .h5ad, .loom), or add Cell Ranger's filtered_feature_bc_matrix "
                                      "folder, at the root of the archive or in its one top folder")
        display = _display_names({kind: info.filename for kind, info in chosen.items()})
        dataset_name = name or top or re.sub(r"\.zip$", "", file_name, flags=re.IGNORECASE) or "dataset"
        with tempfile.TemporaryDirectory(prefix="mtlgrn-zip-") as tmp:
            folder = Path(tmp) / "upload"
            folder.mkdir()
            names = {_extract(archive, info, kind, display[kind], folder, file_name): display[kind]
                     for kind, info in chosen.items()}
            if tenx:
                names[TENX_FOLDER] = _extract_tenx(archive, tenx, folder, file_name)
            dataset = _load_folder(folder, names, name=dataset_name, **options)
    if ignored:
        shown = ", ".join(ignored[:8]) + (f" and {len(ignored) - 8} more" if len(ignored) > 8 else "")
        dataset.warnings.append(f"{file_name}: ignored {len(ignored)} file(s) that are not dataset inputs "
                                f"({shown}). Expected names: expression, network, tfs, samples, promoters, "
                                "annotations, truth (.csv, .tsv, .txt, .fa, .gz ...).")
    return dataset


def _tenx_members(members: list[zipfile.ZipInfo], file_name: str) -> list[zipfile.ZipInfo]:
    """The files of the archive's Cell Ranger matrix folder (the folder holding ``matrix.mtx.gz``), or ``[]``."""
    folders: dict[str, list[zipfile.ZipInfo]] = {}
    for info in members:
        parent, _slash, _base = info.filename.replace("\\", "/").rpartition("/")
        folders.setdefault(parent, []).append(info)
    matrix_names = TENX_PARTS["matrix"]
    found = [parent for parent, infos in folders.items()
             if any(PurePosixPath(i.filename).name in matrix_names for i in infos)]
    if len(found) > 1:
        raise DataValidationError(f"holds {len(found)} Cell Ranger matrix folders ({', '.join(sorted(found))}). "
                                  "Zip one dataset: one folder per upload.", file=file_name)
    if not found:
        return []
    parts = {name for names in TENX_PARTS.values() for name in names}
    return [i for i in folders[found[0]] if PurePosixPath(i.filename).name in parts]


def _extract_tenx(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], folder: Path, file_name: str) -> str:
    """Copy the Cell Ranger files as they are (scanpy reads them gzipped) into ``filtered_feature_bc_matrix/``;
    returns the folder's name as the user knows it."""
    target = folder / TENX_FOLDER
    target.mkdir()
    for info in members:
        with _unpacking(info, file_name), archive.open(info) as stream:
            _copy_bounded(stream, target / PurePosixPath(info.filename).name, MAX_FILE_BYTES, info.filename)
    parent = members[0].filename.replace("\\", "/").rpartition("/")[0]
    return PurePosixPath(parent).name or TENX_FOLDER


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str, display: str, folder: Path,
             file_name: str) -> str:
    """Write one archive member under its canonical name (sizes were checked; reading is bounded too)."""
    with _unpacking(info, file_name), archive.open(info) as stream:
        return _write_input(kind, display, stream, folder)


@contextmanager
def _unpacking(info: zipfile.ZipInfo, file_name: str):
    """A damaged archive member's error as a message (bad offsets give OSError or ValueError)."""
    try:
        yield
    except DataValidationError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, ValueError) as exc:
        raise DataValidationError(f"entry '{info.filename}' cannot be unpacked ({exc}). Zip the dataset folder "
                                  "again with ordinary (deflate) compression.", file=file_name) from None


# ----------------------------------------------------------------------------------------------------
# Demo, report, examples


def demo_name(n_genes: int, seed: int) -> str:
    return f"demo-{int(n_genes)}-seed{int(seed)}"


def demo_dataset(n_genes: int = 150, seed: int = 0) -> Dataset:
    """The built-in simulated dataset (all inputs, knockouts included), named ``demo-{n}-seed{seed}``."""
    if int(n_genes) != n_genes or not DEMO_MIN_GENES <= n_genes <= DEMO_MAX_GENES:
        raise DataValidationError(f"the demo size must be a whole number of genes from {DEMO_MIN_GENES} to "
                                  f"{DEMO_MAX_GENES}, got {n_genes}.")
    if int(seed) != seed or seed < 0:
        raise DataValidationError(f"the demo seed must be a whole number of at least 0, got {seed}.")
    return simulate(int(n_genes), seed=int(seed), name=demo_name(n_genes, seed))


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)" if whole else "—"


def validation_report(dataset: Dataset) -> pd.DataFrame:
    """One row per input: given or not, what was read, and how many expression genes it covers.

    Columns: ``input`` (label and file name in a dataset folder), ``given`` (yes/no), ``content`` and
    ``genes matched`` (expression genes the input names, of all expression genes).
    """
    n = dataset.n_genes
    prior_genes = set(dataset.prior["source"]) | set(dataset.prior["target"])
    rows = [("expression", True, f"{n} genes x {len(dataset.samples)} samples"
             + (" (log1p applied)" if dataset.log_transformed else ""), f"{n} (the gene index)")]
    rows.append(("network", len(dataset.prior) > 0, f"{len(dataset.prior)} known edges, "
                 f"{dataset.prior['source'].nunique()} regulators", _share(len(prior_genes), n)))
    given = dataset.regulator_rule == "tfs" and dataset.tfs != dataset.genes
    rows.append(("tfs", given, f"{len(dataset.tfs)} candidate regulators" if given else
                 "not given: " + ("the prior's regulators are the candidates" if dataset.regulator_rule == "prior"
                                  else "every gene is a candidate regulator"),
                 _share(len(dataset.tfs), n)))
    sheet = dataset.sample_sheet
    rows.append(("samples", sheet is not None, "—" if sheet is None else
                 f"{len(sheet)} of {len(dataset.samples)} samples described: {len(dataset.perturbations())} "
                 f"perturbed, {dataset.control_samples().size} controls",
                 "—" if sheet is None else
                 _share(len({g for p in dataset.perturbations() for g in p.genes}), n) + " perturbed"))
    promoters = dataset.promoters
    rows.append(("promoters", promoters is not None, "—" if promoters is None else
                 f"{len(promoters)} sequences", "—" if promoters is None else _share(len(promoters), n)))
    ann = dataset.annotations
    rows.append(("annotations", ann is not None, "—" if ann is None else f"{ann.shape[1]} feature columns",
                 "—" if ann is None else _share(int(ann.notna().any(axis=1).sum()), n)))
    truth = dataset.truth
    truth_genes = set() if truth is None else set(truth["source"]) | set(truth["target"])
    rows.append(("truth", truth is not None, "—" if truth is None else f"{len(truth)} true edges",
                 "—" if truth is None else _share(len(truth_genes), n)))
    table = pd.DataFrame(rows, columns=["input", "given", "content", "genes matched"])
    table["input"] = [f"{INPUTS[kind].label} ({INPUTS[kind].canonical})" for kind in table["input"]]
    table["given"] = table["given"].map({True: "yes", False: "no"})
    return table


def preview_tables(dataset: Dataset, rows: int = 20, columns: int = 10) -> dict[str, pd.DataFrame]:
    """The first rows of each input that was given, keyed by a plain title."""
    out = {"Expression": pd.DataFrame(dataset.expression[:rows, :columns],
                                      index=pd.Index(dataset.genes[:rows], name="gene"),
                                      columns=list(dataset.samples[:columns]))}
    sign_text = {1: "+ (activation)", -1: "- (repression)", 0: "unknown"}
    if len(dataset.prior):
        out["Known network"] = dataset.prior.head(rows).assign(sign=lambda t: t["sign"].map(sign_text))
    if dataset.tfs != dataset.genes:
        out["Transcription factors"] = pd.DataFrame({"transcription factor": list(dataset.tfs[:rows])})
    if dataset.sample_sheet is not None:
        out["Sample sheet"] = dataset.sample_sheet.head(rows)
    if dataset.sample_info is not None:
        out["Samples"] = dataset.sample_info.head(rows).reset_index()
    if dataset.promoters:
        items = list(dataset.promoters.items())[:rows]
        out["Promoters"] = pd.DataFrame({
            "gene": [g for g, _s in items], "length (bp)": [len(s) for _g, s in items],
            "GC (%)": [round(100 * (s.count("G") + s.count("C")) / max(len(s), 1), 1) for _g, s in items],
            "start of the sequence": [s[:40] for _g, s in items]})
    if dataset.annotations is not None:
        out["Annotations"] = dataset.annotations.head(rows)
    if dataset.truth is not None:
        out["Ground truth"] = dataset.truth.head(rows).assign(sign=lambda t: t["sign"].map(sign_text))
    return out


def example_file(kind: str) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the small example of one input (from ``assets/examples``)."""
    _check_kinds([kind])
    path = EXAMPLES_DIR / INPUTS[kind].canonical
    return path.name, path.read_bytes()


def example_zip() -> bytes:
    """The example dataset folder as a zip (files inside one top folder ``example``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind in KINDS:
            name, content = example_file(kind)
            archive.writestr(f"example/{name}", content)
    return buffer.getvalue()
