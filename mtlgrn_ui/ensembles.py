"""Train page: an ensemble of runs (several seeds) trained as Dask tasks, on this machine or on a cluster."""

from __future__ import annotations

import streamlit as st

from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.runs.cluster import train_workspace_ensemble
from mtlgrn_core.runs.jobs import FINISHED
from mtlgrn_core.viz.escape import markdown_text

from . import resources
from .background import task_state, tasks

ENSEMBLE_EPOCHS = 100
ENSEMBLE = "ensemble"
BOOTSTRAP_HELP = ("Each member trains on a resample of the training samples, drawn with replacement, so the spread of "
                  "the ensemble's predictions reflects how much the data support them.")


def ensemble_training_section(dataset_id: str) -> None:
    """Members (with or without bootstrap), epochs, a name and a scheduler address; trains in the background, then
    says what was saved."""
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2], vertical_alignment="bottom")
    members = int(c1.number_input("Members (seeds)", 2, 50, 5, 1, key="ensemble_members",
                                  help="Runs of the same data with the default training settings (not the form "
                                       "above) and seeds 0, 1, …; their agreement gives each edge a stability and "
                                       "each predicted change a spread."))
    bootstrap = c2.checkbox("Bootstrap", value=False, key="ensemble_bootstrap", help=BOOTSTRAP_HELP)
    epochs = int(c3.number_input("Epochs per member", 1, 2000, ENSEMBLE_EPOCHS, 10, key="ensemble_epochs"))
    name = c4.text_input("Run name", value="ensemble", key="ensemble_name")
    scheduler = st.text_input("Dask scheduler (empty: this machine)", value="", key="ensemble_scheduler",
                              placeholder="tcp://host:8786",
                              help="The address of a running Dask scheduler to train the members on a cluster; "
                                   "empty trains them on this machine, up to 4 at a time (at most one per core), "
                                   "when its turn comes among the trainings on this server.")
    st.caption("The members train as Dask tasks; a member that fails (or whose worker dies) is retried once and "
               "otherwise left out. The ensemble appears among the saved runs below; the Network and Knockout pages "
               "then show edge stability and the spread of each predicted change.")
    key = (dataset_id, ENSEMBLE)
    snap = task_state(dataset_id, ENSEMBLE)
    running = snap is not None and not snap.finished
    if st.button("Train the ensemble", key="ensemble_train", disabled=running):
        config = TrainConfig(epochs=epochs, bootstrap=bootstrap)
        address = scheduler.strip() or None
        tasks().forget(key)
        label = name.strip() or ENSEMBLE
        tasks().start(key, "Training an ensemble",
                      lambda on_step, stop: train_workspace_ensemble(
                          resources.workspace(), dataset_id, config, members, label, scheduler=address,
                          on_step=on_step, stop=stop), params={"name": label, "bootstrap": bootstrap},
                      queued=address is None)  # on this machine it uses every core: it takes its turn
        st.rerun()
    if snap is not None and snap.status == FINISHED:
        outcome = snap.result
        if outcome.out is None:
            st.error("Every member failed; nothing was saved. " + markdown_text(_failures(outcome.failures)))
            return
        label = snap.params.get("name", outcome.out.name)
        kind = " bootstrap" if snap.params.get("bootstrap") else ""
        st.success(f"Ensemble of {len(outcome.trained)}{kind} members saved as run '{markdown_text(label)}': select "
                   "it among the saved runs below.")
        if outcome.failures:
            st.warning(markdown_text(_failures(outcome.failures)))


def _failures(failures: list[dict]) -> str:
    return " ".join(f"Member seed {f['seed']} failed (attempt {f['attempt']}): {f['error']}." for f in failures)
