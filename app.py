"""MTLGRN dashboard, home page (placeholder until the dashboard issue lands).

Shows the built-in demo dataset that `make run` writes to demo_data/ and how to train on it.
"""

from pathlib import Path

import streamlit as st

from mtlgrn_core import DataValidationError, load_dataset

DEMO = Path(__file__).parent / "demo_data"

st.set_page_config(page_title="MTLGRN", layout="wide")
st.title("MTLGRN — gene regulatory networks and knockout predictions")
st.write(
    "MTLGRN infers a gene regulatory network from expression data, a partial known network, knockout "
    "experiments, promoter sequences and gene annotations, with one graph neural network trained on three "
    "tasks at once. It then predicts what happens to every gene when you knock one or several genes out."
)
try:
    dataset = load_dataset(DEMO)
except DataValidationError as exc:
    st.error(f"The demo data could not be loaded: {exc}. Run `make demo` to create it.")
else:
    st.subheader(f"Built-in demo: {DEMO.name}")
    st.table({k: [str(v)] for k, v in dataset.summary().items()})
    st.info("The interactive pages (data, training, network, knockout, evaluation) are being built. "
            "Meanwhile the command line does every job: `python -m mtlgrn_core train --data demo_data "
            "--out runs/demo`, then `predict` and `knockout` (see the README).")
