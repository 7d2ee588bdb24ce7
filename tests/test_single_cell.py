"""mtlgrn_core.inputs.single_cell: AnnData as labs save it (sparse counts in a layer, Ensembl var_names with a symbol
column, cell types and perturbations in obs), loaded with a database prior of another case style."""

import importlib.util
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import describe_cells
from mtlgrn_core.inputs.data import load_dataset
from mtlgrn_core.inputs.single_cell import CellOptions, read_cells
from tests.single_cell_data import N_CELLS, N_GENES, write_lab_data


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cells")
    counts, cell_type = write_lab_data(folder)
    return folder, counts, cell_type


def test_a_realistic_h5ad_with_a_database_prior(h5ad):
    folder, counts, cell_type = h5ad
    ds = load_dataset(folder, cells=CellOptions(layer="counts", group_column="cell_type", max_genes=100,
                                                max_samples=40))
    notes = " | ".join(ds.warnings)
    # gene names from the symbol column (the prior matches it, not the Ensembl ids), the prior renamed to them
    assert "gene names taken from var['gene_symbols']" in notes and "'GENE001' -> 'Gene001'" in notes
    assert "kept 4 of 6 edges" in notes and "MYC, NANOG, SOX2" in notes
    assert set(ds.prior["source"]) == {"Gene001", "Gene002", "Gene050"} and ds.regulator_rule == "prior"
    # the 100 most variable genes, plus every measured gene the prior names
    assert {"Gene001", "Gene002", "Gene010", "Gene050", "Gene200", "Gene299"} <= set(ds.genes)
    assert 100 <= ds.n_genes <= 106 and "most variable" in notes
    # metacells within each cell type, about the budget; every cell counted once
    info = ds.sample_info
    assert 35 <= len(ds.samples) <= 45 and info["cells"].sum() == N_CELLS
    assert set(info["cell_type"]) == {"T cell", "B cell"}
    assert info.groupby("cell_type")["cells"].sum().to_dict() == {"B cell": 150, "T cell": 250}
    # each gene's metacell means, weighted by their cells, give back the mean over every cell
    normalised = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    j = ds.gene_index["Gene010"]
    weighted = (ds.expression[j] * info["cells"].to_numpy()).sum() / N_CELLS
    assert weighted == pytest.approx(normalised[:, 10].mean(), rel=1e-4)
    assert ds.log_transformed and "normalised to 10,000 per cell" in notes


def test_perturbations_in_obs_build_the_sample_sheet(h5ad):
    folder, _, _ = h5ad
    ds = load_dataset(folder, cells=CellOptions(layer="counts", group_column="cell_type", perturbation_column="guide",
                                                max_genes=100, max_samples=60))
    sheet = ds.sample_sheet.set_index("sample")
    assert set(sheet["perturbation"]) == {"Gene050", "control"} and set(sheet.loc[sheet["perturbation"] == "Gene050",
                                                                                  "dose"]) == {0.0}
    assert all(ds.sample_info.loc[s, "guide"] in ("Gene050", "non-targeting") for s in sheet.index)
    assert (ds.sample_info["guide"] == "NotAGene").any() and "NotAGene" not in set(sheet.index)
    assert any("perturbation labels name no measured gene (e.g. NotAGene)" in w for w in ds.warnings)
    assert len(ds.perturbations()) == (sheet["perturbation"] == "Gene050").sum()


def _copy_with_truth(source, folder, truth: pd.DataFrame | None):
    folder.mkdir()
    for name in ("expression.h5ad", "network.tsv"):
        if (source / name).exists():
            shutil.copy(source / name, folder / name)
    if truth is not None:
        truth.to_csv(folder / "truth.csv", index=False)
    return folder


def _assert_same_model_inputs(a, b):
    assert a.genes == b.genes and a.samples == b.samples and a.tfs == b.tfs
    np.testing.assert_array_equal(a.expression, b.expression)
    pd.testing.assert_frame_equal(a.prior, b.prior)
    pd.testing.assert_frame_equal(a.sample_info, b.sample_info)


def test_the_truth_never_chooses_the_genes(h5ad, tmp_path):
    """The ground truth is evaluation labels: the gene budget keeps the most variable genes plus those the prior,
    the TF list or a perturbation names, never those the truth names. A truth between genes the budget drops
    leaves the modelled data unchanged; its edges that cannot be scored are counted."""
    folder, _, _ = h5ad
    options = CellOptions(layer="counts", group_column="cell_type", max_genes=100, max_samples=40)
    base = load_dataset(_copy_with_truth(folder, tmp_path / "without", None), cells=options)
    dropped = [g for g in (f"Gene{j:03d}" for j in range(300)) if g not in base.genes][:6]
    kept = [g for g in base.genes if g not in set(base.prior["source"])][:2]
    assert len(dropped) == 6 and len(kept) == 2
    truth = pd.DataFrame({"source": [dropped[0], dropped[1], dropped[2], kept[0], dropped[3]],
                          "target": [dropped[4], dropped[5], kept[0], kept[1], "NotMeasured"]})
    with_truth = load_dataset(_copy_with_truth(folder, tmp_path / "with", truth), cells=options)
    _assert_same_model_inputs(with_truth, base)
    assert not set(dropped) & set(with_truth.genes)
    assert list(zip(with_truth.truth["source"], with_truth.truth["target"])) == [(kept[0], kept[1])]
    notes = " | ".join(with_truth.warnings)
    assert "3 of its 4 edges between measured genes name 5 genes the gene budget did not keep" in notes
    assert "cannot be scored" in notes


def test_a_truth_whose_genes_are_all_dropped_still_loads(h5ad, tmp_path):
    folder, _, _ = h5ad
    options = CellOptions(layer="counts", group_column="cell_type", max_genes=100, max_samples=40)
    base = load_dataset(_copy_with_truth(folder, tmp_path / "without", None), cells=options)
    dropped = [g for g in (f"Gene{j:03d}" for j in range(300)) if g not in base.genes][:4]
    truth = pd.DataFrame({"source": dropped[:2], "target": dropped[2:]})
    with_truth = load_dataset(_copy_with_truth(folder, tmp_path / "with", truth), cells=options)
    _assert_same_model_inputs(with_truth, base)
    assert with_truth.truth is None
    assert any("none of its 2 edges between measured genes joins two kept genes" in w for w in with_truth.warnings)


def test_the_truth_never_chooses_the_gene_names(h5ad, tmp_path):
    """Without a prior, a truth in symbols does not make the symbol column the gene names: they stay the
    var_names (Ensembl ids) the other inputs (here none) would keep."""
    folder, _, _ = h5ad
    truth = pd.DataFrame({"source": ["Gene001", "Gene002", "Gene003", "ENSMUSG00000000001"],
                          "target": ["Gene010", "Gene020", "Gene030", "ENSMUSG00000000002"]})
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(folder / "expression.h5ad", source / "expression.h5ad")
    options = CellOptions(layer="counts", max_genes=None, max_samples=40)
    base = load_dataset(_copy_with_truth(source, tmp_path / "without", None), cells=options)
    with_truth = load_dataset(_copy_with_truth(source, tmp_path / "with", truth), cells=options)
    _assert_same_model_inputs(with_truth, base)
    assert base.genes[0].startswith("ENSMUSG") and len(with_truth.truth) == 1
    assert not any("gene names taken from" in w for w in with_truth.warnings)


def test_every_gene_and_every_cell_when_asked(h5ad):
    folder, counts, _ = h5ad
    data = read_cells(folder / "expression.h5ad", CellOptions(layer="counts", gene_column="gene_symbols",
                                                               max_genes=None, max_samples=None))
    assert data.matrix.shape == (N_GENES, N_CELLS) and data.samples[:2] == ["cell0", "cell1"]
    np.testing.assert_allclose(data.matrix[10], np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)[:, 10],
                               rtol=1e-5)


def test_the_sparse_matrix_is_never_densified_whole(h5ad, monkeypatch):
    folder, _, _ = h5ad
    shapes, real = [], sparse.csr_matrix.toarray

    def recording(self, *args, **kwargs):
        shapes.append(self.shape)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", recording)
    read_cells(folder / "expression.h5ad", CellOptions(layer="counts", max_genes=100, max_samples=40))
    assert shapes and all(rows * cols < N_CELLS * N_GENES / 5 for rows, cols in shapes)


@pytest.mark.parametrize("options, message", [
    (CellOptions(layer="spliced"), "has no layer 'spliced'. Its layers: 'counts'"),
    (CellOptions(layer="raw"), "has no raw matrix"),
    (CellOptions(gene_column="symbol"), "var has no column 'symbol'. Its columns: 'gene_symbols'"),
    (CellOptions(group_column="batch"), "obs column 'batch' holds one value ('one') for every cell"),
    (CellOptions(perturbation_column="sgRNA"), "obs has no column 'sgRNA'. Its columns: 'cell_type', 'guide'"),
])
def test_fields_that_do_not_exist_or_cannot_split_are_named(h5ad, options, message):
    folder, _, _ = h5ad
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        read_cells(folder / "expression.h5ad", options)
    assert caught.value.file == "expression.h5ad"


def test_describe_reads_the_layout_without_the_matrix(h5ad):
    folder, _, _ = h5ad
    layout = describe_cells(folder / "expression.h5ad")
    assert (layout.n_cells, layout.n_genes, layout.layers, layout.has_raw) == (N_CELLS, N_GENES, ["counts"], False)
    assert layout.var_columns == ["gene_symbols"] and layout.obs_values == {"cell_type": 2, "guide": 3, "batch": 1}
    with open(folder / "expression.h5ad", "rb") as handle:
        assert describe_cells(handle).obs_columns == ["cell_type", "guide", "batch"]
    with pytest.raises(DataValidationError, match="not a readable AnnData file"):
        describe_cells(folder / "network.tsv")


SCANPY_PBMC = Path(importlib.util.find_spec("scanpy").origin).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"


@pytest.mark.skipif(not SCANPY_PBMC.is_file(), reason=f"scanpy ships no {SCANPY_PBMC.name} here")
def test_the_legacy_h5ad_that_scanpy_ships_is_described_and_trained_on(tmp_path, capsys):
    """The file of issue 26 (anndata < 0.7: obs / var as compound datasets): the page's description and the
    command line's training both read it through anndata."""
    from mtlgrn_core.cli import main

    layout = describe_cells(SCANPY_PBMC)
    assert (layout.n_cells, layout.n_genes, layout.has_raw) == (700, 765, True)
    assert layout.obs_values["bulk_labels"] == 10 and "highly_variable" in layout.var_columns
    assert layout.x_negative and layout.default_matrix()[0] == "raw"  # X is z-scored; raw is log-normalised
    folder = tmp_path / "pbmc"
    folder.mkdir()
    shutil.copy(SCANPY_PBMC, folder / "expression.h5ad")
    genes = [str(g) for g in h5py.File(SCANPY_PBMC, "r")["var"]["index"][:12].astype(str)]
    (folder / "network.csv").write_text("source,target,sign\n" + "".join(
        f"{genes[i]},{genes[j]},+\n" for i in range(4) for j in range(4, 12)))
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "2"]) in (None, 0)
    err = capsys.readouterr().err
    assert "written in an older AnnData format" in err and "X holds negative values" in err
    assert "(choose X on the Data page, or --layer X, to read X)" in err
    assert "taken as normalised and log-scaled already" in err  # raw: log-normalised, not counts
