"""Tests of bench/beeline_data.py (the BEELINE sets as MTLGRN datasets) and a smoke run of bench/beeline.py.

Values and edges are checked against the raw files read here independently (plain ``csv`` / ``gzip``), by gene
SYMBOL: the row order of the expression file differs between the three ground-truth folders of one cell /
size, and the Dataset sorts genes by name. Skipped when ``../shared/data/beeline_benchmark`` is absent.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core import load_dataset
from mtlgrn_core.model.baselines import genie3_scores, pearson_scores
from mtlgrn_core.model.metrics import edge_metrics
from mtlgrn_core.model.splits import TEST, candidate_pairs, read_split
from mtlgrn_core.model.train import make_split

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _module(name: str):
    if name in sys.modules and getattr(sys.modules[name], "__file__", "") == str(BENCH / f"{name}.py"):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bd = _module("beeline_data")

try:
    BEELINE = bd.beeline_dir()
except FileNotFoundError as exc:
    pytest.skip(f"../shared/data/beeline_benchmark not found: {exc}", allow_module_level=True)
SHARED = BEELINE.parent

# SOURCE.md's table: genes x cells, TFs, edges
COUNTS = {
    ("mHSC-GM", 500, "STRING"): (632, 889, 132, 748),
    ("mHSC-GM", 500, "Non-Specific"): (632, 889, 132, 743),
    ("mHSC-GM", 500, "Specific"): (632, 889, 135, 7364),
    ("mDC", 1000, "Specific"): (1321, 383, 323, 1193),
    ("hHEP", 1000, "Specific"): (1448, 425, 449, 15558),
}


def raw_expression(cell: str, size: int, truth: str) -> tuple[list[str], list[str], list[list[str]]]:
    """(genes in file order, cell ids, rows of value strings) of a raw expression file."""
    path = BEELINE / truth / cell / f"TFs+{size}" / "BL--ExpressionData.csv.gz"
    with gzip.open(path, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    return [r[0] for r in rows[1:]], rows[0][1:], [r[1:] for r in rows[1:]]


def raw_csv(cell: str, size: int, truth: str, name: str) -> list[list[str]]:
    with open(BEELINE / truth / cell / f"TFs+{size}" / name, newline="") as fh:
        return list(csv.reader(fh))


def edge_set(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["source"], frame["target"]))


@pytest.fixture(scope="module")
def hsc():
    return {truth: bd.load_beeline("mHSC-GM", 500, truth) for truth in bd.TRUTHS}


@pytest.mark.parametrize("key", list(COUNTS))
def test_counts_match_source_table(key, hsc):
    cell, size, truth = key
    genes, cells, tfs, edges = COUNTS[key]
    ds = hsc[truth] if cell == "mHSC-GM" else bd.load_beeline(cell, size, truth)
    assert (ds.n_genes, len(ds.samples), len(ds.tfs)) == (genes, cells, tfs)
    assert len(ds.truth) == edges  # nothing is dropped (self-loop, non-TF source, ...) in the shipped files
    assert ds.warnings == []
    assert bd.beeline_counts(cell, size, truth) == {"genes": genes, "cells": cells, "tfs": tfs, "edges": edges}
    assert list(ds.genes) == sorted(ds.genes) and ds.name == f"beeline_{cell}_TFs{size}_{truth}"
    assert ds.sample_sheet is None and ds.promoters is None and ds.perturbations() == []


def test_expression_by_name_not_by_row(hsc):
    """The three truth folders hold the same matrix with rows permuted; the datasets agree gene by gene and
    equal the raw file's values (no transform)."""
    raws = {truth: raw_expression("mHSC-GM", 500, truth) for truth in bd.TRUTHS}
    assert raws["STRING"][0] != raws["Specific"][0]  # the row orders really differ
    assert sorted(raws["STRING"][0]) == sorted(raws["Specific"][0])
    ref = hsc["STRING"]
    for truth, ds in hsc.items():
        assert ds.genes == ref.genes and ds.samples == ref.samples
        np.testing.assert_array_equal(ds.expression, ref.expression)
        assert not ds.log_transformed and ds.expression.dtype == np.float32
        genes, cells, rows = raws[truth]
        assert tuple(cells) == ds.samples
        for k in (0, 1, len(genes) // 2, len(genes) - 1):  # rows of this folder, looked up by symbol
            expected = np.array(rows[k], dtype=np.float64).astype(np.float32)
            np.testing.assert_array_equal(ds.expression[ds.gene_index[genes[k]]], expected)
    # one gene across folders, by name: the same values whatever its row
    gene = raws["Specific"][0][0]
    rows_of = {t: raws[t][0].index(gene) for t in bd.TRUTHS}
    assert len(set(rows_of.values())) > 1
    values = {t: raws[t][2][rows_of[t]] for t in bd.TRUTHS}
    assert values["STRING"] == values["Non-Specific"] == values["Specific"]


def test_truth_edges_are_tf_edges_and_match_the_files(hsc):
    for truth, ds in hsc.items():
        net = raw_csv("mHSC-GM", 500, truth, "BL--network.csv")
        assert net[0][:2] == ["Gene1", "Gene2"]
        assert edge_set(ds.truth) == {(r[0], r[1]) for r in net[1:]}
        assert set(ds.truth["source"]) <= set(ds.tfs)  # every truth edge starts at a TF
        assert set(ds.truth["target"]) <= set(ds.genes)
        assert (ds.truth["source"] != ds.truth["target"]).all() and not ds.truth.duplicated().any()
        assert (ds.truth["sign"] == 0).all()
        pd.testing.assert_frame_equal(ds.prior, ds.truth)
        tf_rows = raw_csv("mHSC-GM", 500, truth, "TF.csv")
        assert ds.tfs == tuple(sorted(r[1] for r in tf_rows[1:]))
        # Label.csv indices resolve through THIS folder's row order (Target.csv) to the same edges
        targets = {int(r[2]): r[1] for r in raw_csv("mHSC-GM", 500, truth, "Target.csv")[1:]}
        label = {(targets[int(r[1])], targets[int(r[2])]) for r in raw_csv("mHSC-GM", 500, truth, "Label.csv")[1:]}
        assert label == edge_set(ds.truth)
    assert set(hsc["Specific"].tfs) - set(hsc["STRING"].tfs) == {"RPA1", "RPA2", "WDR5"}
    assert hsc["STRING"].tfs == hsc["Non-Specific"].tfs
    # the Specific network: few regulators, many targets each (a BEELINE property the tables rely on)
    assert hsc["Specific"].truth["source"].nunique() == 22


def test_write_load_round_trip(hsc, tmp_path):
    ds = hsc["Non-Specific"]
    folder = bd.write_beeline("mHSC-GM", 500, "Non-Specific", tmp_path / "set", dataset=ds)
    back = load_dataset(folder, log_transform=False)
    assert back.genes == ds.genes and back.samples == ds.samples and back.tfs == ds.tfs
    np.testing.assert_allclose(back.expression, ds.expression, rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(back.prior, ds.prior)
    pd.testing.assert_frame_equal(back.truth, ds.truth)
    assert back.warnings == []
    assert not load_dataset(folder).log_transformed  # "auto" also leaves the log-scaled values alone


def _write_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def test_expression_problems_fail_clearly(tmp_path):
    ok = "a,c1,c2\nG1,1.0,2.0\nG2,0.5,0\n"
    genes, cells, values = bd.read_expression(_write_gz(tmp_path / "ok.csv.gz", ok))
    assert genes == ["G1", "G2"] and cells == ["c1", "c2"] and values.tolist() == [[1.0, 2.0], [0.5, 0.0]]
    cases = {
        "nan": ("a,c1,c2\nG1,1.0,NaN\nG2,0.5,0\n", "NaN"),
        "empty": ("a,c1,c2\nG1,1.0,\nG2,0.5,0\n", "missing"),
        "text": ("a,c1,c2\nG1,1.0,x\nG2,0.5,0\n", "not numbers"),
        "dup_gene": ("a,c1,c2\nG1,1.0,2\nG1,0.5,0\n", "duplicated gene"),
        "dup_case": ("a,c1,c2\nSox2,1.0,2\nSOX2,0.5,0\n", "ignoring case"),
        "dup_cell": ("a,c1,c1\nG1,1.0,2\nG2,0.5,0\n", "duplicated cell id"),
    }
    for name, (text, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            bd.read_expression(_write_gz(tmp_path / f"{name}.csv.gz", text))


def _fake_set(root: Path, network: str, tfs=("T1", "T2")) -> Path:
    """A tiny fake shared folder with one BEELINE set (mHSC-GM TFs+500, STRING) and the network given."""
    genes = ["T1", "G2", "T2", "G4"]
    folder = root / "beeline_benchmark" / "STRING" / "mHSC-GM" / "TFs+500"
    _write_gz(folder / "BL--ExpressionData.csv.gz",
              ",c1,c2,c3\n" + "".join(f"{g},{k},{k + 1.5},{2 * k}\n" for k, g in enumerate(genes)))
    (folder / "Target.csv").write_text(",Gene,index\n" + "".join(f"{k},{g},{k}\n" for k, g in enumerate(genes)))
    (folder / "TF.csv").write_text(",TF,index\n" + "".join(f"{k},{t},{genes.index(t)}\n" for k, t in enumerate(tfs)))
    (folder / "BL--network.csv").write_text(network)
    pairs = [line.split(",")[:2] for line in network.strip().splitlines()[1:]]
    (folder / "Label.csv").write_text(",TF,Target\n" + "".join(
        f"{k},{genes.index(s) if s in genes else 99},{genes.index(t) if t in genes else 99}\n"
        for k, (s, t) in enumerate(pairs)))
    for truth in ("Non-Specific", "Specific"):
        (root / "beeline_benchmark" / truth).mkdir(parents=True, exist_ok=True)
    return folder


def test_dropped_edges_are_reported(tmp_path):
    network = ("Gene1,Gene2,Score\nT1,G2,1\nT1,G2,1\nT2,G4,3\nG2,G4,2\nT1,T1,5\nT1,XX,1\nT2,T1,1\n")
    _fake_set(tmp_path, network)
    ds = bd.load_beeline("mHSC-GM", 500, "STRING", shared=tmp_path)
    assert edge_set(ds.truth) == {("T1", "G2"), ("T2", "G4"), ("T2", "T1")}
    assert ds.tfs == ("T1", "T2") and ds.genes == ("G2", "G4", "T1", "T2")
    assert ds.expression[ds.gene_index["T2"]].tolist() == [2.0, 3.5, 4.0]
    text = " ".join(ds.warnings)
    assert "4 of 7 edges dropped" in text
    for part in ("1 self-loop", "1 gene not in the expression", "1 source not in TF.csv", "1 duplicate(s)"):
        assert part in text
    assert "Label.csv" in text  # its index 99 is outside the matrix


def test_mixed_up_folder_is_an_error(tmp_path):
    folder = _fake_set(tmp_path, "Gene1,Gene2\nT1,G2\n")
    (folder / "TF.csv").write_text(",TF,index\n0,T1,1\n1,T2,2\n")  # T1 is row 0, not 1
    with pytest.raises(ValueError, match="do not match the expression file"):
        bd.load_beeline("mHSC-GM", 500, "STRING", shared=tmp_path)


def test_missing_data_env_override_and_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLGRN_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="MTLGRN_SHARED_DATA"):
        bd.load_beeline("mHSC-GM", 500, "STRING")
    assert bd.main(["--cell", "mHSC-GM", "--out", str(tmp_path / "x")]) == 2
    bl = _module("beeline")
    assert bl.main(["--quick", "--out", str(tmp_path / "y")]) == 2
    assert "missing or incomplete" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no expression"):
        bd.load_beeline("mESC", 1000, "STRING", shared=SHARED)
    monkeypatch.setenv("MTLGRN_SHARED_DATA", str(SHARED))
    assert bd.main(["--cell", "mHSC-GM", "--truth", "Non-Specific", "--out", str(tmp_path / "set")]) == 0
    assert "743 ground-truth edges" in capsys.readouterr().out
    back = load_dataset(tmp_path / "set", log_transform=False)
    assert back.n_genes == 632 and len(back.tfs) == 132 and len(back.truth) == 743


def test_genie3_table_shared_across_truths(hsc):
    """GENIE3 is computed once per cell / size over the union of TF lists; each dataset's lookups equal a
    direct computation on its own candidate pairs (targets regressed on the union TFs)."""
    bl = _module("beeline")  # puts bench/ on sys.path
    from common import Clock

    datasets = list(hsc.values())
    tables, timing = bl.unsupervised_tables(datasets, 1, Clock(), "test")
    assert [t["step"] for t in timing] == ["genie3"]  # one computation for the three truths
    assert timing[0]["pairs"] == 135 * 632 - 135
    union = np.unique(np.concatenate([ds.tf_indices for ds in datasets]))
    for ds in datasets:
        src, dst = candidate_pairs(ds.n_genes, ds.tf_indices)
        some = np.isin(dst, dst[:3])
        np.testing.assert_allclose(tables[ds.name]["GENIE3"].lookup(src[some], dst[some]),
                                   genie3_scores(ds.expression, union, src[some], dst[some], n_trees=1))
        assert tables[ds.name]["GENIE3"] is tables[datasets[0].name]["GENIE3"]


def test_driver_smoke(tmp_path, hsc):
    bl = _module("beeline")
    out = tmp_path / "out"
    assert bl.main(["--sets", "mHSC-GM:500", "--truths", "Non-Specific", "--seeds", "0", "--epochs", "3",
                    "--genie3-trees", "2", "--no-ablation", "--out", str(out)]) == 0
    text = (out / "tables.md").read_text()
    assert "## mHSC-GM TFs+500 Non-Specific — edge hold-out" in text
    assert "## mHSC-GM TFs+500 Non-Specific — TF hold-out" in text
    edge = pd.read_csv(out / "edge.csv")
    assert "## mHSC-GM TFs+500 Non-Specific — edge hold-out, reciprocal pairs grouped" in text
    methods = {"MTLGRN", "random", "degree", "reverse edge", "|Pearson|", "GENIE3"}
    as_users_get_it = "MTLGRN " + _module("common").AS_DASHBOARD  # the TF hold-out also scores the run trained as by default
    assert set(edge.loc[edge["split"] != "tf", "method"]) == methods
    assert set(edge.loc[edge["split"] == "tf", "method"]) == methods | {as_users_get_it}
    assert len(edge) == 19 and set(edge["split"]) == {"edge", "edge_grouped", "tf"}
    for kind, sub in edge.groupby("split"):  # every method on the same test pairs
        assert sub["n_pairs"].nunique() == 1 and sub["n_positives"].nunique() == 1
    timing = pd.read_csv(out / "timing.csv")
    assert {"genie3", "fit edge: MTLGRN", "fit edge_grouped: MTLGRN", "fit tf: MTLGRN",
            f"fit tf: {as_users_get_it}"} <= set(timing["step"])
    ds = hsc["Non-Specific"]
    for kind in ("edge", "edge_grouped", "tf"):
        path = out / "splits" / f"mHSC-GM_TFs500_Non-Specific_{kind}_seed0.csv"
        split = read_split(path, ds.genes, tfs=ds.tfs)
        expected = make_split(ds, kind, 0)
        src, dst, labels = split.pairs(TEST)
        esrc, edst, elabels = expected.pairs(TEST)
        np.testing.assert_array_equal(np.stack([src, dst, labels]), np.stack([esrc, edst, elabels]))
        row = edge[(edge["split"] == kind) & (edge["method"] == "|Pearson|")].iloc[0]
        direct = edge_metrics(pearson_scores(ds.expression, src, dst), labels.astype(bool))
        assert row["auprc"] == pytest.approx(direct["auprc"], abs=1e-5)  # metrics.json keeps 5 decimals
        assert row["n_positives"] == labels.sum()
