"""Tests of bench/dream4_data.py: the DREAM4 size-100 networks 1-4 as MTLGRN datasets.

Values are checked against the raw files read here independently (plain ``csv``), by gene NAME, because the
Dataset sorts genes by name (G1, G10, G100, G11, ...) while the files are in numeric order. Skipped when
``../shared/data/dream4_insilico`` is absent.
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

_SPEC = importlib.util.spec_from_file_location(
    "dream4_data", Path(__file__).resolve().parents[1] / "bench" / "dream4_data.py")
d4 = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("dream4_data", d4)
_SPEC.loader.exec_module(d4)

try:
    DREAM4 = d4.dream4_dir()
except FileNotFoundError as exc:
    pytest.skip(f"../shared/data/dream4_insilico not found: {exc}", allow_module_level=True)
SHARED = DREAM4.parent

EDGES = {1: 176, 2: 249, 3: 195, 4: 211}


def raw(net: int, kind: str) -> list[list[str]]:
    """Rows of a raw DREAM4 size-100 file (quotes stripped, blank lines kept as [])."""
    path = DREAM4 / "size100" / f"insilico_size100_{net}" / f"insilico_size100_{net}_{kind}.tsv"
    with open(path, newline="") as fh:
        return [[c.strip('"') for c in row] for row in csv.reader(fh, delimiter="\t")]


def cell(ds, gene: str, sample: str) -> float:
    return float(ds.expression[ds.gene_index[gene], ds.samples.index(sample)])


@pytest.fixture(scope="module")
def datasets():
    return {net: d4.load_dream4(net) for net in d4.NETS}


@pytest.mark.parametrize("net", d4.NETS)
def test_genes_samples_and_sheet(datasets, net):
    ds = datasets[net]
    assert ds.n_genes == 100
    assert list(ds.genes) == sorted(f"G{i}" for i in range(1, 101))
    assert ds.genes[:4] == ("G1", "G10", "G100", "G11")
    assert ds.tfs == ds.genes
    assert len(ds.samples) == 511 and len(set(ds.samples)) == 511
    counts = pd.Series([s.split("_")[0][:2] for s in ds.samples]).value_counts().to_dict()
    assert counts == {"wt": 1, "ko": 100, "kd": 100, "mf": 100, "ts": 210}
    assert ds.samples[0] == "wt" and ds.samples[1] == "ko_G1" and ds.samples[-1] == "ts10_t1000"
    assert "mf_001" in ds.samples and "mf_100" in ds.samples and "ts01_t0000" in ds.samples
    sheet = ds.sample_sheet.set_index("sample")
    assert list(sheet.index) == list(ds.samples)
    assert tuple(sheet.loc["wt"]) == ("control", 1.0)
    assert tuple(sheet.loc["ko_G37"]) == ("G37", 0.0)
    assert tuple(sheet.loc["kd_G37"]) == ("G37", 0.5)
    assert tuple(sheet.loc["mf_042"]) == ("", 1.0)
    assert tuple(sheet.loc["ts03_t0500"]) == ("", 1.0)
    assert list(ds.control_samples()) == [0]
    assert len(ds.perturbations()) == 200
    assert not ds.log_transformed and ds.expression.dtype == np.float32
    assert 0.0 <= ds.expression.min() and ds.expression.max() <= 1.0
    assert ds.warnings == []


@pytest.mark.parametrize("net", d4.NETS)
def test_every_gold_standard_edge_with_sign(datasets, net):
    ds = datasets[net]
    gold = {(r[0], r[1]) for r in raw(net, "goldstandard") if r and r[2] == "1"}
    assert len(gold) == EDGES[net]
    signs = {(r[0], r[1]): {"+": 1, "-": -1, "+-": 0}[r[2]] for r in raw(net, "goldstandard_signed") if r}
    assert set(signs) == gold
    for edges in (ds.prior, ds.truth):
        assert len(edges) == EDGES[net]
        got = {(s, t): int(g) for s, t, g in edges[["source", "target", "sign"]].itertuples(index=False)}
        assert got == signs


def test_steady_state_values_by_name(datasets):
    ds = datasets[1]
    ko, kd, wt = raw(1, "knockouts"), raw(1, "knockdowns"), raw(1, "wildtype")
    col = ko[0].index("G37")
    # knockouts.tsv data row 10 (file line 11) = knockout of G10
    assert cell(ds, "G37", "ko_G10") == pytest.approx(float(ko[10][col]), abs=1e-7)
    assert cell(ds, "G100", "ko_G2") == pytest.approx(float(ko[2][ko[0].index("G100")]), abs=1e-7)
    assert cell(ds, "G10", "ko_G10") == pytest.approx(float(ko[10][ko[0].index("G10")]), abs=1e-7)
    assert cell(ds, "G37", "kd_G10") == pytest.approx(float(kd[10][col]), abs=1e-7)
    assert cell(ds, "G37", "wt") == pytest.approx(float(wt[1][col]), abs=1e-7)
    # time series: block 2, third row (t = 100)
    ts = raw(1, "timeseries")
    blocks, current = [], []
    for row in ts[1:]:
        if row:
            current.append(row)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    assert len(blocks) == 10 and all(len(b) == 21 for b in blocks)
    assert float(blocks[1][2][0]) == 100.0
    assert cell(ds, "G37", "ts02_t0100") == pytest.approx(float(blocks[1][2][ts[0].index("G37")]), abs=1e-7)


@pytest.mark.parametrize("net", [1, 3])
def test_multifactorial_genes_mapped_back(datasets, net):
    ds = datasets[net]
    folder = DREAM4 / "size100_multifactorial"
    with open(folder / f"insilico_size100_multifactorial_{net}_gene_mapping.tsv") as fh:
        rows = [[c.strip('"') for c in r] for r in csv.reader(fh, delimiter="\t")]
    assert rows[0] == ["New", "Old"]
    old_to_new = {old: new for new, old in rows[1:]}
    with open(folder / f"insilico_size100_{net}_multifactorial.tsv") as fh:
        mf = [[c.strip('"') for c in r] for r in csv.reader(fh, delimiter="\t")]
    assert len(mf) == 101
    new = old_to_new["G5"]
    assert new != "G5"  # the mapping is not the identity, so a forgotten mapping would fail here
    # sample mf_007 = data row 7; size-100 gene G5 is column `new` of the multifactorial file
    assert cell(ds, "G5", "mf_007") == pytest.approx(float(mf[7][mf[0].index(new)]), abs=1e-7)
    assert cell(ds, "G5", "mf_007") != pytest.approx(float(mf[7][mf[0].index("G5")]), abs=1e-7)
    # the mapped multifactorial gold standard equals the size-100 one (the mapping direction is New -> Old)
    with open(folder / f"insilico_size100_multifactorial_{net}_goldstandard.tsv") as fh:
        new_to_old = {n: o for o, n in old_to_new.items()}
        mapped = {(new_to_old[r[0]], new_to_old[r[1]]) for r in csv.reader(fh, delimiter="\t") if r and r[2] == "1"}
    assert mapped == set(zip(ds.truth["source"], ds.truth["target"]))


@pytest.mark.parametrize("net", d4.NETS)
def test_promoters_all_500bp(datasets, net):
    ds = datasets[net]
    assert set(ds.promoters) == set(ds.genes)
    assert all(len(s) == 500 and set(s) <= set("ACGT") for s in ds.promoters.values())
    # distinct sequences, except two real genomic duplicates in net 4: Ty1 gag / gag-pol (YLR410W-A / -B) share
    # their start codon, and HMLALPHA1 (silent copy) / MATALPHA1 have identical upstream windows
    shared = {frozenset(g for g, s in ds.promoters.items() if s == seq) for seq in ds.promoters.values()}
    shared = {pair for pair in shared if len(pair) > 1}
    assert shared == ({frozenset({"G87", "G88"}), frozenset({"G11", "G23"})} if net == 4 else set())
    info = d4.dream4_promoter_info(net)
    assert info["found"].all() and (info["length"] == 500).all()


def test_promoter_joined_by_real_name(datasets):
    names = dict(r for r in raw(1, "gene_names")[1:] if r)
    real = names["G1"]
    assert real == "appY"
    with gzip.open(SHARED / "promoters" / "ecoli_upstream500.fa.gz", "rt") as fh:
        lines = fh.read().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(f">{real} "))
    assert datasets[1].promoters["G1"] == lines[k + 1]


def test_write_load_round_trip(datasets, tmp_path):
    ds = datasets[2]
    folder = d4.write_dream4(2, tmp_path / "net2", dataset=ds)
    back = load_dataset(folder, log_transform=False)
    assert back.genes == ds.genes and back.samples == ds.samples and back.tfs == ds.tfs
    np.testing.assert_allclose(back.expression, ds.expression, rtol=1e-5, atol=1e-7)
    pd.testing.assert_frame_equal(back.sample_sheet, ds.sample_sheet)
    pd.testing.assert_frame_equal(back.prior, ds.prior)
    pd.testing.assert_frame_equal(back.truth, ds.truth)
    assert back.promoters == ds.promoters
    assert back.warnings == []
    saved = np.load(folder / "knockout_truth.npz")
    assert tuple(saved["genes"]) == ds.genes and saved["double_states"].shape == (20, 100)


def test_knockout_truth_aligned_by_name(datasets):
    ds = datasets[1]
    truth = d4.dream4_knockout_truth(1)
    genes = list(truth["genes"])
    assert tuple(genes) == ds.genes
    assert truth["wildtype"].shape == (100,) and truth["knockouts"].shape == (100, 100)
    ko = raw(1, "knockouts")
    # row = knocked-out gene G10, column = gene G37, both by name in the sorted order
    assert truth["knockouts"][genes.index("G10"), genes.index("G37")] == float(ko[10][ko[0].index("G37")])
    assert truth["wildtype"][genes.index("G37")] == float(raw(1, "wildtype")[1][ko[0].index("G37")])
    np.testing.assert_allclose(truth["knockouts"][genes.index("G10")],
                               ds.expression[:, ds.samples.index("ko_G10")], atol=1e-7)
    np.testing.assert_allclose(truth["wildtype"], ds.expression[:, 0], atol=1e-7)
    assert np.all(np.diag(truth["knockouts"]) < 0.01)  # a knocked-out gene is ~0 in its own knockout

    # double knockouts: first pair of net 1 is "37 46" (1-based gene numbers)
    pair = raw(1, "dualknockouts_indexes")
    assert pair[0] == ["G_i", "G_j"] and pair[1] == ["37", "46"]
    assert truth["double_pairs"][0] == ("G37", "G46") and len(truth["double_pairs"]) == 20
    assert list(truth["double_index"][0]) == [genes.index("G37"), genes.index("G46")]
    states = raw(1, "nonoise_dualknockouts_goldstandard")  # no header: row 0 = pair 1, column k = gene G(k+1)
    assert truth["double_states"].shape == (20, 100)
    assert truth["double_states"][0, genes.index("G10")] == float(states[0][9])
    assert truth["double_states"][0, genes.index("G100")] == float(states[0][99])
    for r, (a, b) in enumerate(truth["double_index"]):
        assert truth["double_states"][r, a] < 1e-5 and truth["double_states"][r, b] < 1e-5


def test_source_networks_not_needed_and_env_override(tmp_path, monkeypatch, capsys):
    """A shared folder WITHOUT source_networks/ works (via $MTLGRN_SHARED_DATA); the CLI writes a folder."""
    (tmp_path / "shared" / "dream4_insilico").mkdir(parents=True)
    for name in ("size100", "size100_multifactorial"):
        (tmp_path / "shared" / "dream4_insilico" / name).symlink_to(DREAM4 / name)
    (tmp_path / "shared" / "promoters").symlink_to(SHARED / "promoters")
    monkeypatch.setenv("MTLGRN_SHARED_DATA", str(tmp_path / "shared"))
    assert d4.dream4_dir() == tmp_path / "shared" / "dream4_insilico"
    assert d4.main(["--net", "4", "--out", str(tmp_path / "out")]) == 0
    assert "211 gold-standard edges" in capsys.readouterr().out
    back = load_dataset(tmp_path / "out", log_transform=False)
    assert back.n_genes == 100 and len(back.samples) == 511 and len(back.truth) == 211
    monkeypatch.setenv("MTLGRN_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="MTLGRN_SHARED_DATA"):
        d4.load_dream4(1)
    with pytest.raises(ValueError, match="held out"):
        d4.load_dream4(5, shared=SHARED)
