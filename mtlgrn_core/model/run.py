"""A trained run on disk: config JSON + weights + inputs + metrics + gene index.

Weights and inputs are saved with ``torch.save`` as plain tensors and read back with
``torch.load(weights_only=True)``: nothing is unpickled but tensors and containers of them.
Writes go to a temporary folder that is renamed into place, so a run folder is either complete or absent.
Beside the required :data:`FILES`, a run saves what a query would otherwise recompute
(:mod:`mtlgrn_core.model.run_cache`: its linear responses and gene embeddings); a folder without them still loads.
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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.features import ModelInputs
from mtlgrn_core.model.linear_model import LinearModel, fit_observational_model
from mtlgrn_core.model.network import MTLGRN, GeneTensors, ModelShape
from mtlgrn_core.model.outside_regulators import TransferResponse, learn_transfer, regulators_not_measured
from mtlgrn_core.model.randomness import isolated
from mtlgrn_core.model.run_cache import read_embeddings, read_responses, write_embeddings, write_responses
from mtlgrn_core.model.splits import EdgeSplit

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


@dataclass
class Run:
    """A trained model with what it needs to answer queries, independent of the dataset folder.

    ``split`` is the split of the prior the run was trained on (its train positives are the graph, its test
    pairs are what the run is evaluated on); ``info["split"]`` holds its kind and seed. ``outside_prior`` holds
    the prior's edges from regulators the run does not measure onto its genes (``outside_prior.csv``; empty for
    a run saved before it existed): what their knockouts start from. ``sample_info`` describes the samples
    (indexed by sample: cell group, condition, ...; ``sample_info.csv``, or None): what a knockout's context is
    chosen by (:mod:`~mtlgrn_core.answers.contexts`).
    """

    config: TrainConfig
    shape: ModelShape
    state: dict[str, torch.Tensor]
    inputs: ModelInputs
    genes: tuple[str, ...]
    tfs: tuple[str, ...]
    samples: tuple[str, ...]
    prior: pd.DataFrame
    split: EdgeSplit
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    path: Path | None = None
    outside_prior: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "target", "sign"]))
    sample_info: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.gene_index = {g: i for i, g in enumerate(self.genes)}
        self._model: MTLGRN | None = None
        self._tensors: GeneTensors | None = None
        self._z: torch.Tensor | None = None
        self._responses: LinearModel | None = None
        self._transfer: TransferResponse | None = None
        self._not_measured: tuple[pd.DataFrame, list[str]] | None = None  # (outside_prior, its regulators)

    @property
    def tasks(self) -> list[str]:
        """The tasks this run was trained on."""
        return list(self.info.get("tasks", []))

    def model(self) -> MTLGRN:
        """The network in eval mode on the CPU (built once). With the embeddings already there (saved with the
        run), without its message passing: nothing a query asks needs it, and PyTorch Geometric stays unloaded."""
        if self._model is None:
            encoder = self._z is None
            with isolated():  # its random initialisation is overwritten: it must not consume a training's draws
                model = MTLGRN(self.shape, encoder=encoder)
            state = self.state if encoder else {k: v for k, v in self.state.items() if not k.startswith("gat.")}
            model.load_state_dict(state)
            self._model = model.eval()
        return self._model

    def tensors(self) -> GeneTensors:
        if self._tensors is None:
            self._tensors = GeneTensors(self.inputs, "cpu")
        return self._tensors

    def embeddings(self) -> torch.Tensor:
        """Gene embeddings Z (computed once, or read with the run)."""
        if self._z is None:
            with torch.no_grad():
                self._z = self.model().encode(self.tensors())
        return self._z

    def linear_responses(self) -> LinearModel:
        """Each gene's linear response to its regulators in the run's whole known network (``prior``: the
        edges held out to evaluate edge prediction are known to the user all the same), ridge-fitted on the
        run's standardised expression (computed once, or read with the run): what every knockout prediction
        starts from (:func:`mtlgrn_core.answers.infer.predict_knockout`). Training fits the same model along its own
        graph only, so that no held-out edge reaches the knockout head; with an edge split the prediction
        therefore carries the change along more edges than the head saw in training. The expression is the
        run's own inputs, saved with it: a bootstrap member's (``info["bootstrap"]``) is its resample of the
        samples (:mod:`mtlgrn_core.inputs.bootstrap`), so a reloaded member refits the responses it trained with."""
        if self._responses is None:
            sources = self.prior["source"].map(self.gene_index).to_numpy(dtype=np.int64)
            targets = self.prior["target"].map(self.gene_index).to_numpy(dtype=np.int64)
            self._responses = fit_observational_model(self.inputs.expression, np.stack([sources, targets]))
        return self._responses

    def transfer_response(self) -> TransferResponse:
        """What the run's measured perturbations teach about a knockout of a regulator it does not measure
        (:func:`~mtlgrn_core.model.outside_regulators.dataset_transfer`, set by training and saved as
        ``transfer.npz``)."""
        if self._transfer is None:  # a run saved before transfer.npz existed: its measured knockouts only
            edges = pd.concat([self.prior, self.outside_prior], ignore_index=True)
            perturbed = [self.genes[g] for g in np.asarray(self.inputs.ko_genes, dtype=np.int64)]
            self._transfer = learn_transfer(self.inputs.ko_response, perturbed, edges, self.genes)
        return self._transfer

    def set_transfer_response(self, transfer: TransferResponse | None) -> None:
        """Use ``transfer`` (learned in training, or read with the run; None: learn it from the run's own
        measured knockouts on first use)."""
        self._transfer = transfer

    def regulators_not_measured(self) -> list[str]:
        """The prior's regulators this run does not measure that regulate one of its genes (they can be
        knocked out: :mod:`~mtlgrn_core.model.outside_regulators`); computed once per ``outside_prior`` table (every
        parsed query asks)."""
        if self._not_measured is None or self._not_measured[0] is not self.outside_prior:
            self._not_measured = (self.outside_prior, regulators_not_measured(self.outside_prior))
        return self._not_measured[1]

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the run to ``path`` atomically (a temporary sibling folder renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            self.write_files(tmp)
            replace_folder(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = path
        return path

    def write_files(self, folder: Path) -> None:
        """Write the run's files into the existing ``folder`` and flush them to disk (not atomic: :meth:`save`
        writes them into a temporary folder renamed into place)."""
        config = {"format_version": FORMAT_VERSION, "train": self.config.to_dict(),
                  "shape": {**self.shape.__dict__}, "info": self.info, "versions": _versions(),
                  "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _write_json(folder / "config.json", config)
        _write_json(folder / "genes.json", {"genes": list(self.genes), "tfs": list(self.tfs),
                                            "samples": list(self.samples)})
        torch.save({k: v.detach().cpu() for k, v in self.state.items()}, folder / "weights.pt")
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.inputs.arrays().items()},
                   folder / "inputs.pt")
        np.savez_compressed(folder / "split.npz", **self.split.to_arrays())
        _write_json(folder / "metrics.json", self.metrics)
        _write_json(folder / "history.json", self.history)
        self.prior.to_csv(folder / "prior.csv", index=False)
        self.outside_prior.to_csv(folder / OUTSIDE_PRIOR_FILE, index=False)
        self.transfer_response().save(folder / TRANSFER_FILE)
        if self.sample_info is not None:
            self.sample_info.to_csv(folder / SAMPLE_INFO_FILE)
        write_responses(self.linear_responses(), folder)
        write_embeddings(self.embeddings(), folder)
        _sync(folder)

    def read_saved_queries(self, folder: Path) -> None:
        """Take the linear responses and embeddings saved in ``folder`` (:mod:`~mtlgrn_core.model.run_cache`) instead
        of computing them on first use; those missing or unreadable are computed as before."""
        self._responses = read_responses(folder, len(self.genes))
        self._z = read_embeddings(folder, (len(self.genes), self.shape.hidden))


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
    :func:`~mtlgrn_core.model.run.check_run_folder` on every member (no tensor loaded).

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
    """Read a run folder written by :meth:`Run.save`.

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
        run.read_saved_queries(path)
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
