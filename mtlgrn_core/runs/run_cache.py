"""What a query would otherwise recompute from a run, saved beside it: the fitted linear responses
(``responses.npz``) and the gene embeddings Z (``embeddings.pt``).

Both are derived from the run's own files (the linear responses from its expression and prior, Z from its weights
and inputs), so they are optional: a run folder saved without them (before they existed) loads all the same and
computes them on first use. Saving them lets a knockout from a fresh process skip the ridge fit of every gene and
the GNN pass (issue 24: 5.5 s a query at 3,923 genes).

They are read without unpickling anything (``allow_pickle=False``, ``weights_only=True``). A file that cannot be
read, or whose shape does not fit the run, is ignored: the value is then recomputed, which gives what the file
should have held.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from scipy import sparse

from mtlgrn_core.model.linear_model import LinearModel

RESPONSES_FILE = "responses.npz"
EMBEDDINGS_FILE = "embeddings.pt"
CACHE_FILES = (RESPONSES_FILE, EMBEDDINGS_FILE)
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError,
                zipfile.BadZipFile)


def write_responses(responses: LinearModel, folder: Path) -> None:
    """Save the linear responses' sparse weights (CSR arrays) and gain to ``folder / responses.npz``."""
    weights = responses.weights.tocsr()
    np.savez(folder / RESPONSES_FILE, data=weights.data, indices=weights.indices, indptr=weights.indptr,
             shape=np.asarray(weights.shape, dtype=np.int64), gain=np.float64(responses.gain))


def read_responses(folder: Path, n_genes: int) -> LinearModel | None:
    """The linear responses saved in ``folder``, or None when absent, unreadable or not ``n_genes`` square."""
    path = folder / RESPONSES_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            shape = tuple(int(n) for n in arrays["shape"])
            if shape != (n_genes, n_genes):
                return None
            weights = sparse.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
            return LinearModel(weights=weights, gain=float(arrays["gain"]))
    except _READ_ERRORS:
        return None


def write_embeddings(z: torch.Tensor, folder: Path) -> None:
    """Save the gene embeddings as one plain tensor to ``folder / embeddings.pt``."""
    torch.save(z.detach().cpu().contiguous(), folder / EMBEDDINGS_FILE)


def read_embeddings(folder: Path, shape: tuple[int, int]) -> torch.Tensor | None:
    """The gene embeddings saved in ``folder``, or None when absent, unreadable or not of ``shape``
    (genes x hidden)."""
    path = folder / EMBEDDINGS_FILE
    if not path.is_file():
        return None
    try:
        z = torch.load(path, map_location="cpu", weights_only=True)
    except _READ_ERRORS:
        return None
    return z if isinstance(z, torch.Tensor) and tuple(z.shape) == tuple(shape) else None
