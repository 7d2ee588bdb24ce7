"""Data: upload your inputs (one by one or as a zipped folder) or pick the built-in demo, check them, look at them."""

import streamlit as st

from mtlgrn_core.evaluation.edge_support import prior_support
from mtlgrn_core.inputs.priors import describe_regulators
from mtlgrn_core.inputs.upload import (
    DEMO_MAX_GENES,
    DEMO_MIN_GENES,
    INPUTS,
    dataset_from_files,
    dataset_from_zip,
    example_file,
    example_zip,
    preview_tables,
    validation_report,
)
from mtlgrn_core.runs.workspace import safe_name
from mtlgrn_core.viz.data import FIGURES
from mtlgrn_ui import state
from mtlgrn_ui.data_loading import (
    FILE_LIMIT_HELP,
    ZIP_LIMIT_HELP,
    cell_choices_seen,
    cell_options,
    current_view,
    data_figure,
    figure_downloads,
    load_and_select,
    load_demo,
    load_options,
    plain,
    saved_datasets_table,
    select,
    show_message,
)
from mtlgrn_ui.page import current_dataset_name, setup_page

setup_page("Data")
FIGURE_HELP = {
    "distribution": "Raw counts should be log-transformed; a sample whose box sits far from the others may "
                    "need normalisation or be an outlier.",
    "pca": "Each dot is a sample. Knockouts far from the controls changed many genes; replicates should "
           "lie close together.",
    "degree": "Regulatory networks are usually heavy-tailed: a few hub regulators have many targets, most "
              "have few.",
}

st.title("Data")
st.write("Load the inputs of one experiment: the expression matrix (required) and, when you have them, the "
         "known network, the transcription factors, a sample sheet with knockouts, promoter sequences, gene "
         "annotations and a ground truth. Each loaded dataset is checked, saved in the workspace and used by "
         "every page.")
st.caption(f"Upload limits: {FILE_LIMIT_HELP} {ZIP_LIMIT_HELP}")

files_tab, zip_tab, demo_tab, saved_tab = st.tabs(["Upload files", "Upload a zipped folder", "Built-in demo",
                                                   "Saved datasets"])
with files_tab:
    st.caption("*Check and load* waits until every file you chose has reached the server (a large file shows its "
               "upload in its box). A single-cell file's choices appear after the first press; press again to load.")
    with st.form("upload_form", border=False, enter_to_submit=False):  # its button is disabled while files arrive
        uploads = {}
        for kind, spec in INPUTS.items():
            left, right = st.columns([3, 2], vertical_alignment="center")
            label = f"{spec.label} ({'required' if spec.required else 'optional'})"
            uploads[kind] = left.file_uploader(label, type=list(spec.extensions), key=f"upload_{kind}",
                                               help=FILE_LIMIT_HELP)
            right.caption(spec.help)
        upload_name = st.text_input("Dataset name", key="upload_name", placeholder="the expression file's name",
                                    help="How this dataset is listed in the workspace.")
        upload_options = load_options("upload")
        pressed = st.form_submit_button("Check and load these files", type="primary", key="load_files")
    examples = st.columns(4)
    for k, kind in enumerate(INPUTS):
        example_name, example_bytes = example_file(kind)
        examples[k % 4].download_button(f"Example {example_name}", example_bytes, file_name=example_name,
                               key=f"example_{kind}", on_click="ignore", help="A small file in the right format.")
    choices_seen = cell_choices_seen(uploads["expression"])
    single_cell = cell_options(uploads["expression"], "upload")
    if single_cell is not None:
        upload_options["cells"] = single_cell
    if pressed and single_cell is not None and not choices_seen:
        st.info("Choose how to read the single-cell file below, then press **Check and load these files** again.")
    elif pressed:
        given = {kind: (f.name, f) for kind, f in uploads.items() if f is not None}  # streamed, not copied
        if load_and_select("Loading the uploaded files",
                           lambda: dataset_from_files(given, name=upload_name.strip() or None, **upload_options)):
            st.rerun()

with zip_tab:
    st.write("A zip of a dataset folder: `expression.csv` (or `expression.h5ad`, `expression.loom`, Cell Ranger's "
             "`filtered_feature_bc_matrix` folder or `.h5`) and any of `network.csv`, `tfs.txt`, `samples.csv`, "
             "`promoters.fa`, `annotations.csv`, `truth.csv` (also `.tsv`, `.gz`), at the root of the archive "
             "or inside one folder. Other files are ignored. Single-cell data in a zip are read with the "
             "default choices (upload the file itself, or Cell Ranger's .h5, to choose the matrix, gene names, cell "
             "groups, perturbation column and budgets).")
    zipped = st.file_uploader("Zipped dataset folder", type=["zip"], key="upload_zip",
                              help=ZIP_LIMIT_HELP)
    st.download_button("Example dataset folder (zip)", example_zip, file_name="example_dataset.zip",
                       mime="application/zip", key="example_zip", on_click="ignore")
    zip_options = load_options("zip")
    if st.button("Check and load the zip", type="primary", key="load_zip"):
        if zipped is None:
            st.warning("Choose a zip file first.")
        elif load_and_select("Loading the zip", lambda: dataset_from_zip(zipped.getvalue(), file_name=zipped.name,
                                                                          **zip_options)):
            st.rerun()

with demo_tab:
    st.write("Simulated data with a known true network: expression of controls, multifactorial samples, single "
             "and double knockouts and knockdowns, a partial known network (70 % of the true edges), promoters "
             "and annotations.")
    c1, c2 = st.columns(2)
    demo_genes = c1.number_input("Number of genes", DEMO_MIN_GENES, min(DEMO_MAX_GENES, 1000), 150, 10,
                                 key="demo_genes", help="150 genes train in under a minute; 1000 take longer.")
    demo_seed = c2.number_input("Seed", 0, 1_000_000, 0, 1, key="demo_seed",
                                help="The same size and seed always give the same data.")
    if st.button("Load the demo data", type="primary", key="load_demo"):
        with st.spinner("Simulating…"):
            if load_demo(int(demo_genes), int(demo_seed)):
                st.rerun()

with saved_tab:
    saved = saved_datasets_table()
    if saved.empty:
        st.caption("No dataset saved yet.")
    else:
        st.dataframe(saved.drop(columns=["id"]), hide_index=True, key="saved_table")
        ids = list(saved["id"])
        labels = dict(zip(ids, saved["name"] + " — " + saved["id"]))
        current = state.get(state.DATASET_ID)
        chosen = st.selectbox("Dataset", ids, index=ids.index(current) if current in ids else 0,
                              format_func=labels.get, key="saved_choice")
        if st.button("Use this dataset", key="use_dataset"):
            select(chosen)
            st.rerun()

st.divider()
show_message()
dataset_name = current_dataset_name()
if dataset_name is None:
    st.info("No data loaded yet: upload your files or a zipped folder, or load the built-in demo above.")
else:
    dataset_id = state.get(state.DATASET_ID)
    dataset, warnings = current_view(dataset_id)
    summary = dataset.summary()
    st.header(f"Selected: {plain(dataset_name)}")
    for column, (label, value) in zip(st.columns(6), (
            ("Genes", summary["genes"]), ("Samples", summary["samples"]), ("Candidate regulators", summary["tfs"]),
            ("Known edges", summary["prior_edges"]), ("Perturbed samples", summary["perturbed_samples"]),
            ("Control samples", summary["control_samples"]))):
        column.metric(label, value)
    st.caption(f"Candidate regulators: {plain(describe_regulators(summary['regulators'], summary['tfs']))}.")
    if summary["prior_edges"]:
        support, thin = prior_support(summary["prior_edges"], dataset.prior["source"].nunique())
        (st.warning if thin else st.caption)(plain(support))

    st.subheader("Validation report")
    st.caption("Every input is aligned on the genes of the expression matrix; 'genes matched' counts the "
               "expression genes each input names.")
    st.table(validation_report(dataset).set_index("input"))
    if warnings:
        st.warning("**What the loader fixed or dropped**\n\n" + "\n".join(f"- {plain(w)}" for w in warnings))
    else:
        st.success("No problem found: every input matched the genes and samples of the expression matrix.")

    st.subheader("Preview")
    previews = preview_tables(dataset)
    for tab, (title, table) in zip(st.tabs(list(previews)), previews.items()):
        tab.dataframe(table, key=f"preview_{safe_name(title)}")

    st.subheader("Summary plots")
    file_stem = safe_name(dataset_name, fallback="dataset")
    for which, (title, _builder) in FIGURES.items():
        figure = data_figure(dataset_id, which)
        st.plotly_chart(figure, key=f"figure_{which}")
        st.caption(FIGURE_HELP[which])
        figure_downloads(figure, f"{file_stem}-{which}", key=f"download_{which}")
