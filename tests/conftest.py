"""Fixtures of the core tests that evaluate, ablate and query runs: a small simulated dataset (40 genes, every
kind of input) and a run trained on it in seconds. A test module's own fixture of the same name wins."""

import pytest

from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit

FAST = TrainConfig(epochs=5, patience=5, hidden=16, heads=2)


@pytest.fixture(scope="session")
def dataset():
    return simulate(40, seed=1)


@pytest.fixture(scope="session")
def run(dataset):
    return fit(dataset, FAST)
