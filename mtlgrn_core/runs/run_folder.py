"""A trained run on disk: config JSON + weights + inputs + metrics + gene index.

Weights and inputs are saved with ``torch.save`` as plain tensors and read back with
``torch.load(weights_only=True)``: nothing is unpickled but tensors and containers of them.
Writes go to a temporary folder that is renamed into place, so a run folder is either complete or absent.
Beside the required :data:`FILES`, a run saves what a query would otherwise recompute
(:mod:`~mtlgrn_core.runs.run_cache`: its linear responses and gene embeddings); a folder without them still loads.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import secrets
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.features import ModelInputs
from mtlgrn_core.model.network import ModelShape
from mtlgrn_core.model.outside_regulators import TransferResponse
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.splits import EdgeSplit
from mtlgrn_core.runs.run_cache import read_embeddings, read_responses, write_embeddings, write_responses

FORMAT_VERSION = 5  # 5: the knockout head adds to the linear responses; 4: split.npz, unclipped z-scores, DirGNNConv
# format 4 differs only by the knockout head's per-gene MLP (ko_source, ko_combine, ko_target), which format 5 no
# longer has: such a run is read without it (its edges score as before; its knockouts use the format-5 head)
READ_FORMATS = (4, FORMAT_VERSION)
FORMAT_4_HEAD = ("ko_source.", "ko_combine.", "ko_target.")
OUTSIDE_PRIOR_FILE = "outside_prior.csv"  # edges from regulators the run does not measure (optional)
SAMPLE_INFO_FILE = "sample_info.csv"  # what describes each sample (optional)
TRANSFER_FILE = "transfer.npz"  # what its perturbations teach about such a regulator's knockout (optional)
ENSEMBLE_FILE = "ensemble.json"  # an ensemble's member listing (mtlgrn_core.runs.ensemble), beside its first member
FILES = ("config.json", "genes.json", "weights.pt", "inputs.pt", "split.npz", "metrics.json", "history.json",
         "prior.csv")


def save_run(run: Run, path: str | Path) -> Path:
    """Write ``run`` to ``path`` atomically (a temporary sibling folder renamed into place); sets ``run.path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write_run_files(run, tmp)
        replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path = path
    return path


def write_run_files(run: Run, folder: Path) -> None:
    """Write the run's files into the existing ``folder`` and flush them to disk (not atomic: :func:`save_run`
    writes them into a temporary folder renamed into place)."""
    config = {"format_version": FORMAT_VERSION, "train": run.config.to_dict(),
              "shape": {**run.shape.__dict__}, "info": run.info, "versions": _versions(),
              "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_json(folder / "config.json", config)
    _write_json(folder / "genes.json", {"genes": list(run.genes), "tfs": list(run.tfs), "samples": list(run.samples)})
    torch.save({k: v.detach().cpu() for k, v in run.state.items()}, folder / "weights.pt")
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in run.inputs.arrays().items()},
               folder / "inputs.pt")
    np.savez_compressed(folder / "split.npz", **run.split.to_arrays())
    _write_json(folder / "metrics.json", run.metrics)
    _write_json(folder / "history.json", run.history)
    run.prior.to_csv(folder / "prior.csv", index=False)
    run.outside_prior.to_csv(folder / OUTSIDE_PRIOR_FILE, index=False)
    run.transfer_response().save(folder / TRANSFER_FILE)
    if run.sample_info is not None:
        run.sample_info.to_csv(folder / SAMPLE_INFO_FILE)
    write_responses(run.linear_responses(), folder)
    write_embeddings(run.embeddings(), folder)
    _sync(folder)


def _sync(folder: Path) -> None:
    """Flush the folder's files to disk, so that the rename that publishes it never outruns its content."""
    for file in folder.iterdir():
        if not file.is_file():
            continue
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def replace_folder(new: Path, path: Path) -> None:
    """Rename folder ``new`` to ``path``; a folder already at ``path`` is first renamed aside (a hidden
    name) and deleted after, so that ``path`` never holds a half-deleted run."""
    old = path.with_name(f".{path.name}.old-{secrets.token_hex(3)}") if path.exists() else None
    if old is not None:
        os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict:
    import torch_geometric

    from mtlgrn_core.version import __version__

    return {"mtlgrn": __version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "python": platform.python_version()}


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def check_run_folder(path: str | Path) -> tuple[dict, dict]:
    """The config and metrics of a run folder, after the checks that load no tensors.

    Raises
    ------
    DataValidationError
        Whose message starts with what is wrong: ``incomplete:`` (files missing: an interrupted save),
        ``corrupt:`` (a file that cannot be read) or ``incompatible:`` (another run format version).
    """
    path = Path(path)
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise DataValidationError(f"incomplete: missing {', '.join(missing)}")
    config, metrics = _read_json(path / "config.json"), _read_json(path / "metrics.json")
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        raise DataValidationError("corrupt: config.json or metrics.json does not hold a run's settings")
    version = config.get("format_version")
    if version not in READ_FORMATS:
        made_with = (config.get("versions") or {}).get("mtlgrn", "an unknown version")
        raise DataValidationError(f"incompatible: saved by MTLGRN {made_with} in run format {version}; this "
                                  f"MTLGRN reads formats {' and '.join(map(str, READ_FORMATS))}")
    for name in ("weights.pt", "inputs.pt", "split.npz"):
        if not zipfile.is_zipfile(path / name):
            kind = "array" if name.endswith(".npz") else "tensor"
            raise DataValidationError(f"corrupt: {name} is not a saved {kind} file")
    return config, metrics


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / ENSEMBLE_FILE).is_file()


def check_ensemble_folder(path: str | Path) -> list[dict]:
    """The member listing of an ensemble folder (``seed``, ``path``), after the checks of
    :func:`~mtlgrn_core.runs.run_folder.check_run_folder` on every member (no tensor loaded).

    Raises
    ------
    DataValidationError
        Naming what is wrong: ``ensemble.json`` unreadable, or the member (seed, folder) that is incomplete,
        corrupt or incompatible.
    """
    path = Path(path)
    try:
        entries = json.loads((path / ENSEMBLE_FILE).read_text())["members"]
        listing = [{"seed": int(e["seed"]), "path": str(e["path"])} for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataValidationError(f"corrupt: {path / ENSEMBLE_FILE} cannot be read ({exc}); the folder is not a "
                                  "complete ensemble. Train it again with --seeds.") from exc
    for entry in listing:
        try:
            check_run_folder(path / entry["path"])
        except DataValidationError as exc:
            raise DataValidationError(f"{exc} (ensemble member seed {entry['seed']}, {entry['path']})") from exc
    return listing


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"corrupt: {path.name} cannot be read ({type(exc).__name__}: {exc})")


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :func:`save_run`.

    Tensors are read with ``torch.load(weights_only=True)``: a file holding anything else (a pickled
    object that would run code) is refused, never executed.

    Raises
    ------
    DataValidationError
        When the folder is missing files, was written by an incompatible format version, or is corrupt.
    """
    path = Path(path)
    try:
        config, metrics = check_run_folder(path)
        names = _read_json(path / "genes.json")
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        info = config.get("info", {})
        if config["format_version"] == 4:
            state = {k: v for k, v in state.items() if not k.startswith(FORMAT_4_HEAD)}
            info = {**info, "format_upgrade": "saved in run format 4: its knockout head's per-gene part was "
                                              "left out; knockouts are predicted as a format-5 run does"}
        arrays = torch.load(path / "inputs.pt", map_location="cpu", weights_only=True)
        prior = _read_edges(path / "prior.csv")
        outside = _read_edges(path / OUTSIDE_PRIOR_FILE) if (path / OUTSIDE_PRIOR_FILE).is_file() else None
        split = _read_split(path / "split.npz", info.get("split", {}))
        run = Run(config=TrainConfig.from_dict(config["train"]), shape=ModelShape(**config["shape"]),
                  state=state, inputs=ModelInputs.from_arrays({k: v.numpy() for k, v in arrays.items()}),
                  genes=tuple(names["genes"]), tfs=tuple(names["tfs"]), samples=tuple(names["samples"]),
                  prior=prior, split=split, metrics=metrics, history=_read_json(path / "history.json"),
                  info=info, path=path)
        if outside is not None:
            run.outside_prior = outside
        run.set_transfer_response(TransferResponse.read(path / TRANSFER_FILE, len(run.genes)))
        if (path / SAMPLE_INFO_FILE).is_file():
            run.sample_info = pd.read_csv(path / SAMPLE_INFO_FILE, index_col=0, dtype=str, keep_default_na=False)
        run.use_saved(read_responses(path, len(run.genes)), read_embeddings(path, (len(run.genes), run.shape.hidden)))
        return run
    except DataValidationError as exc:
        raise DataValidationError(f"run '{path.name}' cannot be used ({exc}). {_advice(str(exc))}") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, EOFError,
            pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise DataValidationError(f"run '{path.name}' cannot be used (corrupt: {type(exc).__name__}: {exc}). "
                                  f"{_advice('corrupt')}") from exc


def _read_edges(path: Path) -> pd.DataFrame:
    """A run's ``source, target, sign`` table (gene names kept as written: ``NA`` is a gene)."""
    return pd.read_csv(path, dtype={"source": str, "target": str}, keep_default_na=False)


def _read_split(path: Path, meta: dict) -> EdgeSplit:
    """The stored split (arrays only: ``allow_pickle=False`` never runs code from the file)."""
    with np.load(path, allow_pickle=False) as arrays:
        return EdgeSplit.from_arrays(dict(arrays), kind=meta["kind"], seed=int(meta.get("seed", -1)))


def _advice(problem: str) -> str:
    if problem.startswith("incompatible"):
        return "Train it again with this version, or open it with the MTLGRN version that saved it."
    return "Train it again, or delete it."
