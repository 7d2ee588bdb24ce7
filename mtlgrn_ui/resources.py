"""Cached resources shared by every session of the server: the workspace, the queue its trainings take turns in,
training jobs, loaded runs."""

from __future__ import annotations

import gc
import threading

import streamlit as st

from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.run import Run
from mtlgrn_core.runs.compute_queue import ComputeQueue
from mtlgrn_core.runs.ensemble import Ensemble, load_ensemble
from mtlgrn_core.runs.jobs import TrainingJob
from mtlgrn_core.runs.run_folder import is_ensemble, load_run
from mtlgrn_core.runs.workspace import Workspace


@st.cache_resource
def workspace() -> Workspace:
    """The server's workspace (``$MTLGRN_HOME`` or ``./.mtlgrn``): datasets and runs survive restarts."""
    return Workspace()


@st.cache_resource
def compute_queue() -> ComputeQueue:
    """The server's one queue for work that trains models (every session's trainings, ensembles, retrainings):
    ``MTLGRN_TRAINING_SLOTS`` of them run at once (default 1, so that each gets every core), the others wait in
    the order they were started."""
    return ComputeQueue()


class JobRegistry:
    """Training jobs of all sessions, by id (a session keeps only its job's id)."""

    def __init__(self):
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def start(self, dataset_id: str, config: TrainConfig, name: str) -> str:
        job = TrainingJob(workspace(), dataset_id, config, name, queue=compute_queue())
        job_id = f"{id(job):x}-{len(self._jobs)}"
        with self._lock:
            self._jobs[job_id] = job
        job.start()
        return job_id

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None


@st.cache_resource
def jobs() -> JobRegistry:
    return JobRegistry()


@st.cache_resource(max_entries=8)
def run(run_id: str) -> Run:
    """A trained run, loaded once (eval mode, never mutated, embeddings computed)."""
    loaded = load_run(workspace().run_path(run_id))
    loaded.embeddings()
    # the run's many long-lived objects leave the garbage collector's young generations: without this about
    # one query in 14 paused 300-400 ms for a full collection (measured on the knockout page)
    gc.freeze()
    return loaded


@st.cache_resource(max_entries=4)
def ensemble(run_id: str) -> Ensemble | None:
    """The run's ensemble when it is one (members loaded once, embeddings computed), else None."""
    path = workspace().run_path(run_id)
    if not is_ensemble(path):
        return None
    loaded = load_ensemble(path)
    for member in loaded.members:
        member.embeddings()
    gc.freeze()
    return loaded


@st.cache_resource(max_entries=4)
def dataset(dataset_id: str) -> Dataset:
    """A workspace dataset, loaded once (treated as read-only)."""
    return workspace().load_dataset(dataset_id)


def stored_dataset_id(run_id: str) -> str | None:
    """The id of the dataset a run was trained on, when that dataset is still in the workspace."""
    dataset_id = run(run_id).info.get("dataset_id")
    return dataset_id if any(e.id == dataset_id for e in workspace().datasets()) else None
