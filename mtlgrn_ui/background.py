"""Background tasks of every session of the server (:class:`mtlgrn_core.runs.jobs.TaskRegistry`), keyed by
``(owner, kind)`` (owner: a run, a run folder or a dataset), and the widgets that follow one: its place in the
server's queue or a progress bar, refreshed every second with a Stop button, then its error or stop notice."""

from __future__ import annotations

import streamlit as st

from mtlgrn_core.runs.jobs import FAILED, QUEUED, STOPPED, TaskRegistry, TaskSnapshot
from mtlgrn_core.viz.escape import markdown_text

from . import resources


@st.cache_resource
def tasks() -> TaskRegistry:
    """Background tasks of every session, by (owner, kind); results outlive reruns and page switches. The ones
    started ``queued`` take turns with the trainings in the server's queue."""
    return TaskRegistry(resources.compute_queue())


def sharing_rule(slots: int) -> str:
    """How the trainings of a server share its cores, in a sentence without its final stop."""
    if slots == 1:
        return "Trainings on this server run one at a time so that each gets every core"
    return f"Trainings on this server run {slots} at a time so that each gets a fair share of the cores"


def queue_wait(ahead: tuple[str, ...], slots: int) -> tuple[str, str, str]:
    """``(how many are ahead, their labels, when the turn comes)`` of a queued training, e.g. ``("2 trainings",
    "Training 'a', Ablation", "they finish")``; labels escaped for Markdown."""
    count = f"{len(ahead)} training{'' if len(ahead) == 1 else 's'}"
    when = ("it finishes" if len(ahead) == 1 else "they finish") if slots == 1 else "its turn comes"
    return count, ", ".join(markdown_text(label) for label in ahead), when


def queued_note(snap: TaskSnapshot) -> str:
    """A queued background task's place in the server's queue, and why it waits."""
    slots = resources.compute_queue().slots
    count, labels, when = queue_wait(snap.ahead, slots)
    return (f"{markdown_text(snap.label)}: queued (position {snap.position}), behind {count} ({labels}). "
            f"{sharing_rule(slots)}; this one starts by itself when {when}.")


@st.fragment(run_every=1.0)
def task_progress(owner: str, kind: str, slot: str) -> None:
    """Progress of a background task, refreshed every second; a full rerun once it ends."""
    task = tasks().get((owner, kind))
    if task is None:
        return
    snap = task.snapshot()
    if snap.finished:
        st.rerun(scope="app")
    if snap.status == QUEUED:
        st.info(queued_note(snap))
        stop_help = "Take it out of the queue; it never starts."
    else:
        st.progress(snap.fraction, text=f"{snap.label}: {snap.message} ({snap.elapsed:.0f} s so far)")
        stop_help = "End at the next step; nothing is kept."
    if st.button("Stop", key=f"stop_{slot}", help=stop_help):
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


