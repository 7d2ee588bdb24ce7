"""Background tasks of every session of the server (:class:`mtlgrn_core.jobs.TaskRegistry`), keyed by
``(owner, kind)`` (owner: a run, a run folder or a dataset), and the widgets that follow one: a progress bar
refreshed every second with a Stop button, then its error or stop notice."""

from __future__ import annotations

import streamlit as st

from mtlgrn_core.jobs import FAILED, STOPPED, TaskRegistry, TaskSnapshot
from mtlgrn_core.viz.escape import markdown_text


@st.cache_resource
def tasks() -> TaskRegistry:
    """Background tasks of every session, by (owner, kind); results outlive reruns and page switches."""
    return TaskRegistry()


@st.fragment(run_every=1.0)
def task_progress(owner: str, kind: str, slot: str) -> None:
    """Progress of a background task, refreshed every second; a full rerun once it ends."""
    task = tasks().get((owner, kind))
    if task is None:
        return
    snap = task.snapshot()
    if snap.finished:
        st.rerun(scope="app")
    st.progress(snap.fraction, text=f"{snap.label}: {snap.message} ({snap.elapsed:.0f} s so far)")
    if st.button("Stop", key=f"stop_{slot}", help="End at the next step; nothing is kept."):
        task.stop()


def task_state(owner: str, kind: str, slot: str | None = None) -> TaskSnapshot | None:
    """The task's snapshot; a running task shows its progress (its Stop button keyed by ``slot``, default
    ``kind``), a failed one its error."""
    task = tasks().get((owner, kind))
    if task is None:
        return None
    snap = task.snapshot()
    if not snap.finished:
        task_progress(owner, kind, slot or kind)
    elif snap.status == FAILED:
        st.error(markdown_text(snap.error))
    elif snap.status == STOPPED:
        st.info(f"{snap.label} was stopped.")
    return snap


