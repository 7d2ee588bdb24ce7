"""The big-upload bench's harness (bench/server_load.py): the CSV it writes reads back as the matrix it meant, and one
measurement of each reader gives the same dataset's size with its seconds and memory."""

import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import server_load  # noqa: E402

from mtlgrn_core.inputs import data  # noqa: E402
from mtlgrn_core.inputs.matrix_csv import read_matrix_csv  # noqa: E402


def test_the_written_csv_and_one_measurement_of_each_reader(tmp_path, monkeypatch):
    path = server_load.write_csv(tmp_path / "expression.csv", 50, 8)
    rows, columns, matrix = read_matrix_csv(path)
    assert rows[:2] == ["G00000", "G00001"] and columns[0] == "s0000" and matrix.shape == (50, 8)
    assert np.allclose(matrix * 100, np.round(matrix * 100), atol=1e-3) and (matrix >= 0).all()
    monkeypatch.setattr(data, "STREAM_MIN_BYTES", 0)  # a small file through the streamed reader
    streamed = server_load.measure(path, "streamed")
    careful = server_load.measure(path, "careful")
    assert (streamed["genes"], streamed["samples"]) == (careful["genes"], careful["samples"]) == (50, 8)
    assert streamed["peak GiB"] >= streamed["idle GiB"] > 0 and careful["check and load s"] > 0
