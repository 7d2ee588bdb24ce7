"""Uploads into a Dataset (mtlgrn_core/inputs/upload.py) and the data figures (mtlgrn_core/viz/data.py).

Every test starts from the small example files of ``assets/examples`` (the files offered for download on the
Data page) and breaks one thing.
"""

from __future__ import annotations

import gzip
import io
import stat
import zipfile

import numpy as np
import plotly.graph_objects as go
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs import upload
from mtlgrn_core.inputs.data import load_dataset
from mtlgrn_core.inputs.upload import (
    EXAMPLES_DIR,
    INPUTS,
    KINDS,
    dataset_from_files,
    dataset_from_zip,
    demo_dataset,
    example_file,
    example_zip,
    kind_of,
    preview_tables,
    validation_report,
)
from mtlgrn_core.viz import data as viz
from mtlgrn_core.viz.export import chromium_path, figure_bytes

OPTIONAL = [k for k in KINDS if k != "expression"]


@pytest.fixture(scope="module")
def reference():
    return load_dataset(EXAMPLES_DIR)


def example_files(**renamed: str) -> dict[str, tuple[str, bytes]]:
    """Every example input as an upload; ``renamed`` gives some of them another (user) file name."""
    files = {kind: example_file(kind) for kind in KINDS}
    return {kind: (renamed.get(kind, name), content) for kind, (name, content) in files.items()}


def make_zip(entries: dict[str, bytes], *, links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def folder_entries(prefix: str = "") -> dict[str, bytes]:
    return {prefix + name: content for name, content in (example_file(k) for k in KINDS)}


# ----------------------------------------------------------------------------------------------------
# Files uploaded one by one


def test_every_input_uploaded_gives_the_same_dataset_as_the_folder(reference):
    dataset = dataset_from_files(example_files(expression="my counts.csv"))
    assert dataset.summary() == reference.summary()
    assert dataset.genes == reference.genes
    np.testing.assert_array_equal(dataset.expression, reference.expression)
    assert dataset.name == "my counts"
    assert dataset.warnings == []


@pytest.mark.parametrize("missing", OPTIONAL)
def test_each_optional_input_may_be_missing(missing, reference):
    files = example_files()
    del files[missing]
    dataset = dataset_from_files(files, name="partial")
    summary = dataset.summary()
    assert summary["genes"] == reference.n_genes and dataset.name == "partial"
    # without a TF list the candidate regulators are the prior's regulators
    prior_regulators = tuple(sorted(set(reference.prior["source"])))
    absent = {"network": summary["prior_edges"] == 0,
              "tfs": dataset.tfs == prior_regulators and summary["regulators"] == "prior",
              "samples": dataset.sample_sheet is None, "promoters": dataset.promoters is None,
              "annotations": dataset.annotations is None, "truth": dataset.truth is None}
    assert absent[missing]


def test_the_expression_matrix_is_required():
    files = example_files()
    del files["expression"]
    with pytest.raises(DataValidationError, match="No expression matrix has reached the server. If you chose one "
                                                  "and its box still shows it uploading, wait"):
        dataset_from_files(files)  # an upload still arriving looks the same to the page: the message says so


def test_errors_name_the_users_file_and_line():
    bad = b"gene,s1,s2\nA,1,2\nB,1,oops\n"
    with pytest.raises(DataValidationError) as caught:
        dataset_from_files({"expression": ("lab_counts.tsv", bad)})
    assert str(caught.value).startswith("lab_counts.tsv, line 3: cell 'oops'")
    assert caught.value.file == "lab_counts.tsv" and caught.value.line == 3
    assert "expression.tsv" not in str(caught.value)


def test_errors_of_optional_inputs_name_the_users_file():
    files = example_files(network="regulons.csv")
    files["network"] = ("regulons.csv", b"source,target\nX1,X2\nX3,X4\n")
    with pytest.raises(DataValidationError) as caught:
        dataset_from_files(files)
    assert caught.value.file == "regulons.csv" and "network.csv" not in str(caught.value)


def test_warnings_name_the_users_file():
    name, content = example_file("tfs")
    files = example_files()
    files["tfs"] = ("my_tfs.txt", content + b"NOT_A_GENE\n")
    dataset = dataset_from_files(files)
    assert any(w.startswith("my_tfs.txt:") and "NOT_A_GENE" in w for w in dataset.warnings)


def test_two_inputs_with_the_same_name_are_told_apart():
    files = example_files(network="edges.csv", truth="edges.csv")
    files["truth"] = ("edges.csv", b"source,target\nX1,X2\nX3,X4\n")
    with pytest.raises(DataValidationError) as caught:
        dataset_from_files(files)
    assert caught.value.file == "edges.csv (truth)"


def test_canonical_names_are_replaced_once():
    names = {"network.csv": "truth.csv", "truth.csv": "network.csv"}
    assert upload._rename("network.csv and truth.csv", names) == "truth.csv and network.csv"


def test_gzipped_uploads_are_read(reference):
    files = example_files()
    for kind in ("expression", "network"):
        name, content = files[kind]
        files[kind] = (name + ".gz", gzip.compress(content))
    assert dataset_from_files(files).summary() == reference.summary()


def test_a_broken_gzip_is_named():
    with pytest.raises(DataValidationError, match=r"^counts\.csv\.gz: is not a valid gzip file"):
        dataset_from_files({"expression": ("counts.csv.gz", b"\x1f\x8b" + b"garbage" * 10)})


def test_a_binary_file_is_refused_with_its_name():
    with pytest.raises(DataValidationError, match=r"^sheet\.xlsx: looks like a binary file"):
        dataset_from_files({"expression": ("sheet.xlsx", b"PK\x03\x04\x00\x00" + bytes(100))})


def test_files_over_the_size_limit_are_refused(monkeypatch):
    monkeypatch.setattr(upload, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DataValidationError, match=r"^expression\.csv: is larger than"):
        dataset_from_files(example_files())
    files = example_files()
    small = b"gene,a,b\nG1,1,2\nG2,3,4\n"
    files = {"expression": ("e.csv", small), "network": ("n.csv.gz", gzip.compress(b"a,b\n" * 2000))}
    with pytest.raises(DataValidationError, match=r"^n\.csv\.gz: is larger than"):  # the limit holds unpacked
        dataset_from_files(files)


def test_an_upload_is_read_from_its_stream_as_from_its_bytes(monkeypatch):
    """The page hands its uploads over as files (no second copy of a large file in memory): the same dataset as from
    their bytes, and the size limit holds for a stream too."""
    import io

    from_bytes = dataset_from_files(example_files())
    streams = {kind: (name, io.BytesIO(content)) for kind, (name, content) in example_files().items()}
    streams["expression"][1].read(5)  # a stream already read from is read from its start
    from_streams = dataset_from_files(streams)
    assert from_streams.genes == from_bytes.genes and from_streams.samples == from_bytes.samples
    np.testing.assert_array_equal(from_streams.expression, from_bytes.expression)
    monkeypatch.setattr(upload, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DataValidationError, match=r"^expression\.csv: is larger than"):
        dataset_from_files({kind: (name, io.BytesIO(content)) for kind, (name, content) in example_files().items()})


def test_unknown_kinds_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown input kind"):
        dataset_from_files({"expression": example_file("expression"), "movies": ("m.csv", b"x")})


# ----------------------------------------------------------------------------------------------------
# Zip archives


def test_a_zip_with_files_at_the_root(reference):
    dataset = dataset_from_zip(make_zip(folder_entries()), file_name="my_experiment.zip")
    assert dataset.summary() == reference.summary()
    assert dataset.name == "my_experiment" and dataset.warnings == []


def test_a_zip_of_one_folder_with_junk(reference):
    entries = folder_entries("exp1/")
    entries.update({"__MACOSX/exp1/._expression.csv": b"junk", "exp1/.DS_Store": b"junk"})
    dataset = dataset_from_zip(make_zip(entries), file_name="download.zip")
    assert dataset.summary() == reference.summary()
    assert dataset.name == "exp1" and dataset.warnings == []


def test_example_zip_loads(reference):
    assert dataset_from_zip(example_zip()).summary() == reference.summary()


def test_unexpected_files_are_ignored_with_a_warning(reference):
    entries = folder_entries("exp1/")
    entries.update({"exp1/README.md": b"notes", "exp1/old/expression.csv": b"x"})
    dataset = dataset_from_zip(make_zip(entries), file_name="d.zip")
    assert dataset.summary() == reference.summary()
    (warning,) = dataset.warnings
    assert warning.startswith("d.zip: ignored 2 file(s)") and "exp1/README.md" in warning


@pytest.mark.parametrize("evil", ["../evil.csv", "exp/../../evil.csv", "/etc/evil.csv", "C:/evil.csv"])
def test_paths_leaving_the_archive_are_refused(evil):
    entries = folder_entries()
    entries[evil] = b"x"
    with pytest.raises(DataValidationError, match="refused for safety"):
        dataset_from_zip(make_zip(entries), file_name="evil.zip")


def test_links_are_refused():
    with pytest.raises(DataValidationError, match="symbolic link"):
        dataset_from_zip(make_zip(folder_entries(), links=("network.csv.lnk",)))


def test_too_many_or_too_large_archives_are_refused(monkeypatch):
    entries = folder_entries()
    entries.update({f"extra/{i}.txt": b"x" for i in range(upload.MAX_ARCHIVE_FILES)})
    with pytest.raises(DataValidationError, match="more than the 50"):
        dataset_from_zip(make_zip(entries))
    monkeypatch.setattr(upload, "MAX_ARCHIVE_BYTES", 5000)
    with pytest.raises(DataValidationError, match="unpacks to"):
        dataset_from_zip(make_zip(folder_entries()))


def test_a_zip_without_expression_lists_what_it_found():
    with pytest.raises(DataValidationError, match=r"No expression matrix in data\.zip \(found: counts\.csv"):
        dataset_from_zip(make_zip({"counts.csv": b"gene,a\nG1,1\n"}), file_name="data.zip")


def test_two_expression_files_in_a_zip_are_refused():
    entries = folder_entries()
    entries["expression.tsv"] = entries["expression.csv"]
    with pytest.raises(DataValidationError, match="two expression files"):
        dataset_from_zip(make_zip(entries))


def test_not_a_zip_and_errors_inside_a_zip_are_named():
    with pytest.raises(DataValidationError, match=r"^notes\.zip: is not a valid zip archive"):
        dataset_from_zip(b"plain text", file_name="notes.zip")
    entries = folder_entries("exp1/")
    entries["exp1/expression.csv"] = b"gene,s1,s2\nA,1,2\nB,1,oops\n"
    with pytest.raises(DataValidationError, match=r"^expression\.csv, line 3: cell 'oops'"):
        dataset_from_zip(make_zip(entries))


@pytest.mark.parametrize("name, kind", [("expression.csv", "expression"), ("dir/network.tsv.gz", "network"),
                                        ("promoters.fasta", "promoters"), ("README.md", None),
                                        ("tfs.docx", None), ("counts.csv", None)])
def test_kind_of(name, kind):
    assert kind_of(name) == kind


# ----------------------------------------------------------------------------------------------------
# Demo, report, previews, examples


def test_demo_dataset_is_named_and_reproducible():
    first, again = demo_dataset(20, 3), demo_dataset(20, 3)
    assert first.name == "demo-20-seed3" and first.n_genes == 20
    np.testing.assert_array_equal(first.expression, again.expression)
    with pytest.raises(DataValidationError, match="demo size"):
        demo_dataset(3, 0)


def test_a_demo_network_that_cannot_be_simulated_is_a_clear_message(monkeypatch):
    from mtlgrn_core.inputs.simulate import GeneNetwork

    def no_steady_state(*args, **kwargs):
        raise RuntimeError("steady state not reached for 1 sample(s).")

    monkeypatch.setattr(GeneNetwork, "steady_states", no_steady_state)
    with pytest.raises(DataValidationError, match="seed 7 cannot be simulated: steady state .* Pick another seed"):
        demo_dataset(150, 7)


def test_validation_report_and_previews(reference):
    report = validation_report(reference)
    assert list(report.columns) == ["input", "given", "content", "genes matched"]
    assert len(report) == len(INPUTS) and set(report["given"]) == {"yes"}
    assert report["genes matched"].iloc[4] == f"{reference.n_genes} of {reference.n_genes} (100 %)"
    previews = preview_tables(reference, rows=5)
    assert list(previews) == ["Expression", "Known network", "Transcription factors", "Sample sheet",
                              "Promoters", "Annotations", "Ground truth"]
    assert previews["Expression"].shape == (5, 10)
    bare = dataset_from_files({"expression": example_file("expression")})
    assert list(preview_tables(bare)) == ["Expression"]
    assert list(validation_report(bare)["given"]) == ["yes"] + ["no"] * 6
    with_prior = dataset_from_files({"expression": example_file("expression"), "network": example_file("network")})
    tf_row = validation_report(with_prior).iloc[2]
    assert tf_row["given"] == "no" and tf_row["content"] == "not given: the prior's regulators are the candidates"


def test_every_example_file_exists_with_help():
    for kind, spec in INPUTS.items():
        name, content = example_file(kind)
        assert name == spec.canonical and content and spec.help


# ----------------------------------------------------------------------------------------------------
# Figures


def test_sample_kinds(reference):
    kinds = viz.sample_kinds(reference)
    assert kinds[:3] == ["control"] * 3
    assert set(kinds) == {"control", "knockout", "knockdown", "other"}
    assert kinds[reference.samples.index("kd_G003")] == "knockdown"


def test_figures_are_plotly_figures_with_one_trace_per_kind(reference):
    for _title, builder in viz.FIGURES.values():
        assert isinstance(builder(reference), go.Figure)
    pca = viz.pca_figure(reference)
    assert {t.name for t in pca.data} == {"control", "knockout", "knockdown", "other"}
    assert sum(len(t.x) for t in pca.data) == len(reference.samples)
    coords, ratio = viz.pca_coordinates(reference)
    assert coords.shape == (len(reference.samples), 2) and 0 < ratio[1] <= ratio[0] <= 1
    degree = viz.degree_figure(reference)
    assert degree.layout.xaxis.type == "log" and degree.layout.yaxis.type == "log"
    values, counts = viz.degree_counts(reference.prior, "source")
    assert counts @ values == len(reference.prior)


def test_figures_of_a_bare_dataset():
    bare = dataset_from_files({"expression": ("e.csv", b"gene,a,b\nG1,1,2\nG2,3,5\n")})
    assert len(viz.degree_figure(bare).data) == 0  # "no known network" message instead
    assert viz.pca_figure(bare).data[0].name == "other"
    assert len(viz.expression_distribution_figure(bare).data) == 2


def test_names_are_escaped_in_figures():
    evil = "<img src=x onerror=alert(1)>"
    dataset = dataset_from_files({"expression": ("e.csv", f"gene,{evil},b\nG1,1,2\nG2,3,5\n".encode())})
    for _title, builder in viz.FIGURES.values():
        assert "<img" not in builder(dataset).to_json()


@pytest.mark.skipif(chromium_path() is None, reason="static export needs Chromium")
def test_a_data_figure_exports_as_svg(reference):
    svg = figure_bytes(viz.pca_figure(reference), "svg")
    assert svg.lstrip().startswith(b"<svg") and b"PC1" in svg
