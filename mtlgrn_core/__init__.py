"""MTLGRN core: gene-regulatory-network inference and knockout prediction with a multi-task GNN.

The public API is re-exported here; heavy modules (torch) load on first use so that importing the package
stays light and never pulls in streamlit. Importing it first sets the threads of the numeric libraries and how they
wait (:mod:`mtlgrn_core.threads`), before torch starts. The simulator is ``mtlgrn_core.inputs.simulate.simulate`` (not
re-exported: the name would clash with its module).
"""

from __future__ import annotations

import importlib

from mtlgrn_core import threads

threads.configure()  # before anything imports torch: OpenMP reads its wait policy once, when it loads

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset, Perturbation, build_dataset, load_dataset, write_dataset
from mtlgrn_core.version import __version__

_LAZY = {
    "TrainConfig": "mtlgrn_core.model.train",
    "fit": "mtlgrn_core.model.train",
    "Run": "mtlgrn_core.model.run",
    "load_run": "mtlgrn_core.runs.run_folder",
    "save_run": "mtlgrn_core.runs.run_folder",
    "score_edges": "mtlgrn_core.answers.infer",
    "predict_knockout": "mtlgrn_core.answers.infer",
}

__all__ = ["__version__", "Dataset", "Perturbation", "DataValidationError", "build_dataset", "load_dataset",
           "write_dataset", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtlgrn_core' has no attribute {name!r}")
