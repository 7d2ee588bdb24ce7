"""The malformed-input corpus (tests/malformed/cases.toml) through every entry point that reads user data.

Each case is a small dataset folder with one thing wrong. It goes through ``load_dataset`` on the folder,
the Data page's uploads (``dataset_from_files`` with the user's own file names, ``dataset_from_zip``) and
``mtlgrn train --data``, as its ``entries`` say. An error must be a
:class:`~mtlgrn_core.errors.DataValidationError` whose message names the file, the line or gene, and what to
do; a warning by design (self-loops dropped, gene names that differ only in case) must come back in
``Dataset.warnings`` with the same parts.
"""

from __future__ import annotations

import io
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest

from mtlgrn_core import cli
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs import upload
from mtlgrn_core.inputs.data import Dataset, load_dataset

CORPUS = Path(__file__).resolve().parent / "malformed"
CASES = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]
BY_ID = {case["id"]: case for case in CASES}
ENTRIES = ("folder", "files", "zip", "cli")
UPLOAD_PREFIX = "my_"  # uploads get another name than the canonical one: messages must use the user's
CATEGORIES = {  # the bad-input list of the robustness issue: every item has at least one case
    "wrong delimiter", "byte order mark", "comma decimals", "duplicated names", "case or version variants",
    "NaN / inf / empty cells", "negative values with log transform", "non-numeric columns", "single sample",
    "empty file", "binary file", "network genes absent", "self-loops", "sample sheet", "FASTA", "zip",
    "size limit",
}


def case_params():
    return [pytest.param(case["id"], entry, id=f"{case['id']}-{entry}") for case in CASES
            for entry in case["entries"]]


# ----------------------------------------------------------------------------------------------------
# The corpus itself


def test_the_corpus_covers_every_category_and_every_folder_is_used():
    assert {case["category"] for case in CASES} == CATEGORIES
    assert len(BY_ID) == len(CASES), "case ids repeat"
    used = {case["id"] for case in CASES}
    used |= {Path(member).parts[0] for case in CASES for member in case.get("zip", {}).values()}
    used |= {Path(case["raw"]).parts[0] for case in CASES if "raw" in case}
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders <= used, f"folders no case uses: {sorted(folders - used)}"


def test_every_case_is_complete_and_every_corpus_file_small():
    for case in CASES:
        assert set(case["entries"]) <= set(ENTRIES), case["id"]
        assert case["expect"] in ("error", "warning", "ok"), case["id"]
        if case["expect"] != "ok":
            assert case.get("fix"), f"{case['id']}: an error or warning must say what to do"
        if "zip" not in case and "raw" not in case:
            assert (CORPUS / case["id"]).is_dir(), case["id"]
    for path in CORPUS.glob("*/*"):
        assert path.stat().st_size < 10_000, path


# ----------------------------------------------------------------------------------------------------
# Building the inputs of a case


def case_folder(case: dict, tmp_path: Path) -> Path:
    """A copy of the case's folder; the base expression matrix is added when the case has none."""
    folder = tmp_path / case["id"]
    shutil.copytree(CORPUS / case["id"], folder)
    if not any(p.name.startswith("expression.") for p in folder.iterdir()):
        shutil.copy(CORPUS / "_base" / "expression.csv", folder)
    return folder


def case_zip(case: dict, tmp_path: Path) -> bytes:
    """The archive of a case: its listed members, its raw bytes, or its folder inside one top folder."""
    if "raw" in case:
        return (CORPUS / case["raw"]).read_bytes()
    if "zip" in case:
        members = {name: (CORPUS / source).read_bytes() for name, source in case["zip"].items()}
    else:
        folder = case_folder(case, tmp_path)
        members = {f"{case['id']}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def case_uploads(case: dict, tmp_path: Path) -> dict[str, tuple[str, bytes]]:
    """The case's files as the Data page uploads them, each under the user's own name."""
    folder = case_folder(case, tmp_path)
    return {upload.kind_of(p.name): (UPLOAD_PREFIX + p.name, p.read_bytes()) for p in sorted(folder.iterdir())}


def run_entry(case: dict, entry: str, tmp_path: Path, capsys) -> Dataset | str:
    """The Dataset the entry point returns, or the CLI's stderr (raises what the entry point raises)."""
    log = case.get("log_transform", "auto")
    if entry == "folder":
        return load_dataset(case_folder(case, tmp_path), log_transform=log)
    if entry == "files":
        return upload.dataset_from_files(case_uploads(case, tmp_path), log_transform=log)
    if entry == "zip":
        return upload.dataset_from_zip(case_zip(case, tmp_path), file_name="upload.zip", log_transform=log)
    status = cli.main(["train", "--data", str(case_folder(case, tmp_path)), "--out", str(tmp_path / "run")])
    assert status == cli.EXIT_BAD_INPUT, f"exit status {status}"
    return capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------
# Checks


def expected_file(case: dict, entry: str) -> str | None:
    file = case.get("file")
    if file is not None and entry == "files" and file != "upload.zip":
        return UPLOAD_PREFIX + file
    return file


def check_message(message: str, case: dict, file: str | None) -> None:
    """The message names the file (first), the line, the gene, and holds the fix and the other fragments."""
    if file is not None:
        assert message.startswith(file + ":") or message.startswith(file + ", line"), message
    if "line" in case:
        assert f"{file}, line {case['line']}:" in message, message
    if "gene" in case:
        assert f"'{case['gene']}'" in message, message
    for fragment in [case["fix"], *case.get("fragments", [])] if "fix" in case else case.get("fragments", []):
        assert fragment in message, f"{fragment!r} not in {message!r}"


def check_dataset(ds: Dataset, case: dict) -> None:
    assert isinstance(ds, Dataset)
    if "genes" in case:
        assert list(ds.genes) == case["genes"]
    if "samples" in case:
        assert list(ds.samples) == case["samples"]
    if "prior_edges" in case:
        assert len(ds.prior) == case["prior_edges"]
    if "no_warning" in case:
        assert not [w for w in ds.warnings if case["no_warning"] in w], ds.warnings


@pytest.mark.parametrize("case_id, entry", case_params())
def test_malformed_input(case_id, entry, tmp_path, monkeypatch, capsys):
    case = BY_ID[case_id]
    for name, key in (("MAX_FILE_BYTES", "limit"), ("MAX_ARCHIVE_BYTES", "limit"),
                      ("MAX_ARCHIVE_BYTES", "archive_limit")):
        if key in case:
            monkeypatch.setattr(upload, name, case[key])
    file = expected_file(case, entry)
    if case["expect"] == "error" and entry == "cli":
        stderr = run_entry(case, entry, tmp_path, capsys)
        assert stderr.startswith("error: "), stderr
        check_message(stderr.removeprefix("error: ").strip(), case, file)
    elif case["expect"] == "error":
        with pytest.raises(DataValidationError) as caught:
            run_entry(case, entry, tmp_path, capsys)
        err = caught.value
        check_message(str(err), case, file)
        assert err.file == file
        assert err.line == case.get("line")
    else:
        ds = run_entry(case, entry, tmp_path, capsys)
        check_dataset(ds, case)
        if case["expect"] == "warning":
            relevant = [w for w in ds.warnings if w.startswith(file + ":")]
            assert relevant, ds.warnings
            errors = []
            for warning in relevant:
                try:
                    check_message(warning, case, file)
                    break
                except AssertionError as exc:
                    errors.append(str(exc))
            else:
                pytest.fail("no warning holds the expected text: " + "; ".join(errors))


# ----------------------------------------------------------------------------------------------------
# Names that differ only in case or version suffix are never merged


@pytest.mark.parametrize("case_id", ["case_variant_genes", "version_variant_genes"])
def test_near_duplicate_genes_keep_their_own_rows(case_id, tmp_path):
    folder = case_folder(BY_ID[case_id], tmp_path)
    ds = load_dataset(folder, log_transform=False)
    rows = {line.split(",")[0]: [float(v) for v in line.split(",")[1:]]
            for line in (folder / "expression.csv").read_text().splitlines()[1:]}
    assert set(ds.genes) == set(rows)
    for gene, values in rows.items():
        assert list(ds.expression[ds.gene_index[gene]]) == pytest.approx(values)
