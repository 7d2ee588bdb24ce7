"""Page set-up and the shared sidebar; error display that never shows a traceback."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import streamlit as st

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.viz.escape import markdown_text

from . import resources, state

LOG = logging.getLogger("mtlgrn")


PAGES = (  # (script, label, icon): the sidebar navigation, in order
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Data.py", "Data", ":material/folder_open:"),
    ("pages/2_Train.py", "Train", ":material/model_training:"),
    ("pages/3_Network.py", "Network", ":material/hub:"),
    ("pages/4_Knockout.py", "Knockout", ":material/science:"),
    ("pages/5_Evaluate.py", "Evaluate", ":material/analytics:"),
)


def page_link(script: str, label: str | None = None) -> None:
    """A link to one of :data:`PAGES` (its own label and icon unless ``label`` is given)."""
    _, default, icon = next(p for p in PAGES if p[0] == script)
    st.page_link(script, label=label or default, icon=icon)


def setup_page(title: str, icon: str = ":material/hub:", *, load_data: Callable[[], None] | None = None) -> None:
    """First call of every page: config, state, ``load_data`` (e.g. the home page's demo, so that the
    sidebar drawn next already shows it), sidebar with what is loaded."""
    st.set_page_config(page_title=f"{title} · MTLGRN", page_icon=icon, layout="wide")
    state.init()
    _select_latest()
    if load_data is not None:
        with friendly_errors("Loading the data"):
            load_data()
    _sidebar()


def _select_latest() -> None:
    """A new session (a reload, a new tab) picks up the latest dataset and run saved in the workspace."""
    workspace = resources.workspace()
    if not state.get(state.DATASET_ID):
        datasets = workspace.datasets()
        if datasets:
            state.put(state.DATASET_ID, datasets[0].id)
    if not state.get(state.RUN_ID):
        runs = [e for e in workspace.runs() if e.ok]
        if runs:
            state.put(state.RUN_ID, runs[0].id)


def current_dataset_name() -> str | None:
    dataset_id = state.get(state.DATASET_ID)
    if not dataset_id:
        return None
    for entry in resources.workspace().datasets():
        if entry.id == dataset_id:
            return entry.name
    state.put(state.DATASET_ID, None)  # deleted on disk meanwhile
    return None


def current_run_name() -> str | None:
    run_id = state.get(state.RUN_ID)
    if not run_id:
        return None
    for entry in resources.workspace().runs():
        if entry.id == run_id and entry.ok:
            return entry.name
    state.put(state.RUN_ID, None)
    return None


def _sidebar() -> None:
    with st.sidebar:
        for script, _, _ in PAGES:
            page_link(script)
        st.divider()
        st.markdown("**Session**")
        dataset_name = current_dataset_name()
        run_name = current_run_name()
        st.caption(f"Data: {markdown_text(dataset_name) if dataset_name else '— none loaded'}")
        st.caption(f"Run: {markdown_text(run_name) if run_name else '— none trained or selected'}")


@contextlib.contextmanager
def friendly_errors(action: str):
    """Show a validation error with its fix, or any other failure as one sentence (logged in full).

    The message names files, genes and cells from the user's data, so it is shown as text (Markdown escaped).
    """
    try:
        yield
    except DataValidationError as exc:
        st.error(markdown_text(exc))
    except Exception as exc:  # a page never shows a traceback
        LOG.exception("%s failed", action)
        st.error(f"{action} failed: {type(exc).__name__}: {markdown_text(exc)}. Nothing you made was lost; please "
                 "report this with the file that caused it.")


def require_dataset() -> str | None:
    """The session's dataset id, or a hint to load one (returns None)."""
    dataset_id = state.get(state.DATASET_ID)
    if current_dataset_name() is None:
        st.info("No data loaded yet. Open **Data** to upload your files or load the built-in demo.")
        page_link("pages/1_Data.py", "Go to Data")
        return None
    return dataset_id


def require_run() -> str | None:
    """The session's selected run id, or a hint to train one (returns None)."""
    if current_run_name() is None:
        st.info("No trained run selected. Open **Train** to train one or pick a saved run.")
        page_link("pages/2_Train.py", "Go to Train")
        return None
    return state.get(state.RUN_ID)
