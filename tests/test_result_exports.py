"""Results back in the formats the field reads: the decoupler network's signs follow the prior, then the run's
linear responses, then the co-expression, and its weights stay in [-1, 1]; edges and knockouts go into the user's
AnnData (var columns equal to the knockout table's changes, NaN for genes not in the run, the run named in uns),
and a file that is not AnnData or shares no gene with the run is left byte for byte as it was."""

import copy

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers.analysis import pair_correlation
from mtlgrn_core.answers.infer import predict_knockout, score_edges
from mtlgrn_core.cli import main
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.report.result_exports import add_to_anndata, decoupler_network, knockout_stem
from mtlgrn_core.runs.ensemble import Ensemble
from mtlgrn_core.runs.run_folder import load_run, write_run_files


@pytest.fixture(scope="module")
def edges(run):
    return score_edges(run)  # every candidate pair: 6 TFs x 39 genes


@pytest.fixture(scope="module")
def folder(run, tmp_path_factory):
    """The conftest run saved in a folder (its files only: the session's run object is left as it is)."""
    path = tmp_path_factory.mktemp("exports") / "run-demo"
    path.mkdir()
    write_run_files(run, path)
    return path


def _cells(path, var_names, **var_columns):
    """A small AnnData of 4 cells, written to ``path``; its bytes."""
    var = pd.DataFrame(var_columns, index=pd.Index(var_names, dtype=str))
    adata = ad.AnnData(np.arange(4 * len(var), dtype=np.float32).reshape(4, -1), var=var)
    adata.uns["user"] = {"note": "mine"}
    adata.write_h5ad(path)
    return path.read_bytes()


def _signs(net):
    return np.sign(net["weight"].to_numpy())


# -- decoupler -----------------------------------------------------------------------------------------
def test_decoupler_weights_are_the_score_signed_by_the_prior_then_the_correlation(run, edges):
    net = decoupler_network(edges, run)
    assert net.columns.tolist() == ["source", "target", "weight"] and len(net) == len(edges)
    assert net["weight"].between(-1, 1).all()
    np.testing.assert_allclose(net["weight"].abs(), edges["score"], rtol=1e-6)
    prior = dict(zip(zip(run.prior["source"], run.prior["target"]), run.prior["sign"]))
    in_prior = edges["in_prior"].to_numpy()
    expected = np.array([prior[p] for p in zip(edges["source"][in_prior], edges["target"][in_prior])])
    assert (expected == -1).any() and (expected == 1).any()  # a run whose signs were dropped fails here
    np.testing.assert_array_equal(_signs(net)[in_prior], expected)
    novel = edges[~in_prior]
    correlation = pair_correlation(run.inputs.expression, run.genes, novel["source"], novel["target"])
    assert (correlation < 0).any()
    np.testing.assert_array_equal(_signs(net)[~in_prior], np.where(correlation < 0, -1, 1))
    assert net.attrs["sign_from"] == {"correlation": int((~in_prior).sum()), "prior": int(in_prior.sum())}


def test_the_prior_sign_wins_and_an_unsigned_prior_edge_takes_the_linear_response(run, edges):
    in_prior = edges["in_prior"].to_numpy()
    flipped = copy.copy(run)  # the same linear responses; only the prior's signs differ
    flipped.prior = run.prior.assign(sign=-run.prior["sign"])
    np.testing.assert_array_equal(_signs(decoupler_network(edges, flipped))[in_prior],
                                  -_signs(decoupler_network(edges, run))[in_prior])
    unsigned = copy.copy(run)
    unsigned.prior = run.prior.assign(sign=0)
    net = decoupler_network(edges, unsigned)
    weights = run.linear_responses().weights
    src = edges["source"].map(run.gene_index)[in_prior]
    dst = edges["target"].map(run.gene_index)[in_prior]
    response = np.sign(np.asarray(weights[dst.to_numpy(), src.to_numpy()]).ravel())
    assert (response == -1).any() and (response == 1).any()
    np.testing.assert_array_equal(_signs(net)[in_prior], response)
    assert net.attrs["sign_from"]["linear response"] == int(in_prior.sum())


def test_an_ensemble_signs_its_edges_by_its_first_member(run, edges):
    other = copy.copy(run)
    other.prior = run.prior.assign(sign=-run.prior["sign"])
    ensemble = Ensemble([run, other], [0, 1])
    pd.testing.assert_frame_equal(decoupler_network(edges, ensemble), decoupler_network(edges, run))


# -- AnnData -------------------------------------------------------------------------------------------
def test_a_knockout_goes_into_var_matched_by_case_and_version_and_the_run_into_uns(run, folder, tmp_path):
    saved = load_run(folder)
    genes = list(saved.genes)
    names = [genes[0].lower(), *genes[1:20], "NOTAGENE", "ENSG00000141510.16"]
    path = tmp_path / "cells.h5ad"
    _cells(path, names)
    table = predict_knockout(saved, [saved.tfs[0]])
    added = add_to_anndata(path, saved, knockouts={saved.tfs[0]: table}, settings={"dose": 0.0, "context": ""})
    stem = knockout_stem(saved.tfs[0])
    assert added.columns == [f"{stem}_delta", f"{stem}_log2fc"] and added.matched == 20
    assert f"{stem}_delta" in added.describe() and str(path) in added.describe()
    back = ad.read_h5ad(path)
    delta = table.set_index("gene")["delta"]
    np.testing.assert_allclose(back.var[f"{stem}_delta"].iloc[:20], delta.loc[genes[:20]].to_numpy())
    assert back.var[f"{stem}_delta"].iloc[20:].isna().all()
    entry = back.uns["mtlgrn"]["knockouts"][stem]
    assert entry["run"]["folder"] == "run-demo" and entry["run"]["path"] == str(folder.resolve())
    assert entry["perturbation"] == saved.tfs[0] and entry["dose"] == 0.0 and entry["added"]
    assert back.uns["user"] == {"note": "mine"}  # what the file held stays
    assert [p.name for p in tmp_path.iterdir()] == ["cells.h5ad"]  # no temporary file left


def test_a_symbol_column_is_used_when_it_matches_the_run_better(run, tmp_path):
    genes = list(run.genes)
    path = tmp_path / "ensembl.h5ad"
    _cells(path, [f"ENSG{i:011d}.1" for i in range(len(genes))], gene_symbols=genes[::-1])
    table = predict_knockout(run, [run.tfs[1]])
    added = add_to_anndata(path, run, knockouts={run.tfs[1]: table}, settings={"dose": 0.5})
    assert added.names_from == "var['gene_symbols']" and added.matched == len(genes)
    column = knockout_stem(run.tfs[1], 0.5) + "_delta"
    assert column.endswith("_dose0.5_delta")
    np.testing.assert_allclose(ad.read_h5ad(path).var[column],
                               table.set_index("gene")["delta"].loc[genes[::-1]].to_numpy())


@pytest.mark.parametrize("kind", ["not h5ad", "no shared gene"])
def test_a_bad_file_is_refused_by_name_and_left_as_it_was(run, tmp_path, kind):
    path = tmp_path / "mine.h5ad"
    if kind == "not h5ad":
        path.write_text("gene,cell1\nTP53,1\n")
        before = path.read_bytes()
    else:
        before = _cells(path, ["TP53", "MYC", "GAPDH"])
    with pytest.raises(DataValidationError, match="mine.h5ad") as caught:
        add_to_anndata(path, run, knockouts={run.tfs[0]: predict_knockout(run, [run.tfs[0]])})
    assert ("not a readable AnnData" if kind == "not h5ad" else "shares no gene") in str(caught.value)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["mine.h5ad"]


# -- the command line ----------------------------------------------------------------------------------
def test_predict_decoupler_format_into_the_anndata(folder, tmp_path, capsys):
    saved = load_run(folder)
    path, out = tmp_path / "cells.h5ad", tmp_path / "net.csv"
    _cells(path, list(saved.genes))
    assert main(["predict", "--run", str(folder), "--out", str(out), "--top", "30", "--format", "decoupler",
                 "--h5ad-out", str(path)]) == 0
    printed = capsys.readouterr()
    assert "signs from" in printed.err and f"to {path}" in printed.out.splitlines()[-1]
    net = pd.read_csv(out)
    assert net.columns.tolist() == ["source", "target", "weight"] and len(net) == 30
    assert (net["weight"] < 0).any() and net["weight"].abs().between(0, 1).all()
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.uns["mtlgrn"]["edges"].reset_index(drop=True), net, check_dtype=False)
    assert back.uns["mtlgrn"]["predict"]["run"]["folder"] == "run-demo"
    assert back.uns["mtlgrn"]["predict"]["format"] == "decoupler" and back.uns["mtlgrn"]["predict"]["top"] == 30


def test_knockout_h5ad_out_adds_one_column_per_perturbation(folder, tmp_path, capsys):
    saved = load_run(folder)
    a, b = saved.tfs[:2]
    path = tmp_path / "cells.h5ad"
    _cells(path, [*saved.genes[:10], "OTHER"])
    out = tmp_path / "ko.csv"
    assert main(["knockout", "--run", str(folder), "--genes", f"{a},{b}", "--out", str(out),
                 "--h5ad-out", str(path)]) == 0
    assert f"mtlgrn_ko_{a}+{b}_delta" in capsys.readouterr().out
    listing = tmp_path / "ko.txt"
    listing.write_text(f"{a}\n{a}+{b}\n")
    many = tmp_path / "many.csv"
    assert main(["knockout", "--run", str(folder), "--genes-file", str(listing), "--dose", "0.5", "--out",
                 str(many), "--h5ad-out", str(path)]) == 0
    back = ad.read_h5ad(path)
    single = pd.read_csv(out).set_index("gene")["delta"]
    np.testing.assert_allclose(back.var[f"mtlgrn_ko_{a}+{b}_delta"].iloc[:10], single.loc[list(saved.genes[:10])])
    table = pd.read_csv(many).set_index("gene")
    for name in (a, f"{a}+{b}"):
        column = back.var[f"mtlgrn_ko_{name}_dose0.5_delta"]
        np.testing.assert_allclose(column.iloc[:10], table[name].loc[list(saved.genes[:10])])
        assert np.isnan(column.iloc[10])
    assert set(back.uns["mtlgrn"]["knockouts"]) == {f"mtlgrn_ko_{a}+{b}", f"mtlgrn_ko_{a}_dose0.5",
                                                    f"mtlgrn_ko_{a}+{b}_dose0.5"}


def test_knockout_with_a_bad_h5ad_exits_2_and_writes_nothing(folder, run, tmp_path, capsys):
    path, out = tmp_path / "other.h5ad", tmp_path / "ko.csv"
    before = _cells(path, ["TP53", "MYC"])
    assert main(["knockout", "--run", str(folder), "--genes", run.tfs[0], "--out", str(out),
                 "--h5ad-out", str(path)]) == 2
    assert "other.h5ad: shares no gene with the run" in capsys.readouterr().err
    assert path.read_bytes() == before and not out.exists()


def test_an_ensemble_goes_into_the_anndata_named_with_its_members(folder, tmp_path, capsys):
    from mtlgrn_core.runs.ensemble import save_ensemble

    saved = load_run(folder)
    ensemble = save_ensemble({0: load_run(folder), 1: load_run(folder)}, [], tmp_path / "ens")
    path = tmp_path / "cells.h5ad"
    _cells(path, list(saved.genes))
    assert main(["predict", "--run", str(ensemble), "--out", str(tmp_path / "net.csv"), "--top", "20", "--format",
                 "decoupler", "--h5ad-out", str(path)]) == 0
    assert "signs (the ensemble's first member's) from" in capsys.readouterr().err
    assert main(["knockout", "--run", str(ensemble), "--genes", saved.tfs[0], "--out", str(tmp_path / "ko.csv"),
                 "--h5ad-out", str(path)]) == 0
    uns = ad.read_h5ad(path).uns["mtlgrn"]
    assert uns["predict"]["run"]["members"] == 2 and uns["predict"]["run"]["folder"] == "ens"
    assert uns["knockouts"][f"mtlgrn_ko_{saved.tfs[0]}"]["run"]["ensemble"]["members"] == 2
    assert len(uns["edges"]) == 20
