"""Session state: the one module that owns the keys. Only small ids are stored, never models or tensors (and one
uploaded table's bytes, which the page must not lose while its uploader is not drawn)."""

from __future__ import annotations

import streamlit as st

DATASET_ID = "dataset_id"  # id of the dataset in the workspace this session works on
RUN_ID = "run_id"  # id of the selected trained run
JOB_ID = "job_id"  # id of this session's training job, while one runs
KO_HISTORY = "ko_history"  # list of (genes tuple, dose) queries of the knockout page
KO_EXPERIMENT = "ko_experiment"  # (file name, bytes) of the differential-expression table uploaded on that page
DATA_MESSAGE = "data_message"  # message shown once after the rerun that follows loading a dataset
JOB_MESSAGE = "last_job_message"  # (kind, text) shown once after this session's training job ended

_DEFAULTS = {DATASET_ID: None, RUN_ID: None, JOB_ID: None, KO_HISTORY: [], KO_EXPERIMENT: None}


def init() -> None:
    for key, value in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = list(value) if isinstance(value, list) else value


def get(key: str):
    init()
    return st.session_state[key]


def put(key: str, value) -> None:
    init()
    st.session_state[key] = value
