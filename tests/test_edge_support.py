"""What a thin overlap of the prior and the measured genes supports (issue 26, item 3): the count of test edges
a prior gives, the note on the Data page and in train, and the figures held back below the threshold."""

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.cli import main
from mtlgrn_core.evaluation.edge_support import (
    MIN_TEST_POSITIVES,
    expected_test_positives,
    prior_support,
    thin_reference_note,
)
from mtlgrn_core.inputs.data import build_dataset, write_dataset
from mtlgrn_core.model.splits import edge_holdout_split


@pytest.mark.parametrize("n_edges", [5, 58, 66, 67, 300])
def test_the_expected_test_edges_are_those_the_edge_split_holds_out(n_edges):
    n_genes = 60
    rng = np.random.default_rng(n_edges)
    tfs = np.arange(12)
    pairs = [(t, g) for t in tfs for g in range(n_genes) if t != g]
    chosen = np.array([pairs[k] for k in rng.choice(len(pairs), n_edges, replace=False)]).T
    split = edge_holdout_split(n_genes, tfs, chosen, seed=0)
    assert split.counts()["test_positives"] == expected_test_positives(n_edges)


def test_a_prior_gives_a_note_only_below_the_test_edges_figures_need():
    assert expected_test_positives(58) == 17 < MIN_TEST_POSITIVES  # the scanpy file with TRRUST (issue 26)
    note, thin = prior_support(58, 47)
    assert thin and "Only 58 known edges join two measured genes (47 regulators)" in note and "about 17" in note
    assert "Keep every gene" in note and "larger prior" in note
    assert expected_test_positives(67) >= MIN_TEST_POSITIVES
    note, thin = prior_support(67, 10)
    assert not thin and note == ("67 known edges join two measured genes (10 regulators); the test split holds "
                                 "about 20 of them out to score the edge figures.")
    assert thin_reference_note(MIN_TEST_POSITIVES) is None
    assert "holds 12 true edges" in thin_reference_note(12) and "8 points" in thin_reference_note(12)


def _dataset(n_edges: int):
    rng = np.random.default_rng(0)
    genes = [f"G{j:02d}" for j in range(40)]
    edges = [(genes[t], genes[g]) for t in range(8) for g in range(8, 40)][:n_edges]
    prior = pd.DataFrame(edges, columns=["source", "target"]).assign(sign=1)
    return build_dataset(genes=genes, samples=[f"s{k}" for k in range(30)],
                         expression=rng.normal(size=(40, 30)).astype(np.float32), prior=prior, name="thin")


def test_a_thin_prior_is_said_when_training(tmp_path, capsys):
    folder = write_dataset(_dataset(40), tmp_path / "thin")
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "note: prior: Only 40 known edges join two measured genes (2 regulators)" in err
    assert "the edge figures above mean little: the held-out part of the prior holds 12 true edges" in err
    assert main(["evaluate", "--run", str(tmp_path / "run")]) == 0
    assert "the edge figures above mean little: the held-out part of the prior holds 12" in capsys.readouterr().err
    folder = write_dataset(_dataset(120), tmp_path / "ample")
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run2"), "--epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "note: prior: 120 known edges join two measured genes (4 regulators); the test split holds about 36" in err
    assert "mean little" not in err
