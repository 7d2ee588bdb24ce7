"""Home-page helpers: the default demo dataset and the one-click quick start."""

from __future__ import annotations

from mtlgrn_core.model.config import TrainConfig

from . import resources, state
from .data_loading import load_demo
from .training import start_training

DEMO_GENES, DEMO_SEED = 150, 0


def ensure_some_dataset() -> None:
    """A new session starts on the built-in demo data (the latest dataset if the workspace has others)."""
    if state.get(state.DATASET_ID):
        return
    entries = resources.workspace().datasets()
    if entries:
        state.put(state.DATASET_ID, entries[0].id)
    else:
        load_demo(DEMO_GENES, DEMO_SEED)


def quick_start() -> None:
    """Load the demo and start training it with the default settings."""
    dataset_id = load_demo(DEMO_GENES, DEMO_SEED)
    if dataset_id:
        start_training(dataset_id, TrainConfig(), "demo quick start")
