"""The Data page through AppTest, and the load helper that keeps the current dataset when a load fails.

The upload path itself is tested in tests/test_upload.py; here the page's "keep what was loaded on failure"
logic is run through :func:`mtlgrn_ui.data_loading.load_and_select` (and through the page's own uploaders in
tests/ui/test_escaping_pages.py).
"""

import importlib.util
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mtlgrn_core.inputs.simulate import simulate

from .conftest import page
from .hostile import unescaped


def test_page_without_data_shows_the_loaders(home):
    app = page("1_Data.py").run()
    assert not app.exception
    assert any("No data loaded" in i.value for i in app.info)
    for key in ("load_files", "load_zip", "load_demo"):
        assert app.button(key=key)
    assert app.text_input(key="upload_name") and app.selectbox(key="upload_log") and app.selectbox(key="zip_log")
    assert app.number_input(key="demo_genes").value == 150
    downloads = {b.proto.id.split("-")[-1] for b in app.get("download_button")}
    assert {f"example_{k}" for k in ("expression", "network", "tfs", "samples", "promoters", "annotations",
                                     "truth")} <= downloads and "example_zip" in downloads
    assert len(app.get("file_uploader")) == 8  # seven inputs and the zip


def test_demo_button_loads_selects_and_reports(home):
    app = page("1_Data.py").run()
    app.number_input(key="demo_genes").set_value(30)
    app.number_input(key="demo_seed").set_value(2)
    app.button(key="load_demo").click().run()
    assert not app.exception and not app.error
    (entry,) = home.datasets()
    assert entry.name == "demo-30-seed2" and app.session_state["dataset_id"] == entry.id
    assert any("Loaded" in s.value for s in app.success)
    (report,) = [t.value for t in app.table if "genes matched" in t.value.columns]
    assert len(report) == 7 and set(report["given"]) == {"yes"}
    assert len(app.get("plotly_chart")) == 3
    app.button(key="load_demo").click().run()  # the same demo again is re-selected, not saved twice
    assert len(home.datasets()) == 1 and app.session_state["dataset_id"] == entry.id


def test_saved_datasets_can_be_selected_again(home):
    first = home.save_dataset(simulate(20, seed=0), "first")
    second = home.save_dataset(simulate(20, seed=1), "second <b>bold</b>")
    app = page("1_Data.py", dataset_id=first).run()
    assert not app.exception
    assert app.selectbox(key="saved_choice").value == first
    app.selectbox(key="saved_choice").set_value(second)
    app.button(key="use_dataset").click().run()
    assert not app.exception
    assert app.session_state["dataset_id"] == second
    assert "\\<b\\>bold\\<" in app.header[0].value  # a name from the user shows as text


def _load_bad_file():
    from mtlgrn_core.inputs.upload import dataset_from_files
    from mtlgrn_ui.data_loading import load_and_select

    bad = {"expression": ("lab_counts.csv", b"gene,s1,s2\nA,1,2\nB,1,oops\n")}
    result = load_and_select("Loading the uploaded files", lambda: dataset_from_files(bad))
    import streamlit as st

    st.write(f"result: {result}")


def _load_good_file():
    from mtlgrn_core.inputs.upload import dataset_from_files
    from mtlgrn_ui.data_loading import load_and_select

    good = {"expression": ("lab_counts.csv", b"gene,s1,s2\nA,1,2\nB,1,3\n")}
    load_and_select("Loading the uploaded files", lambda: dataset_from_files(good))


def test_a_failed_load_shows_the_error_and_keeps_the_previous_dataset(home):
    previous = home.save_dataset(simulate(20, seed=0), "previous")
    app = AppTest.from_function(_load_bad_file, default_timeout=30)
    app.session_state["dataset_id"] = previous
    app.run()
    assert not app.exception
    (error,) = app.error
    assert unescaped(error.value).startswith("lab_counts.csv, line 3: cell 'oops'")  # shown as text (escaped)
    assert app.session_state["dataset_id"] == previous
    assert [e.id for e in home.datasets()] == [previous]
    assert app.markdown[0].value == "result: None"


def test_a_successful_load_is_saved_and_selected(home):
    previous = home.save_dataset(simulate(20, seed=0), "previous")
    app = AppTest.from_function(_load_good_file, default_timeout=30)
    app.session_state["dataset_id"] = previous
    app.run()
    assert not app.exception and not app.error
    new = app.session_state["dataset_id"]
    assert new != previous and {e.name for e in home.datasets()} == {"previous", "lab_counts"}


def test_page_shows_the_selected_dataset_with_warnings(home):
    from mtlgrn_core.inputs.upload import dataset_from_files, example_file

    name, content = example_file("tfs")
    dataset = dataset_from_files({"expression": example_file("expression"), "tfs": ("my_tfs.txt", content + b"X9\n")})
    dataset_id = home.save_dataset(dataset, "with a warning")
    app = page("1_Data.py", dataset_id=dataset_id).run()
    assert not app.exception
    assert any("my\\_tfs\\.txt" in w.value for w in app.warning)
    assert {t.label for t in app.tabs} >= {"Expression", "Transcription factors"}
    assert app.get("download_button")


def test_a_database_prior_naming_unmeasured_genes_loads_with_notes(home):
    from mtlgrn_core.inputs.upload import dataset_from_files

    expression = b"gene,s1,s2,s3\nSpi1,1,2,3\nCebpa,2,3,1\nGata1,3,1,2\nTal1,1,1,2\n"
    dorothea = b"tf,confidence,target,mor\nSPI1,A,CEBPA,1\nGATA1,B,SPI1,-1\nRUNX1,A,SPI1,1\nSPI1,A,CSF1R,1\n"
    dataset = dataset_from_files({"expression": ("cells.csv", expression), "network": ("dorothea.csv", dorothea)})
    dataset_id = home.save_dataset(dataset, "database prior")
    app = page("1_Data.py", dataset_id=dataset_id).run()
    assert not app.exception and not app.error
    support, warning = app.warning  # what 2 prior edges support, then the loader's notes
    text = unescaped(warning.value)
    assert unescaped(support.value).startswith("Only 2 known edges join two measured genes (2 regulators)")
    assert "dorothea.csv: read as a database table" in text and "were renamed" in text
    assert "kept 2 of 4 edges (2 regulators, 2 targets)" in text and "CSF1R, RUNX1" in text
    assert any("Candidate regulators: the 2 regulators of the prior network" in unescaped(c.value)
               for c in app.caption)
    assert app.selectbox(key="upload_regulators").value == "prior" and app.text_input(key="upload_confidence")


def test_an_h5ad_and_a_database_prior_through_the_page(home, tmp_path):
    from tests.single_cell_data import N_CELLS, write_lab_data

    write_lab_data(tmp_path)
    app = page("1_Data.py").run()
    app.file_uploader(key="upload_expression").set_value(
        ("pbmc.h5ad", (tmp_path / "expression.h5ad").read_bytes(), "application/octet-stream"))
    app.file_uploader(key="upload_network").set_value(("trrust.tsv", (tmp_path / "network.tsv").read_bytes(),
                                                       "text/tab-separated-values"))
    app.button(key="load_files").click().run()  # the files reach the page with the form: its choices appear first
    assert not app.exception and any(f"{N_CELLS:,} cells x 300 genes" in m.value for m in app.markdown)
    assert any("press **Check and load these files** again" in i.value for i in app.info) and not home.datasets()
    assert app.selectbox(key="upload_layer").value == "counts"  # counts preferred when there is such a layer
    app.selectbox(key="upload_group_column").set_value("cell_type")
    app.number_input(key="upload_max_genes").set_value(100)
    app.number_input(key="upload_max_samples").set_value(40)
    app.button(key="load_files").click().run()
    assert not app.exception and not app.error
    (entry,) = home.datasets()
    assert entry.name == "pbmc" and app.session_state["dataset_id"] == entry.id
    text = unescaped(next(w.value for w in app.warning if "What the loader" in w.value))
    for fragment in ("gene names taken from var['gene_symbols']", "normalised to 10,000 per cell",
                     "cells aggregated into", "were renamed", "kept 4 of 6 edges"):
        assert fragment in text, fragment
    assert any("the 3 regulators of the prior network" in unescaped(c.value) for c in app.caption)
    assert "Samples" in {t.label for t in app.tabs}
    dataset = home.load_dataset(entry.id)
    assert set(dataset.sample_info["cell_type"]) == {"T cell", "B cell"} and dataset.sample_info["cells"].sum() == N_CELLS


SCANPY_PBMC = Path(importlib.util.find_spec("scanpy").origin).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"


@pytest.mark.skipif(not SCANPY_PBMC.is_file(), reason=f"scanpy ships no {SCANPY_PBMC.name} here")
def test_the_legacy_h5ad_that_scanpy_ships_offers_its_choices_and_loads(home):
    """Written by an anndata before 0.7 (obs / var as compound datasets, categories in uns, raw.X): issue 26's
    traceback. The page reads it as the command line does, with anndata's own reader."""
    app = page("1_Data.py").run()
    app.file_uploader(key="upload_expression").set_value(
        (SCANPY_PBMC.name, SCANPY_PBMC.read_bytes(), "application/octet-stream"))
    app.button(key="load_files").click().run()
    assert not app.exception and not app.error
    assert any("700 cells x 765 genes" in m.value for m in app.markdown)
    assert "bulk_labels" in app.selectbox(key="upload_group_column").options
    assert app.selectbox(key="upload_layer").value == "raw"  # X is z-scored: the page says so and reads raw
    assert any("X holds negative values" in unescaped(c.value) for c in app.caption)
    app.selectbox(key="upload_group_column").set_value("bulk_labels")
    app.button(key="load_files").click().run()
    assert not app.exception and not app.error
    (entry,) = home.datasets()
    dataset = home.load_dataset(entry.id)
    assert "CD14+ Monocyte" in set(dataset.sample_info["bulk_labels"])  # the old encoding's categories, decoded


def test_every_single_cell_file_of_the_corpus_goes_through_the_page(home, tmp_path):
    """Each readable single-cell file of tests/cell_file_corpus.py (h5ad of every version and storage, loom,
    Cell Ranger .h5) offers its choices and loads; each malformed one is named in an error and the dataset
    loaded before stays selected; a Cell Ranger folder goes up in a zip."""
    from cell_file_corpus import MALFORMED, READABLE

    app = page("1_Data.py").run()
    selected = None
    for entry in [e for e in READABLE if not e.name.startswith("scanpy")] + MALFORMED:  # scanpy's: test above
        folder, file = entry.dataset_folder(tmp_path)
        if file.is_dir():
            continue
        app.file_uploader(key="upload_expression").set_value((file.name, file.read_bytes(), "application/octet-stream"))
        app.file_uploader(key="upload_network").set_value(("network.csv", (folder / "network.csv").read_bytes(),
                                                           "text/csv"))
        app.text_input(key="upload_name").set_value(entry.name)
        app.button(key="load_files").click().run()  # a first press shows a readable file's choices
        assert not app.exception, entry.name
        if entry.refusal is None:
            assert not app.error, (entry.name, [e.value for e in app.error])
            assert app.selectbox(key="upload_layer").value in ("X", "raw")  # the choices are offered
            app.button(key="load_files").click().run()
        assert not app.exception, entry.name
        if entry.refusal:
            assert any(entry.refusal in unescaped(e.value) and file.name in unescaped(e.value) for e in app.error)
            assert app.session_state["dataset_id"] == selected  # what was loaded before stays
        else:
            assert not app.error, (entry.name, [e.value for e in app.error])
            selected = app.session_state["dataset_id"]
            assert {e.id: e.name for e in home.datasets()}[selected] == entry.name
    loaded = {e.name for e in home.datasets()}
    assert loaded == {e.name for e in READABLE if not e.name.startswith("scanpy") and not e.name.startswith("tenx_v")}


def test_a_zipped_folder_with_a_cell_ranger_matrix_loads_through_the_page(home, tmp_path):
    from cell_file_corpus import READABLE, zipped

    folder, _file = next(e for e in READABLE if e.name == "tenx_v3_folder").dataset_folder(tmp_path)
    app = page("1_Data.py").run()
    app.file_uploader(key="upload_zip").set_value(("lab.zip", zipped(folder), "application/zip"))
    app.button(key="load_zip").click().run()
    assert not app.exception and not app.error
    dataset = home.load_dataset(app.session_state["dataset_id"])
    assert dataset.n_genes == 40 and len(dataset.prior) == 48


def test_the_page_says_how_many_prior_edges_survive_and_what_they_support(home):
    thin = home.save_dataset(simulate(20, seed=0), "thin")
    ample = home.save_dataset(simulate(60, seed=0), "ample")
    app = page("1_Data.py", dataset_id=thin).run()
    assert not app.exception
    (warning,) = [w.value for w in app.warning if "known edges join two measured genes" in w.value]
    assert unescaped(warning).startswith("Only ") and "Keep every gene" in unescaped(warning)
    app = page("1_Data.py", dataset_id=ample).run()
    assert not [w for w in app.warning if "known edges join" in w.value]
    assert any("known edges join two measured genes" in c.value and "about 27 of them" in c.value
               for c in app.caption)
