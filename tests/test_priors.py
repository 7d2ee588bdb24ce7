"""mtlgrn_core.inputs.priors: database exports read as they come, matched to the measured genes, candidate regulators."""

import gzip

import pandas as pd
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import build_dataset, load_dataset
from mtlgrn_core.inputs.priors import candidate_regulators, describe_regulators, match_prior, read_edges


def _write(path, text):
    path.write_text(text)
    return path


def _edges(frame):
    return list(zip(frame["source"], frame["target"], frame["sign"]))


def test_trrust_as_shipped_target_first_with_modulation(tmp_path):
    text = ("target\tTF\tmodulation\tPubMedID\tgeneID\tENSG\n"
            "BAX\tAATF\tRepression\t22909821\t581\tENSG00000087088\n"
            "CDKN1A\tTP53\tActivation\t1\t1026\tENSG00000124762\n"
            "MDM2\tTP53\tUnknown\t2\t4193\tENSG00000135679\n")
    path = tmp_path / "trrust.tsv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    notes = []
    assert _edges(read_edges(path, warnings=notes)) == [("AATF", "BAX", -1), ("TP53", "CDKN1A", 1),
                                                         ("TP53", "MDM2", 0)]
    assert notes == ["trrust.tsv.gz: read as a database table: regulators from 'TF', targets from 'target', "
                     "signs from 'modulation'."]


def test_dorothea_levels_filter_and_mor_signs(tmp_path):
    path = _write(tmp_path / "dorothea.csv", "tf,confidence,target,mor\nSPI1,A,CEBPA,1\nGATA1,C,SPI1,-1\n"
                                             "TAL1,E,GATA1,1\n")
    assert _edges(read_edges(path)) == [("SPI1", "CEBPA", 1), ("GATA1", "SPI1", -1), ("TAL1", "GATA1", 1)]
    notes = []
    kept = read_edges(path, warnings=notes, min_confidence="c")
    assert _edges(kept) == [("SPI1", "CEBPA", 1), ("GATA1", "SPI1", -1)]
    assert "1 of 3 edges below confidence level C dropped (2 kept)" in notes[-1]
    with pytest.raises(DataValidationError, match="neither a level A-E nor a number"):
        read_edges(path, min_confidence="high")
    with pytest.raises(DataValidationError, match="confidence 'A' is not a number"):
        read_edges(path, min_confidence=0.5)


def test_collectri_weights_give_the_signs(tmp_path):
    path = _write(tmp_path / "collectri.csv", "source,target,weight\nSPI1,CEBPA,1\nGATA1,SPI1,-1\n")
    assert _edges(read_edges(path)) == [("SPI1", "CEBPA", 1), ("GATA1", "SPI1", -1)]


@pytest.mark.parametrize("header", ["TF\ttarget\timportance\n", ""])
def test_grnboost_adjacencies_importance_filters_and_gives_no_sign(tmp_path, header):
    path = _write(tmp_path / "adjacencies.tsv", header + "SPI1\tCEBPA\t12.5\nGATA1\tSPI1\t0.3\nTAL1\tGATA1\t4\n")
    assert _edges(read_edges(path)) == [("SPI1", "CEBPA", 0), ("GATA1", "SPI1", 0), ("TAL1", "GATA1", 0)]
    assert _edges(read_edges(path, min_confidence=1)) == [("SPI1", "CEBPA", 0), ("TAL1", "GATA1", 0)]


def test_plain_lists_and_a_threshold_without_a_confidence_column(tmp_path):
    plain = _write(tmp_path / "plain.csv", "SPI1,CEBPA\nGATA1,SPI1\n")
    assert _edges(read_edges(plain)) == [("SPI1", "CEBPA", 0), ("GATA1", "SPI1", 0)]
    labelled = _write(tmp_path / "dream.tsv", "G1\tG2\t1\nG2\tG3\t0\n")
    assert _edges(read_edges(labelled)) == [("G1", "G2", 0)]
    with pytest.raises(DataValidationError, match="has no confidence column"):
        read_edges(plain, min_confidence="B")
    with pytest.raises(DataValidationError, match="sign 'maybe' is not understood") as caught:
        read_edges(_write(tmp_path / "bad.csv", "source,target,sign\nA,B,+\nB,C,maybe\n"))
    assert caught.value.line == 3


def test_match_prior_keeps_measured_edges_renames_case_and_counts():
    edges = pd.DataFrame({"source": ["Sox2", "Sox2", "Myc", "Hoxa9"], "target": ["Nanog", "Pou5f1", "Sox2", "Meis1"],
                          "sign": [1, 1, -1, 1]})
    notes = []
    kept = match_prior(edges, ["MYC", "NANOG", "SOX2"], file="prior.csv", warnings=notes)
    assert _edges(kept) == [("SOX2", "NANOG", 1), ("MYC", "SOX2", -1)]
    assert "3 gene names match a measured gene only up to case" in notes[0] and "'Myc' -> 'MYC'" in notes[0]
    assert notes[1].startswith("prior.csv: kept 2 of 4 edges (2 regulators, 2 targets)")
    assert "2 edges name 3 genes the expression does not have (e.g. Hoxa9, Meis1, Pou5f1)" in notes[1]


def test_match_prior_never_merges_an_ambiguous_case_variant():
    edges = pd.DataFrame({"source": ["tp53"], "target": ["MDM2"], "sign": [0]})
    with pytest.raises(DataValidationError, match="none of its 1 edges"):
        match_prior(edges, ["TP53", "Tp53", "MDM2"], file="prior.csv", warnings=[])


def test_match_prior_diagnoses_entrez_against_symbols():
    edges = pd.DataFrame({"source": ["7157", "4609"], "target": ["4193", "1026"], "sign": [0, 0]})
    with pytest.raises(DataValidationError, match="names genes by Entrez ids, the expression by gene symbols"):
        match_prior(edges, ["TP53", "MYC", "MDM2", "CDKN1A"], file="prior.csv", warnings=[])


def test_candidate_regulators_by_rule():
    prior = pd.DataFrame({"source": ["B", "A"], "target": ["C", "C"], "sign": [0, 0]})
    genes = ["A", "B", "C", "D"]
    assert candidate_regulators(None, prior, genes, rule="prior", file="tfs.txt", warnings=[]) == (("A", "B"), "prior")
    assert candidate_regulators(None, prior, genes, rule="all", file="tfs.txt", warnings=[]) == (tuple(genes), "all")
    assert candidate_regulators(None, prior.iloc[:0], genes, rule="prior", file="tfs.txt",
                                warnings=[]) == (tuple(genes), "all")
    notes = []
    assert candidate_regulators(["d", "X"], prior, genes, rule="prior", file="tfs.txt",
                                warnings=notes) == (("D",), "tfs")
    assert any("1 TF names were renamed" in n and "'d' -> 'D'" in n for n in notes)
    assert any("1 TFs not in the expression were dropped (e.g. X)" in n for n in notes)
    assert "regulators of the prior network" in describe_regulators("prior", 2)


def test_a_dataset_without_tf_list_scores_the_priors_regulators_unless_told_otherwise(tmp_path):
    genes, samples = ["A", "B", "C", "D"], ["s1", "s2", "s3"]
    expression = [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 1, 2]]
    prior = pd.DataFrame({"source": ["A", "A", "B"], "target": ["B", "C", "D"], "sign": [1, 1, -1]})
    by_prior = build_dataset(genes=genes, samples=samples, expression=expression, prior=prior)
    assert by_prior.tfs == ("A", "B") and by_prior.summary()["regulators"] == "prior"
    every = build_dataset(genes=genes, samples=samples, expression=expression, prior=prior, regulators="all")
    assert every.tfs == tuple(genes) and every.summary()["regulators"] == "all"


def test_load_dataset_with_a_database_prior_and_a_threshold(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    _write(folder / "expression.csv", "gene,s1,s2,s3\nSPI1,1,2,3\nCEBPA,2,3,1\nGATA1,3,1,2\nTAL1,1,1,2\n")
    _write(folder / "network.csv", "tf,confidence,target,mor\nSPI1,A,CEBPA,1\nGATA1,B,SPI1,-1\nTAL1,D,GATA1,1\n"
                                   "RUNX1,A,SPI1,1\nSPI1,A,CSF1R,1\n")
    ds = load_dataset(folder, prior_min_confidence="B")
    assert _edges(ds.prior) == [("SPI1", "CEBPA", 1), ("GATA1", "SPI1", -1)]
    assert ds.tfs == ("GATA1", "SPI1") and ds.regulator_rule == "prior"
    assert any("below confidence level B dropped" in w for w in ds.warnings)
    assert any("kept 2 of 4 edges" in w and "CSF1R, RUNX1" in w for w in ds.warnings)
