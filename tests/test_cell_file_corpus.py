"""Single-cell files as the field writes them (tests/cell_file_corpus.py): the Data page's path (describe the
upload, then load it with the options it preselects) and the command line's (load the dataset folder, train)
accept the same files with the same genes, and refuse the same malformed ones with the same message, naming
the file and the fix. The page itself is driven through each of them in tests/ui/test_data_page.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cell_file_corpus import MALFORMED, READABLE, SCANPY_PBMC, CorpusFile, zipped

from mtlgrn_core.cli import main
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import describe_cells
from mtlgrn_core.inputs.data import load_dataset
from mtlgrn_core.inputs.single_cell import CellOptions
from mtlgrn_core.inputs.upload import dataset_from_files, dataset_from_zip

CORPUS = [pytest.param(e, id=e.name, marks=pytest.mark.skipif(
    e.name.startswith("scanpy") and not SCANPY_PBMC.is_file(), reason=f"scanpy ships no {SCANPY_PBMC.name} here"))
    for e in READABLE + MALFORMED]


def through_the_page(folder: Path, file: Path):
    """What the Data page does: a single file is described, then uploaded with the matrix it preselects; a
    Cell Ranger folder goes up as a zip of the dataset folder."""
    if file.is_dir():
        return dataset_from_zip(zipped(folder), file_name=f"{folder.name}.zip")
    layout = describe_cells(io.BytesIO(file.read_bytes()), name=file.name)
    files = {"expression": (file.name, file.read_bytes()),
             "network": ("network.csv", (folder / "network.csv").read_bytes())}
    return dataset_from_files(files, cells=CellOptions(layer=layout.default_matrix()[0]))


def outcome(load) -> tuple[str, object]:
    try:
        return "loaded", load()
    except DataValidationError as exc:
        return "refused", exc


@pytest.mark.parametrize("entry", CORPUS)
def test_the_page_and_the_command_line_accept_and_refuse_the_same_files(entry: CorpusFile, tmp_path):
    folder, file = entry.dataset_folder(tmp_path)
    page, by_page = outcome(lambda: through_the_page(folder, file))
    cli, by_cli = outcome(lambda: load_dataset(folder))
    assert page == cli == ("refused" if entry.refusal else "loaded")
    if entry.refusal:
        assert entry.refusal in str(by_page) and entry.refusal in str(by_cli)
        assert by_cli.file.rstrip("/") == file.name and file.name in str(by_page)  # named, as the user knows it
        return
    assert by_page.genes == by_cli.genes and list(by_page.samples) == list(by_cli.samples)
    assert set(entry.genes) <= set(by_cli.genes)  # the gene names the prior uses, not ids or numbers
    assert len(by_cli.prior) >= len(entry.genes)  # so the prior's edges were matched


@pytest.mark.parametrize("entry", [e for e in CORPUS if not e.values[0].refusal])
def test_every_readable_file_trains_from_the_command_line(entry: CorpusFile, tmp_path, capsys):
    folder, _file = entry.dataset_folder(tmp_path)
    args = ["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert main(args + (["--max-samples", "100"] if entry.name.startswith("scanpy") else [])) in (None, 0)
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "run" / "weights.pt").is_file()


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.values[0].refusal])
def test_a_malformed_file_is_refused_by_train_with_its_fix(entry: CorpusFile, tmp_path, capsys):
    folder, file = entry.dataset_folder(tmp_path)
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert entry.refusal in err and file.name in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def by_name(name: str) -> CorpusFile:
    return next(e for e in READABLE if e.name == name)


@pytest.mark.parametrize("name", ["compound_pre07", "categories_v07", "csr_counts", "loom_from_loompy"])
def test_old_and_new_categorical_encodings_give_the_cell_types(name, tmp_path):
    folder, _file = by_name(name).dataset_folder(tmp_path)
    dataset = load_dataset(folder, cells=CellOptions(group_column="cell_type"))
    assert set(dataset.sample_info["cell_type"]) == {"B cell", "T cell"}  # decoded, not the codes 0 / 1


@pytest.mark.parametrize("name", ["csr_counts", "csc_float64", "integer_counts", "loom_from_anndata",
                                  "tenx_v3_folder", "tenx_v2_folder", "tenx_h5"])
def test_every_storage_of_the_same_counts_gives_the_same_matrix(name, tmp_path):
    reference = load_dataset(by_name("csr_counts").dataset_folder(tmp_path / "reference")[0])
    folder, _file = by_name(name).dataset_folder(tmp_path)
    dataset = load_dataset(folder)
    assert dataset.genes == reference.genes
    assert abs(dataset.expression - reference.expression).max() < 1e-4  # normalised and log-transformed alike


def test_repeated_var_names_are_made_unique_with_a_note(tmp_path):
    folder, _file = by_name("repeated_var_names").dataset_folder(tmp_path)
    dataset = load_dataset(folder)
    assert {"Gene20-1", "Gene21-1"} <= set(dataset.genes)
    assert any("2 names appear more than once" in w for w in dataset.warnings)


def test_a_scaled_x_is_read_from_raw_with_the_reason(tmp_path):
    folder, file = by_name("scaled_with_raw").dataset_folder(tmp_path)
    assert describe_cells(file).default_matrix()[0] == "raw"
    dataset = load_dataset(folder)
    assert dataset.expression.min() >= 0  # log-normalised, not z-scores
    assert any("X holds negative values" in w for w in dataset.warnings)


def test_a_zip_with_a_cell_ranger_folder_and_an_expression_file_is_refused(tmp_path):
    folder, _file = by_name("tenx_v3_folder").dataset_folder(tmp_path)
    (folder / "expression.csv").write_text("gene,s1\nGene00,1\n")
    with pytest.raises(DataValidationError, match="two expression inputs"):
        dataset_from_zip(zipped(folder), file_name="lab.zip")
