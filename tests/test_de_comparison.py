"""A prediction checked against the user's own experiment (mtlgrn_core/evaluation/de_comparison.py): differential-expression
tables in each common export, the bad ones with their messages, the figures on cases whose answer is known, the
scatter, ``knockout --compare`` (a run and an ensemble), the report's comparison, the Knockout page's upload, and a
real knockout table of the shared data where it is present."""

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.cli import main
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation.de_comparison import (
    DETable,
    compare_prediction,
    plain_number,
    predicted_change,
    read_de_table,
)
from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_core.viz.knockout import experiment_scatter
from tests.figure_strings import figure_strings

_SPEC = importlib.util.spec_from_file_location("shared_data", Path(__file__).resolve().parents[1] / "bench" /
                                               "shared_data.py")
shared_data = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(shared_data)
METADEGTH = shared_data.shared_data_dir() / "human_tf_perturbation_de_metadegth"


def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


# -- the export flavours -----------------------------------------------------------------------------------
DESEQ2 = ('"","baseMean","log2FoldChange","lfcSE","stat","pvalue","padj"\n'
          '"TP53",120.5,-2.5,0.3,-8.3,1e-16,1e-14\n"MYC",80.1,1.25,0.2,6.2,1e-9,2e-8\n'
          '"GAPDH",1000,0.01,0.05,0.2,0.8,NA\n"ZERO",0,NA,NA,NA,NA,NA\n')
EDGER = "gene\tlogFC\tlogCPM\tF\tPValue\tFDR\nTP53\t-2.5\t6.1\t40\t1e-10\t1e-8\nMYC\t1.25\t5\t20\t1e-5\t1e-4\n" \
        "GAPDH\t0.01\t9\t0.1\t0.8\t0.9\n"
LIMMA = "ID\tlogFC\tAveExpr\tt\tP.Value\tadj.P.Val\tB\nTP53\t-2.5\t7\t-9\t1e-10\t1e-8\t12\n" \
        "MYC\t1.25\t6\t5\t1e-5\t1e-4\t3\nGAPDH\t0.01\t12\t0.1\t0.8\t0.9\t-6\n"
SCANPY = ",names,scores,logfoldchanges,pvals,pvals_adj\n0,TP53,-9.1,-2.5,1e-10,1e-8\n1,MYC,5.2,1.25,1e-5,1e-4\n" \
         "2,GAPDH,0.1,0.01,0.8,0.9\n"


@pytest.mark.parametrize("name, text, columns", [
    ("deseq2_results.csv", DESEQ2, {"gene": "", "log2fc": "log2FoldChange", "padj": "padj", "pvalue": "pvalue"}),
    ("edger_toptags.tsv", EDGER, {"gene": "gene", "log2fc": "logFC", "padj": "FDR", "pvalue": "PValue"}),
    ("limma_toptable.tsv.gz", LIMMA, {"gene": "ID", "log2fc": "logFC", "padj": "adj.P.Val", "pvalue": "P.Value"}),
    ("scanpy_rank_genes_groups.csv", SCANPY,
     {"gene": "names", "log2fc": "logfoldchanges", "padj": "pvals_adj", "pvalue": "pvals"}),
])
def test_each_export_is_read_by_its_column_names(tmp_path, name, text, columns):
    de = read_de_table(write(tmp_path, name, text))
    assert de.columns == columns and de.name == name
    assert de.log2fc.loc[["TP53", "MYC", "GAPDH"]].tolist() == [-2.5, 1.25, 0.01]
    assert de.padj["TP53"] < 1e-7 and de.pvalue is not None


def test_missing_values_leave_a_gene_out_or_without_its_p_value(tmp_path):
    de = read_de_table(write(tmp_path, "res.csv", DESEQ2))
    assert "ZERO" not in de.log2fc.index and np.isnan(de.padj["GAPDH"])
    assert any("1 rows without a finite fold change in 'log2FoldChange' left out" in n for n in de.notes)


def test_bytes_and_uploads_read_as_files_do(tmp_path):
    class Upload:  # what st.file_uploader returns
        name = "limma.tsv.gz"

        def getvalue(self):
            return gzip.compress(LIMMA.encode())

    from_upload = read_de_table(Upload())
    from_bytes = read_de_table(gzip.compress(LIMMA.encode()), "limma.tsv")  # gzip recognised by its bytes
    assert from_upload.name == "limma.tsv.gz" and from_bytes.name == "limma.tsv"
    pd.testing.assert_series_equal(from_upload.log2fc, from_bytes.log2fc)


def test_probe_rows_of_one_gene_are_averaged_and_p_values_adjusted(tmp_path):
    text = ("HumanHT12v4probeID\tgeneID\tgeneSymbol\tkoATF3_logFC\tkoATF3_pValue\n"
            "ILMN_1\t467\tATF3\t-3.0\t1e-8\nILMN_2\t467\tATF3\t-1.0\t1e-4\nILMN_3\t7157\tTP53\t0.5\t0.01\n"
            "ILMN_4\t\t\t2.0\t0.5\nILMN_5\t4609\tMYC\t1.0\t0.2\nILMN_6\t4609\tmyc\t2.0\t0.4\n")
    de = read_de_table(write(tmp_path, "ATF3_DE.tsv.gz", text))
    assert de.columns == {"gene": "geneSymbol", "log2fc": "koATF3_logFC", "pvalue": "koATF3_pValue"}
    assert de.log2fc.to_dict() == {"ATF3": -2.0, "TP53": 0.5, "MYC": 1.5}  # 'myc' is MYC
    assert de.rows == 6 and de.n_genes == 3
    assert "5 rows averaged to 3 genes" in " ".join(de.notes)
    assert any("1 rows without a gene name in 'geneSymbol'" in n for n in de.notes)
    assert any("Benjamini-Hochberg" in n for n in de.notes) and (de.padj >= de.pvalue).all()


def test_the_p_values_of_the_fold_change_compared_are_used(tmp_path):
    text = ("ENSG\tgeneSymbol\tsiA_logFC\tsiA_pValue\tsiB_logFC\tsiB_pValue\n"
            "ENSG01\tSTC1\t5\t0.001\t3\t0.5\nENSG02\tCAV1\t-2\t0.002\t-1\t0.6\n")
    de = read_de_table(write(tmp_path, "taz.tsv", text))
    assert de.columns["log2fc"] == "siA_logFC" and de.columns["pvalue"] == "siA_pValue"
    assert any("2 fold-change columns" in n and "rename it 'log2fc'" in n for n in de.notes)


ENSEMBL = ("gene_id,gene_name,log2FoldChange,padj\nENSG00000141510.17,TP53,-2.0,0.001\n"
           "ENSG00000136997.21,MYC,1.0,0.01\nENSG00000111640.15,GAPDH,0.1,0.9\nENSG00000000003.15,TSPAN6,0.5,0.2\n")


def test_ensembl_ids_with_versions_match_the_runs_ids_without(tmp_path):
    run_genes = ["ENSG00000141510", "ENSG00000136997", "ensg00000111640", "ENSG99999999999"]
    de = read_de_table(write(tmp_path, "ens.csv", ENSEMBL), genes=run_genes)
    assert de.columns["gene"] == "gene_id"
    assert any("genes read from column 'gene_id' (3 rows match" in n for n in de.notes)
    result = compare_prediction(pd.Series([-4.0, 2.0, 0.2, 9.0], index=run_genes), de)
    assert result.table["gene"].tolist() == ["ENSG00000141510", "ENSG00000136997", "ensg00000111640"]
    assert result.pearson == pytest.approx(1.0)


def test_of_a_symbol_and_an_ensembl_column_the_one_matching_the_run_is_used(tmp_path):
    path = write(tmp_path, "ens.csv", ENSEMBL)
    assert read_de_table(path, genes=["TP53", "MYC", "GAPDH"]).columns["gene"] == "gene_name"
    assert read_de_table(path, genes=["ENSG00000141510", "ENSG00000136997"]).columns["gene"] == "gene_id"


# -- bad tables --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, found", [
    ("probe,log2FoldChange\nA1,1.0\nA2,2.0\n", ["bad.csv", "no gene column", "'probe', 'log2FoldChange'",
                                                 "'gene'"]),
    ("gene,baseMean,pvalue\nTP53,10,0.1\n", ["bad.csv", "no log2 fold-change column", "'gene', 'baseMean', 'pvalue'",
                                             "'log2fc'"]),
    ("gene,logFC\nTP53,-1.5\nMYC,up\n", ["bad.csv, line 3", "'logFC'", "'up'"]),
    ("gene,logFC\nTP53,\"1,5\"\n", ["bad.csv, line 2", "decimal comma"]),
    ("gene,logFC\nTP53,NA\n", ["bad.csv", "no row with both a gene name and a fold change"]),
    ("baseMean\tlog2FoldChange\tpadj\nTP53\t10\t-1\t0.01\n", ["bad.csv, line 2", "add one, e.g. 'gene'"]),  # R
    ("group,names,logfoldchanges\nKO,TP53,1\nKO,MYC,2\nWT,TP53,-1\n", ["bad.csv", "2 groups in column 'group'",
                                                                       "'KO', 'WT'", "group='knockout'"]),
])
def test_a_bad_table_names_the_file_what_is_wrong_and_the_fix(tmp_path, text, found):
    with pytest.raises(DataValidationError) as caught:
        read_de_table(write(tmp_path, "bad.csv", text))
    for fragment in found:
        assert fragment in str(caught.value)


def test_a_table_of_other_identifiers_says_how_to_match_the_run(tmp_path):
    de = read_de_table(write(tmp_path, "ens.csv", ENSEMBL.replace("gene_name,", "x,")))
    run_genes = pd.Series([1.0, 2.0, 3.0], index=["TP53", "MYC", "GAPDH"])
    with pytest.raises(DataValidationError) as caught:
        compare_prediction(run_genes, de)
    message = str(caught.value)
    for fragment in ("ens.csv", "of its 4 genes", "ENSG00000141510.17", "none is a gene of the run", "TP53, MYC",
                     "gene symbols", "Ensembl ids"):
        assert fragment in message
    few = read_de_table(write(tmp_path, "few.csv", "gene,logFC\nTP53,1\nMYC,2\nXYZ,3\n"))
    with pytest.raises(DataValidationError, match=r"only 2 \(MYC, TP53\) are genes of the run.*at least 3"):
        compare_prediction(run_genes, few)


# -- the figures -------------------------------------------------------------------------------------------
def table_of(measured: dict, padj: dict | None = None, name: str = "exp.csv") -> DETable:
    series = pd.Series(measured, dtype=float).rename_axis("gene")
    return DETable(name, series, {"gene": "gene", "log2fc": "log2fc"},
                   None if padj is None else pd.Series(padj, dtype=float))


GENES = [f"G{i:03d}" for i in range(100)]
MEASURED = dict(zip(GENES, np.random.default_rng(0).normal(size=100)))


def test_a_perfect_prediction_scores_one_everywhere():
    predicted = 2 * pd.Series(MEASURED)
    result = compare_prediction(predicted, table_of(MEASURED), top=10)
    assert result.n_genes == 100 and result.top == 10
    assert result.pearson == pytest.approx(1.0, abs=1e-6) and result.spearman == pytest.approx(1.0)
    assert result.sign_agreement == 1.0 and result.sign_agreement_top == 1.0 and result.sign_genes == 100
    assert result.overlap == 10 and result.overlap_expected == pytest.approx(1.0)
    from scipy.stats import hypergeom
    assert result.overlap_p == pytest.approx(hypergeom.pmf(10, 100, 10, 10))
    assert result.sign_agreement_significant is None and "significant" not in " ".join(result.summary()["measure"])
    assert result.table.columns.tolist() == ["gene", "predicted", "measured", "padj"]
    assert result.table["measured"].abs().is_monotonic_decreasing


def test_a_sign_flip_agrees_nowhere_but_finds_the_same_genes():
    result = compare_prediction(-pd.Series(MEASURED), table_of(MEASURED), top=20)
    assert result.pearson == pytest.approx(-1.0) and result.spearman == pytest.approx(-1.0)
    assert result.sign_agreement == 0.0 and result.sign_agreement_top == 0.0
    assert result.overlap == 20 and set(result.top_predicted) == set(result.top_measured)


def test_significant_genes_and_genes_that_do_not_move():
    measured = {"A": 4.0, "B": -3.0, "C": 2.0, "D": -1.0, "E": 0.5}
    padj = {"A": 0.5, "B": 0.01, "C": 0.02, "D": 0.001, "E": 0.9}
    predicted = pd.Series({"A": -1.0, "B": -1.0, "C": 0.0, "D": -0.5, "E": 0.0, "F": 3.0})
    result = compare_prediction(predicted, table_of(measured, padj), top=2)
    assert result.sign_genes == 3 and result.sign_agreement == pytest.approx(2 / 3)  # C, E predicted 0
    assert (result.sign_agreement_top, result.sign_top_genes) == (0.5, 2)  # A wrong, B right
    assert (result.sign_agreement_significant, result.significant_top_genes) == (1.0, 1)  # B (C does not move)
    assert result.top_predicted == ["A", "B"] and result.top_measured == ["A", "B"]
    assert "F" not in set(result.table["gene"]) and not any("not genes of the run" in n for n in result.notes)
    assert "top 2 significant" in " ".join(result.summary()["measure"])


def test_a_constant_prediction_has_no_correlation():
    result = compare_prediction(pd.Series(0.0, index=GENES), table_of(MEASURED))
    assert np.isnan(result.pearson) and plain_number(result.pearson) == "n/a"
    assert result.sign_genes == 0 and result.top_predicted == [] and result.overlap == 0
    assert result.summary().set_index("measure").loc["Pearson r", "value"] == "n/a"


def test_the_prediction_compared_is_the_fold_change_where_there_is_one():
    table = pd.DataFrame({"gene": ["A", "B", "C"], "delta": [-1.0, 0.5, 0.2], "log2fc": [-9.0, 0.6, 0.3],
                          "perturbed": [True, False, False]})
    predicted, column = predicted_change(table)
    assert column == "log2fc" and predicted.to_dict() == {"B": 0.6, "C": 0.3}
    predicted, column = predicted_change(table.assign(log2fc=np.nan))
    assert column == "delta" and predicted.to_dict() == {"B": 0.5, "C": 0.2}


def test_the_scatter_names_the_top_genes_and_escapes_them():
    measured = {**MEASURED, "<b>X</b>": 9.0}
    predicted = pd.Series(measured) * 0.5
    result = compare_prediction(predicted, table_of(measured, name="<i>exp</i>.csv"), top=5)
    fig = experiment_scatter(result, label_top=3)
    text = " ".join(figure_strings(fig))
    assert "<b>X</b>" not in text and "&lt;b&gt;X&lt;/b&gt;" in text and "&lt;i&gt;exp" in text
    labels = next(t for t in fig.data if t.mode == "text")
    assert len(labels.text) == 3 and "&lt;b&gt;X&lt;/b&gt;" in labels.text
    assert sum(len(t.x) for t in fig.data if t.mode == "markers") == result.n_genes
    assert any((t.name or "").startswith("fit (slope 0.5") for t in fig.data)
    assert not any(t.mode == "lines" for t in experiment_scatter(result, fit_line=False).data)


# -- the command line and the report -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(run, tmp_path_factory):
    """The conftest run (the built-in demo's simulator, 40 genes) in a folder, and a DESeq2-like table of one
    TF's knockout measured as predicted plus noise, gene names in lower case."""
    from mtlgrn_core.answers.infer import predict_knockout

    root = tmp_path_factory.mktemp("de")
    folder = save_run(run, root / "run")
    tf = run.tfs[0]
    predicted = predict_knockout(run, [tf]).set_index("gene")["log2fc"].drop(tf)
    noise = np.random.default_rng(1).normal(scale=0.05 * predicted.abs().max(), size=len(predicted))
    de = pd.DataFrame({"": predicted.index.str.lower(), "log2FoldChange": predicted + noise, "padj": 0.01})
    de.to_csv(root / "ko_de.csv", index=False)
    return root, folder, tf


def test_knockout_compare_prints_the_figures_and_writes_the_matched_genes(saved, capsys):
    root, folder, tf = saved
    out = root / "pred.csv"
    assert main(["knockout", "--run", str(folder), "--genes", tf, "--out", str(out), "--compare",
                 str(root / "ko_de.csv")]) == 0
    printed = capsys.readouterr()
    assert "predicted log2 fold change (log2fc; the run's expression is log-transformed or non-negative)" \
           in printed.err and "'log2FoldChange' of ko_de.csv" in printed.err
    for fragment in ("compared with ko_de.csv", "Pearson r", "Spearman rho", "sign agreement, top 39 measured",
                     "top-39 overlap", "pred_compare.csv"):
        assert fragment in printed.out
    matched = pd.read_csv(root / "pred_compare.csv")
    assert matched.columns.tolist() == ["gene", "predicted", "measured", "padj"] and len(matched) == 39
    assert tf not in set(matched["gene"]) and matched["predicted"].corr(matched["measured"]) > 0.9
    assert pd.read_csv(out)["gene"].nunique() == 40


def test_knockout_compare_of_an_ensemble(saved, tmp_path, capsys):
    from mtlgrn_core.runs.ensemble import save_ensemble
    from mtlgrn_core.runs.run_folder import load_run

    root, folder, tf = saved
    ensemble = save_ensemble({0: load_run(folder), 1: load_run(folder)}, [], tmp_path / "ens")
    out = tmp_path / "ens_pred.csv"
    assert main(["knockout", "--run", str(ensemble), "--genes", tf, "--out", str(out), "--compare",
                 str(root / "ko_de.csv")]) == 0
    assert "ensemble of 2 members" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "ens_pred_compare.csv")) == 39


def test_knockout_compare_needs_genes_and_a_good_table(saved, tmp_path, capsys):
    root, folder, tf = saved
    listing = tmp_path / "ko.txt"
    listing.write_text(f"{tf}\n")
    out = tmp_path / "x.csv"
    assert main(["knockout", "--run", str(folder), "--genes-file", str(listing), "--out", str(out), "--compare",
                 str(root / "ko_de.csv")]) == 2
    assert "use it with --genes, not with --genes-file" in capsys.readouterr().err
    other = write(tmp_path, "human.csv", "gene,logFC\nTP53,1\nMYC,2\nGAPDH,3\n")
    assert main(["knockout", "--run", str(folder), "--genes", tf, "--out", str(out), "--compare", str(other)]) == 2
    err = capsys.readouterr().err
    assert "error: human.csv: of its 3 genes" in err and "Traceback" not in err
    assert not out.exists()  # a bad table leaves no output


def test_the_report_compares_a_knockout_with_an_experiment(saved):
    from mtlgrn_core.report.html_report import build_report, parse_comparison
    from mtlgrn_core.runs.run_folder import load_run

    root, folder, tf = saved
    knockout, path = parse_comparison(f"{tf}:0={root / 'ko_de.csv'}")
    assert knockout == ((tf,), 0.0) and path == root / "ko_de.csv"
    run = load_run(folder)
    html = build_report(run, [knockout], svg=False, experiments={knockout: read_de_table(path, genes=run.genes)})
    assert "Compared with your experiment: ko_de.csv" in html and "top-39 overlap" in html
    assert "predicted against ko_de.csv" in html
    with pytest.raises(DataValidationError, match="e.g. G001=ko_de.tsv"):
        parse_comparison(tf)


def test_report_compare_adds_the_knockout_with_its_comparison(saved, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("mtlgrn_core.report.html_report.chromium_path", lambda: None)  # no SVGs: seconds each
    root, folder, tf = saved
    out = tmp_path / "report.html"
    assert main(["report", "--run", str(folder), "--out", str(out), "--compare", f"{tf}={root / 'ko_de.csv'}"]) == 0
    html = out.read_text()
    assert html.count(f"Knockout: {tf} knockout") == 1 and "Compared with your experiment: ko_de.csv" in html
    assert main(["report", "--run", str(folder), "--out", str(out), "--compare", tf]) == 2
    assert "give the knockout, '=' and your differential-expression table" in capsys.readouterr().err


# -- a real knockout ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not METADEGTH.is_dir(), reason=f"the shared human TF knockout tables are not at {METADEGTH} "
                                                   "(CI has them)")
def test_the_real_atf3_knockout_table_is_read_per_gene():
    de = read_de_table(METADEGTH / "ATF3_knockout_HCT116_GSE74362_DE.tsv.gz", genes=["ATF3", "RPS4Y1", "MAL2"])
    assert de.rows == 47_300 and de.columns == {"gene": "geneSymbol", "log2fc": "koATF3_logFC",
                                                "pvalue": "koATF3_pValue"}
    assert any("rows averaged to" in n and "genes" in n for n in de.notes)
    assert de.n_genes < 47_300 - 3_000 and de.log2fc.index.is_unique
    assert de.log2fc["RPS4Y1"] == pytest.approx(-5.0792, abs=1e-3) and de.padj["RPS4Y1"] < 1e-6
    assert de.log2fc["ATF3"] < 0  # the knocked-out gene falls
    predicted = de.log2fc.iloc[:500] * 0.5  # a stand-in prediction of 500 of its genes
    result = compare_prediction(predicted, de)
    assert result.n_genes == 500 and result.pearson == pytest.approx(1.0) and result.overlap == 50
