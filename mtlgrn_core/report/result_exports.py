"""Results back in the formats the field reads: the inferred network as a decoupler / CollecTRI network, and
edges and predicted knockouts added to the user's own AnnData.

- :func:`decoupler_network`: ``source, target, weight`` with the weight a signed score in [-1, 1] (the "mor"
  convention of decoupler and CollecTRI: its sign the mode of regulation, its size the edge's score), so that
  ``decoupler.mt.ulm(adata, net)`` infers TF activities from the network directly.
- :func:`add_to_anndata`: ranked edges (``uns["mtlgrn"]["edges"]``) and predicted changes (one ``var`` column per
  perturbation, ``mtlgrn_ko_<GENES>_delta``) added to an existing ``.h5ad`` in place, with what made them (the
  run, the settings, the time) under ``uns["mtlgrn"]``. The file is written beside and renamed over the
  original only once written, so a failure never leaves it damaged.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlgrn_core.answers.analysis import pair_correlation
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.cell_files import open_cells
from mtlgrn_core.inputs.gene_names import gene_key
from mtlgrn_core.inputs.single_cell import better_name_column, unique_names

if TYPE_CHECKING:
    from mtlgrn_core.model.run import Run
    from mtlgrn_core.runs.ensemble import Ensemble

UNS_KEY = "mtlgrn"
COLUMN_PREFIX = "mtlgrn_ko_"
IDENTITY_INFO = ("name", "dataset", "dataset_id", "group", "ensemble", "split", "tasks")  # run.info keys kept
FIX = ("Give the .h5ad of your cells (an AnnData file saved by scanpy or anndata.write_h5ad) whose genes are the "
       "run's: var_names, or a var column of gene symbols.")


# -- decoupler -----------------------------------------------------------------------------------------
def decoupler_network(table: pd.DataFrame, run: Run | Ensemble) -> pd.DataFrame:
    """The ranked edges as a decoupler / CollecTRI network.

    Parameters
    ----------
    table
        Ranked edges (``source, target, score``, e.g. :func:`~mtlgrn_core.answers.infer.score_edges` or
        :func:`~mtlgrn_core.runs.ensemble.ensemble_edges`).
    run
        The run that ranked them, or an ensemble: then its first member (:attr:`Ensemble.first`, the run saved at
        the top of its folder) gives the prior, the linear responses and the expression the signs come from.

    Returns
    -------
    pandas.DataFrame
        ``source, target, weight`` in the table's order, ``weight = sign * score`` in [-1, 1]. The sign of each
        edge (:func:`regulation_signs`): the prior's (+1 activation, -1 repression) where the pair is a prior edge
        of known sign; else the sign of the run's linear response of the target to the regulator (a prior edge
        of unknown sign: :meth:`Run.linear_responses`, what every knockout prediction propagates along); else,
        for a pair outside the prior (which has no fitted response), the sign of the two genes' correlation
        over the run's samples, i.e. of the target's response to the regulator alone; an edge none of these
        tells (a constant gene) counts as activation (+1). ``attrs["sign_from"]``: how many edges took their
        sign from each of ``prior``, ``linear response``, ``correlation`` and ``none (activation)``.
    """
    sign, sign_from = regulation_signs(table, run)
    score = np.clip(table["score"].to_numpy(dtype=np.float64), 0.0, 1.0)
    net = pd.DataFrame({"source": table["source"].to_numpy(), "target": table["target"].to_numpy(),
                        "weight": sign * score})
    net.attrs["sign_from"] = {k: int(n) for k, n in zip(*np.unique(sign_from, return_counts=True))}
    return net


def regulation_signs(table: pd.DataFrame, run: Run | Ensemble) -> tuple[np.ndarray, np.ndarray]:
    """Each edge's mode of regulation (+1 / -1) and where it came from (as :func:`decoupler_network` says)."""
    run = getattr(run, "first", run)  # an ensemble: its first member
    n = len(table)
    src = table["source"].map(run.gene_index).to_numpy(dtype=np.int64)
    dst = table["target"].map(run.gene_index).to_numpy(dtype=np.int64)
    prior = run.prior
    written = prior["sign"] if "sign" in prior else pd.Series(0.0, index=prior.index)
    prior_sign = np.sign(pd.to_numeric(written, errors="coerce").fillna(0.0).to_numpy(dtype=np.float64))
    known = dict(zip(zip(prior["source"], prior["target"]), prior_sign))
    sign = np.array([known.get(pair, 0.0) for pair in zip(table["source"], table["target"])], dtype=np.float64)
    sign_from = np.where(sign != 0, "prior", "").astype(object)
    linear = np.asarray(run.linear_responses().weights[dst, src]).ravel() if n else np.zeros(0)
    use = (sign == 0) & (linear != 0)
    sign[use], sign_from[use] = np.sign(linear[use]), "linear response"
    rest = np.flatnonzero(sign == 0)
    if rest.size:
        correlation = pair_correlation(run.inputs.expression, run.genes, table["source"].to_numpy()[rest],
                                       table["target"].to_numpy()[rest])
        told = np.isfinite(correlation) & (correlation != 0)
        sign[rest[told]], sign_from[rest[told]] = np.sign(correlation[told]), "correlation"
    untold = sign == 0
    sign[untold], sign_from[untold] = 1.0, "none (activation)"
    return sign, sign_from


# -- AnnData -------------------------------------------------------------------------------------------
@dataclass
class AnndataAddition:
    """What :func:`add_to_anndata` added: the ``var`` columns, the ``uns`` entries (``uns["mtlgrn"][...]``
    keys), how many of the AnnData's genes matched the run's and by which names."""

    path: Path
    columns: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    matched: int = 0
    n_vars: int = 0
    names_from: str = "var_names"

    def describe(self) -> str:
        """One line: what was added where."""
        parts = []
        if self.columns:
            shown = ", ".join(self.columns[:3]) + (f" and {len(self.columns) - 3} more" if len(self.columns) > 3
                                                   else "")
            parts.append(f"var column(s) {shown} ({self.matched:,} of its {self.n_vars:,} genes matched the run's "
                         f"by {self.names_from}; the others NaN)")
        entries = ", ".join(f"uns['{UNS_KEY}']['{e}']" for e in dict.fromkeys(self.entries))
        return f"added {' and '.join([*parts, entries])} to {self.path}"


def add_to_anndata(path: str | Path, run: Run | Ensemble, *, edges: pd.DataFrame | None = None,
                   knockouts: Mapping[str, pd.DataFrame] | None = None, settings: Mapping | None = None
                   ) -> AnndataAddition:
    """Add a run's results to an existing ``.h5ad``, in place.

    The file is read with anndata, the results added, the whole written to a temporary file in the same folder
    and renamed over the original (``os.replace``) only once that write succeeded: a failure leaves the
    original as it was. Genes are matched to the AnnData's ``var_names`` ignoring case and version suffixes
    (:func:`~mtlgrn_core.inputs.gene_names.gene_key`), or to a ``var`` column of symbols
    (:data:`~mtlgrn_core.inputs.single_cell.SYMBOL_COLUMNS`) where that matches clearly more of the run's genes.

    Parameters
    ----------
    path
        The ``.h5ad`` to add to.
    run
        The run (or ensemble) the results come from: its folder and identity go with them.
    edges
        Ranked edges (what ``predict`` writes): stored as ``uns["mtlgrn"]["edges"]``, with
        ``uns["mtlgrn"]["predict"]`` holding the run, ``settings`` (e.g. ``top``, ``format``) and the time.
    knockouts
        Predicted changes by perturbation name (genes joined by ``+``): a table of ``gene`` and ``delta`` (and
        ``log2fc`` when it has it; :func:`~mtlgrn_core.answers.infer.predict_knockout`). Each becomes the ``var``
        columns ``mtlgrn_ko_<NAME>_delta`` (and ``_log2fc``; ``<NAME>_dose<D>`` at a dose other than 0), NaN for genes
        not in the run, and an entry ``uns["mtlgrn"]["knockouts"][<column stem>]`` with the run, the
        perturbation, ``settings`` (``dose``, ``context``, ...) and the time.
    settings
        What made the results (plain values), stored with them.

    Raises
    ------
    DataValidationError
        Naming the file, when it is not a readable ``.h5ad``, shares no gene with the run, or cannot be
        written; the file is then left untouched.
    """
    path = Path(path)
    first = getattr(run, "first", run)
    adata = _read(path)
    rows, names_from = match_genes(adata.var, first.genes)
    matched = int((rows >= 0).sum())
    if matched == 0:
        shown = ", ".join(f"'{g}'" for g in first.genes[:3])
        raise DataValidationError(f"shares no gene with the run ({len(first.genes):,} genes, e.g. {shown}), neither "
                                  f"in its var_names (e.g. {', '.join(map(repr, map(str, adata.var_names[:3])))}) "
                                  f"nor in a var column of symbols. {FIX} The file was left as it was.",
                                  file=path.name)
    store = _uns_store(adata, path)
    stamp = {"run": run_identity(run), "added": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             **_plain(dict(settings or {}))}
    done = AnndataAddition(path=path, matched=matched, n_vars=adata.n_vars, names_from=names_from)
    if edges is not None:
        store["edges"] = edges.reset_index(drop=True)
        store["predict"] = {**stamp, "rows": len(edges)}
        done.entries += ["edges", "predict"]
    for name, table in (knockouts or {}).items():
        stem = knockout_stem(name, (settings or {}).get("dose", 0.0))
        values = table.set_index("gene")
        parts = [part for part in ("delta", "log2fc") if part in values]
        columns = [f"{stem}_{part}" for part in parts]
        for part, column in zip(parts, columns):
            adata.var[column] = _on_rows(values[part].reindex(first.genes).to_numpy(dtype=np.float64), rows)
        store.setdefault("knockouts", {})[stem] = {**stamp, "perturbation": name, "columns": columns}
        done.columns += columns
        done.entries.append("knockouts")
    adata.uns[UNS_KEY] = store
    _write_over(adata, path)
    return done


def knockout_stem(name: str, dose: float = 0.0) -> str:
    """The ``var`` column stem of a perturbation: ``mtlgrn_ko_<GENES>``, with ``_dose<D>`` at a dose other than 0
    (``/`` would start an HDF5 group: written ``_``)."""
    stem = COLUMN_PREFIX + str(name).replace("/", "_")
    return stem if float(dose) == 0.0 else f"{stem}_dose{float(dose):g}"


def match_genes(var: pd.DataFrame, genes) -> tuple[np.ndarray, str]:
    """For each row of ``var``, the index of its gene in ``genes`` (-1: none), and which names matched
    (``var_names`` or ``var['<column>']``).

    A name matches a gene of the same name, else one equal up to case and version suffix
    (:func:`~mtlgrn_core.inputs.gene_names.gene_key`). A symbol column replaces the var_names when it matches clearly
    more genes (:func:`~mtlgrn_core.inputs.single_cell.better_name_column`, as when the cells were read for training);
    repeated names are made unique as there (``TP53``, ``TP53-1``).
    """
    exact = {g: i for i, g in enumerate(genes)}
    keyed: dict[str, int] = {}
    for i, g in enumerate(genes):
        keyed.setdefault(gene_key(g), i)

    def lookup(names) -> np.ndarray:
        return np.array([exact.get(n, keyed.get(gene_key(n), -1)) for n in names], dtype=np.int64)

    def hits(names) -> int:
        return int((lookup(names) >= 0).sum())

    column, _hits, _own = better_name_column(var, hits)
    if column is None:
        return lookup(unique_names([str(n) for n in var.index])), "var_names"
    return lookup(unique_names([str(v) for v in var[column].astype(str)])), f"var['{column}']"


def run_identity(run: Run | Ensemble) -> dict:
    """What identifies a run: its folder (``folder``, ``path``), when it was saved and by which MTLGRN (from its
    ``config.json``), its seed, and the identifying entries of its info (:data:`IDENTITY_INFO`: name, dataset,
    group, ensemble, split, tasks) present; an ensemble's first member, with ``members``."""
    first = getattr(run, "first", run)
    folder = Path(first.path) if first.path is not None else None
    out: dict = {"folder": folder.name if folder else "(not saved)",
                 "path": str(folder.resolve()) if folder else "", "seed": int(first.config.seed)}
    if folder is not None:
        try:
            config = json.loads((folder / "config.json").read_text())
            out.update(saved=config.get("saved"), mtlgrn=(config.get("versions") or {}).get("mtlgrn"))
        except (OSError, ValueError):
            pass
    out.update({k: first.info[k] for k in IDENTITY_INFO if k in first.info})
    if hasattr(run, "members"):
        out["members"] = len(run.members)
    return _plain(out)


def _read(path: Path):
    """The AnnData of ``path``, read as the cells are for training
    (:func:`~mtlgrn_core.inputs.cell_files.open_cells`)."""
    if not path.is_file():
        raise DataValidationError(f"does not exist. {FIX}", file=str(path))
    if path.suffix.lower() != ".h5ad":
        raise DataValidationError(f"is not an .h5ad; results are added to AnnData files only. {FIX}",
                                  file=path.name)
    return open_cells(path)[0]


def _uns_store(adata, path: Path) -> dict:
    store = adata.uns.get(UNS_KEY, {})
    if not isinstance(store, Mapping):
        raise DataValidationError(f"uns['{UNS_KEY}'] holds something other than MTLGRN's results; rename it, or "
                                  "add the results to a copy of the file.", file=path.name)
    return dict(store)


def _on_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values`` (one per run gene) laid on the AnnData's rows; NaN where no gene matched."""
    out = np.full(rows.size, np.nan)
    hit = rows >= 0
    out[hit] = values[rows[hit]]
    return out


def _plain(value):
    """Values an ``.h5ad`` stores: dicts of str / number / bool / lists of str, without None (nested)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _write_over(adata, path: Path) -> None:
    """Write ``adata`` to a temporary file beside ``path`` and rename it over ``path`` once written (keeping
    ``path``'s permissions); the temporary file is removed on failure."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        adata.write_h5ad(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise
        raise DataValidationError(f"could not be written ({type(exc).__name__}: {exc}); it was left as it was. Check "
                                  "the folder is writable and has space.", file=path.name) from exc
