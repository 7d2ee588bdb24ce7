"""Data-page helpers: load a dataset into the workspace and select it, keeping the current one on failure.

A new dataset (uploaded files, a zip, the demo) is saved into the workspace and its id put in the session
state, so that it survives reruns, page switches and server restarts. When loading fails the error is shown
with its fix (:func:`~mtlgrn_ui.page.friendly_errors`) and the dataset already selected stays selected.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.inputs.upload import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, MAX_FILE_BYTES, demo_dataset, demo_name
from mtlgrn_core.viz.data import FIGURES
from mtlgrn_core.viz.escape import markdown_text
from mtlgrn_core.viz.export import FORMATS, chromium_path, figure_bytes

from . import resources, state
from .page import friendly_errors

MESSAGE_KEY = state.DATA_MESSAGE


def load_and_select(action: str, make: Callable[[], Dataset], name: str | None = None) -> str | None:
    """Build a dataset with ``make``, save it in the workspace and select it.

    Parameters
    ----------
    action
        What is being done, for the error message ("Loading the uploaded files").
    make
        Builds and validates the dataset; may raise :class:`~mtlgrn_core.errors.DataValidationError`.
    name
        Name in the workspace. Default: the dataset's own name.

    Returns
    -------
    str or None
        The new dataset id, or ``None`` when loading failed (the error is shown with ``st.error`` and the
        previously selected dataset stays selected).
    """
    with friendly_errors(action):
        dataset = make()
        dataset_id = resources.workspace().save_dataset(dataset, name or dataset.name)
        state.put(state.DATASET_ID, dataset_id)
        st.session_state[MESSAGE_KEY] = (f"Loaded **{plain(name or dataset.name)}**: {dataset.n_genes} genes, "
                                         f"{len(dataset.samples)} samples. It is saved in the workspace and "
                                         "selected for every page.")
        return dataset_id
    return None


def load_demo(n_genes: int, seed: int) -> str | None:
    """Select the demo of this size and seed, simulating and saving it the first time only."""
    name = demo_name(n_genes, seed)
    for entry in resources.workspace().datasets():
        if entry.name == name:
            select(entry.id)
            return entry.id
    return load_and_select("Making the demo data", lambda: demo_dataset(n_genes, seed), name)


def select(dataset_id: str) -> None:
    """Select a dataset already in the workspace."""
    state.put(state.DATASET_ID, dataset_id)
    names = {e.id: e.name for e in resources.workspace().datasets()}
    st.session_state[MESSAGE_KEY] = f"Selected **{plain(names.get(dataset_id, dataset_id))}**."


def plain(text: str) -> str:
    """``text`` with Markdown (and LaTeX ``$``) characters escaped, so that names from files show as typed
    (:func:`mtlgrn_core.viz.escape.markdown_text`)."""
    return markdown_text(text)


def size_text(n_bytes: int) -> str:
    """A byte count for people: ``1 GB``, ``200 MB`` (binary units, as the limits are)."""
    if n_bytes >= 1 << 30:
        return f"{n_bytes / (1 << 30):.3g} GB"
    return f"{n_bytes / (1 << 20):.3g} MB"


FILE_LIMIT_HELP = (f"At most {size_text(MAX_FILE_BYTES)} per file (a gzipped file: at most "
                   f"{size_text(MAX_FILE_BYTES)} once decompressed).")
ZIP_LIMIT_HELP = (f"The zip file itself at most {size_text(MAX_FILE_BYTES)}; inside, at most {MAX_ARCHIVE_FILES} "
                  f"files and {size_text(MAX_ARCHIVE_BYTES)} unpacked.")


LOG_CHOICES = {"auto": "auto", "yes": True, "no": False}
LOG_HELP = ("'auto' applies log1p when the values look like raw counts: non-negative whole numbers, the largest "
            "above 100 (in a single-cell file any non-negative whole numbers, each cell first scaled to 10,000 "
            "counts). Choose 'no' for data that are already log-scaled or normalised.")
REGULATOR_CHOICES = {"prior": "the prior's regulators", "all": "every gene"}


def load_options(key: str) -> dict:
    """The loading options a user chooses (log transform, candidate regulators, prior confidence), as the
    keyword options of ``load_dataset``; widget keys start with ``key``."""
    c1, c2, c3 = st.columns(3)
    log = c1.selectbox("Log-transform the expression", list(LOG_CHOICES), key=f"{key}_log", help=LOG_HELP)
    regulators = c2.selectbox("Candidate regulators without a TF list", list(REGULATOR_CHOICES),
                              format_func=REGULATOR_CHOICES.get, key=f"{key}_regulators",
                              help="Which genes may regulate others when no TF list is given: the genes with an "
                                   "outgoing edge in the prior network (default), or every gene. Without a prior, "
                                   "every gene.")
    confidence = c3.text_input("Minimum prior confidence", key=f"{key}_confidence", placeholder="keep every edge",
                               help="Keep only the prior's edges at least this confident: a DoRothEA level (C keeps "
                                    "A-C) or a number for a confidence, score or importance column (e.g. 0.5).")
    return {"log_transform": LOG_CHOICES[log], "regulators": regulators,
            "prior_min_confidence": confidence.strip() or None}


@st.cache_data(max_entries=4, show_spinner="Reading the file's layout…")
def upload_layout(name: str, file_id: str, _upload):
    """The layout of an uploaded single-cell file (:func:`~mtlgrn_core.inputs.cell_files.describe_cells`), read
    once per upload (keyed by its name and upload id) rather than on every rerun of the page."""
    from mtlgrn_core.inputs.cell_files import describe_cells

    return describe_cells(io.BytesIO(_upload.getvalue()), name=name)


CHOICES_SEEN = "cell_choices_seen"  # session key: the uploads whose single-cell choices the page has shown


def cell_choices_seen(upload) -> bool:
    """Whether the page showed this upload's single-cell choices in an earlier run (so a press of *Check and load*
    means them); marks them shown from now on."""
    if upload is None:
        return False
    seen = st.session_state.setdefault(CHOICES_SEEN, set())
    before = upload.file_id in seen
    seen.add(upload.file_id)
    return before


def cell_options(upload, key: str):
    """For an uploaded single-cell file (``.h5ad``, ``.loom``, Cell Ranger ``.h5``): its layout (an ``.h5ad``'s
    read without the matrix), and widgets for the matrix, gene names, cell groups, perturbations and budgets; the
    chosen :class:`~mtlgrn_core.inputs.single_cell.CellOptions` (``None`` for another file)."""
    from mtlgrn_core.inputs.cell_files import CELL_SUFFIXES, RAW
    from mtlgrn_core.inputs.single_cell import DEFAULT_MAX_GENES, DEFAULT_MAX_SAMPLES, CellOptions

    if upload is None or not upload.name.lower().endswith(CELL_SUFFIXES):
        return None
    try:
        layout = upload_layout(upload.name, upload.file_id, upload)
    except DataValidationError as exc:
        st.error(markdown_text(str(exc)))
        return None
    st.markdown(f"**Single-cell data**: {layout.n_cells:,} cells x {layout.n_genes:,} genes.")
    c1, c2, c3, c4 = st.columns(4)
    matrices = ["X"] + ([RAW] if layout.has_raw else []) + layout.layers
    default, why = layout.default_matrix()
    layer = c1.selectbox("Matrix", matrices, index=matrices.index(default), key=f"{key}_layer",
                         help="Which matrix of the file is read. Counts (whole numbers) are normalised per cell and "
                              "log-transformed as scanpy does; other values are taken as they are. Preselected: "
                              f"{default}" + (" (a counts layer)." if default == "counts" else "."))
    if default == RAW and layer == RAW:
        st.caption(markdown_text(why[0].upper() + why[1:] + "."))
    names = c2.selectbox("Gene names", ["var_names (or a matching symbol column)"] + layout.var_columns,
                         key=f"{key}_gene_column", help="The var column that holds the gene names the prior uses.")
    splitting = [c for c in layout.obs_columns if layout.obs_values[c] > 1]
    group = c3.selectbox("Cell groups", ["none"] + splitting, key=f"{key}_group_column",
                         help="An obs column such as the cell type: metacells never mix groups.")
    perturbation = c4.selectbox("Perturbations", ["none"] + splitting, key=f"{key}_perturbation_column",
                                help="An obs column naming each cell's perturbed gene(s) (control labels such as "
                                     "'non-targeting' are controls): it builds the sample sheet.")
    c5, c6 = st.columns(2)
    max_genes = c5.number_input("Gene budget (0 = every gene)", 0, 100_000, DEFAULT_MAX_GENES, 500,
                                key=f"{key}_max_genes", help="The most variable genes, plus every gene the prior, "
                                                             "the TF list or a perturbation names.")
    max_samples = c6.number_input("Sample budget (0 = every cell)", 0, 1_000_000, DEFAULT_MAX_SAMPLES, 100,
                                  key=f"{key}_max_samples", help="Cells are aggregated into about this many metacells "
                                                                 "(within each cell group and perturbation).")
    return CellOptions(layer=layer, gene_column=None if names not in layout.var_columns else names,
                       group_column=None if group == "none" else group,
                       perturbation_column=None if perturbation == "none" else perturbation,
                       max_genes=int(max_genes) or None, max_samples=int(max_samples) or None)


def show_message() -> None:
    """The success message of the last load (once)."""
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message:
        st.success(message)


def saved_datasets_table() -> pd.DataFrame:
    """The workspace's datasets, newest first: name, counts and id."""
    rows = [{"name": e.name, "genes": e.summary.get("genes"), "samples": e.summary.get("samples"),
             "known edges": e.summary.get("prior_edges"), "perturbed samples": e.summary.get("perturbed_samples"),
             "id": e.id} for e in resources.workspace().datasets()]
    return pd.DataFrame(rows, columns=["name", "genes", "samples", "known edges", "perturbed samples", "id"])


def current_view(dataset_id: str) -> tuple[Dataset, list[str]]:
    """The selected dataset (as first loaded, log transform flag included) and the loader's warnings."""
    dataset = resources.dataset(dataset_id)
    return dataset, list(dataset.warnings)


@st.cache_data(max_entries=12, show_spinner=False)
def data_figure(dataset_id: str, which: str) -> go.Figure:
    """One summary figure of a workspace dataset (a saved dataset never changes: its id is the key)."""
    return FIGURES[which][1](current_view(dataset_id)[0])


def figure_downloads(fig: go.Figure, file_stem: str, key: str) -> None:
    """PNG and SVG download buttons for ``fig``, rendered only when clicked (kaleido takes a few seconds)."""
    if chromium_path() is None:
        st.caption("PNG/SVG download needs Chromium on the server (Debian package 'chromium'); the camera "
                   "icon of the figure saves a PNG meanwhile.")
        return
    columns = st.columns([1] * len(FORMATS) + [4])
    for column, (fmt, mime) in zip(columns, FORMATS.items()):
        column.download_button(f"Download {fmt.upper()}", data=partial(figure_bytes, fig, fmt),
                               file_name=f"{file_stem}.{fmt}", mime=mime, key=f"{key}_{fmt}", on_click="ignore",
                               help="The image is drawn when you click (a few seconds).")
