"""bench/single_cell.py (issue 24): its two data generators (a prior that carries signal, a random one), the
seconds per part of a load and a training, one measured configuration in its table, and the second job stopped
however the measurement ends."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import single_cell as bench  # noqa: E402

from mtlgrn_core.inputs.data import load_dataset, write_dataset
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.inputs.single_cell import CellOptions
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from tests.single_cell_data import write_lab_data  # noqa: E402


def activating_and_other_correlation(make) -> tuple[float, float]:
    """Across cells (log-normalised counts), a regulator's mean correlation with its measured Activation targets,
    and with genes drawn at random."""
    adata, network = make(400, 1000, 0.3, 200, 0)
    counts = adata.X.toarray()
    logged = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    r = np.corrcoef(logged.T)
    index = {g: j for j, g in enumerate(adata.var["gene_symbols"])}
    active = network[(network["mode"] == "Activation") & network["target"].isin(index)]
    linked = np.mean([r[index[s], index[t]] for s, t in zip(active["TF"], active["target"])])
    drawn = np.random.default_rng(1).integers(0, len(index), len(active))
    other = np.mean([r[index[s], g] for s, g in zip(active["TF"], drawn)])
    return float(linked), float(other)


def test_with_the_signal_prior_a_target_follows_its_activating_regulator():
    linked, other = activating_and_other_correlation(bench.signal_data)
    assert linked > 0.1 and linked > 5 * abs(other)
    linked, other = activating_and_other_correlation(bench.random_data)  # what the signal prior adds
    assert abs(linked) < 0.05


@pytest.mark.parametrize("make", [bench.signal_data, bench.random_data])
def test_the_prior_looks_like_a_database_one(make):
    adata, network = make(800, 300, 0.08, 600, 0)
    assert list(network.columns) == ["TF", "target", "mode"] and not network.duplicated(["TF", "target"]).any()
    assert set(network["mode"]) == {"Activation", "Repression", "Unknown"}
    assert set(network["TF"]) <= set(adata.var["gene_symbols"]) and network["TF"].nunique() <= 200
    unmeasured = ~network["target"].isin(set(adata.var["gene_symbols"]))
    assert 0.15 < unmeasured.mean() < 0.35  # a quarter of the target names are not measured
    assert abs(adata.X.nnz / np.prod(adata.shape) - 0.08) < 0.02


def test_each_signal_edge_acts_with_the_sign_of_its_mode():
    network, effects = bench.signal_prior(np.random.default_rng(0), 800, 600)
    symbols = bench.symbols(800)
    dense = effects.toarray()
    # a regulator's row holds 1 on its own gene (its expression follows its activity) and its edges' weights
    row_of = {symbols[int(np.flatnonzero(row == 1.0)[0])]: k for k, row in enumerate(dense)}
    measured = network[network["target"].isin(set(symbols))]
    weights = np.array([dense[row_of[s], symbols.index(t)] for s, t in zip(measured["TF"], measured["target"])])
    mode = measured["mode"].to_numpy()
    assert (weights[mode == "Activation"] > 0).all() and (weights[mode == "Repression"] < 0).all()
    assert (weights != 0).all() and (mode == "Unknown").mean() > 0.1


def test_each_prior_kind_is_generated_once_into_its_own_folder(tmp_path):
    folders = [bench.data_folder(tmp_path, kind, 300, 200, 0.08, 100) for kind in bench.PRIORS]
    assert folders[0] != folders[1]
    for kind, folder in zip(bench.PRIORS, folders):
        bench.generate(folder, kind, 300, 200, 0.08, 100)
        written = (folder / "expression.h5ad").stat().st_mtime_ns
        bench.generate(folder, kind, 300, 200, 0.08, 100)
        assert (folder / "expression.h5ad").stat().st_mtime_ns == written


def test_a_load_reports_the_seconds_of_each_step(tmp_path):
    write_lab_data(tmp_path)
    dataset = load_dataset(tmp_path, cells=CellOptions(layer="counts", group_column="cell_type", max_genes=100,
                                                       max_samples=40))
    steps = ("inputs", "read", "normalise", "select_genes", "metacells", "aggregate", "build")
    assert set(dataset.timings) == set(steps) and all(dataset.timings[s] > 0 for s in steps)
    write_dataset(dataset, tmp_path / "table")
    assert set(load_dataset(tmp_path / "table").timings) == {"inputs", "read", "build"}


def test_a_training_reports_the_seconds_of_building_its_inputs():
    dataset = simulate(30, seed=0)
    run = fit(dataset, TrainConfig(epochs=2))
    assert run.info["knockout_validation"]["refit"]  # two fits: the seconds of both
    assert run.info["input_seconds"] > 0 and run.info["train_seconds"] > 0


def test_one_configuration_is_measured_part_by_part_and_tabulated(tmp_path):
    folder = bench.data_folder(tmp_path, "signal", 300, 400, 0.08, 150)
    bench.generate(folder, "signal", 300, 400, 0.08, 150)
    result = bench.measure(folder, 100, 60)
    parts = [f"{p}_s" for p in bench.LOAD_PARTS + ("inputs", "train", "evaluation", "score")]
    assert all(result[p] > 0 for p in parts) and result["other_s"] >= 0
    assert result["total_s"] == pytest.approx(sum(result[p] for p in parts + ["other_s"]))
    row = {"prior": "signal", "config": "tiny", "beside": "training", "beside_trainings": [3.0, 4.0],
           "result": result}
    line = bench.table_row(row, 60)
    assert line.startswith("| signal | tiny | training (2 done) |")
    assert line.count("|") == bench.HEADER.count("|")
    unfinished = bench.table_row({**row, "result": None}, 60)
    assert "did not finish within 60 minutes" in unfinished and unfinished.count("|") == bench.HEADER.count("|")


def test_the_second_job_trains_until_stopped_however_the_block_ends(tmp_path):
    write_dataset(simulate(20, seed=0), tmp_path / "data")
    with pytest.raises(KeyboardInterrupt):
        with bench.second_training(tmp_path / "data", tmp_path / "job") as job:
            process = job.process
            deadline = time.monotonic() + 120
            while len(job.finished()) < 2 and time.monotonic() < deadline:  # training after training
                assert process.poll() is None
                time.sleep(0.2)
            assert len(job.finished()) >= 2 and all(seconds > 0 for seconds in job.finished())
            raise KeyboardInterrupt
    assert process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of its process group is left
