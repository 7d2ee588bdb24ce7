"""A trained run on disk: config JSON + weights + inputs + metrics + gene index.

Weights and inputs are saved with ``torch.save`` as plain tensors and read back with
``torch.load(weights_only=True)``: nothing is unpickled but tensors and containers of them.
Writes go to a temporary folder that is renamed into place, so a run folder is either complete or absent.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .config import TrainConfig
from .errors import DataValidationError
from .features import ModelInputs
from .model import GeneTensors, ModelShape, MTLGRN

FORMAT_VERSION = 3
FILES = ("config.json", "genes.json", "weights.pt", "inputs.pt", "metrics.json", "history.json", "prior.csv")


@dataclass
class Run:
    """A trained model with what it needs to answer queries, independent of the dataset folder."""

    config: TrainConfig
    shape: ModelShape
    state: dict[str, torch.Tensor]
    inputs: ModelInputs
    genes: tuple[str, ...]
    tfs: tuple[str, ...]
    samples: tuple[str, ...]
    prior: pd.DataFrame
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.gene_index = {g: i for i, g in enumerate(self.genes)}
        self._model: MTLGRN | None = None
        self._tensors: GeneTensors | None = None
        self._z: torch.Tensor | None = None

    @property
    def tasks(self) -> list[str]:
        """The tasks this run was trained on."""
        return list(self.info.get("tasks", []))

    def model(self) -> MTLGRN:
        """The network in eval mode on the CPU (built once)."""
        if self._model is None:
            model = MTLGRN(self.shape)
            model.load_state_dict(self.state)
            self._model = model.eval()
        return self._model

    def tensors(self) -> GeneTensors:
        if self._tensors is None:
            self._tensors = GeneTensors(self.inputs, "cpu")
        return self._tensors

    def embeddings(self) -> torch.Tensor:
        """Gene embeddings Z (computed once)."""
        if self._z is None:
            with torch.no_grad():
                self._z = self.model().encode(self.tensors())
        return self._z

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the run to ``path`` atomically (a temporary sibling folder renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            self._write(tmp)
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.path = path
        return path

    def _write(self, folder: Path) -> None:
        config = {"format_version": FORMAT_VERSION, "train": self.config.to_dict(),
                  "shape": {**self.shape.__dict__}, "info": self.info, "versions": _versions(),
                  "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _write_json(folder / "config.json", config)
        _write_json(folder / "genes.json", {"genes": list(self.genes), "tfs": list(self.tfs),
                                            "samples": list(self.samples)})
        torch.save({k: v.detach().cpu() for k, v in self.state.items()}, folder / "weights.pt")
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.inputs.arrays().items()},
                   folder / "inputs.pt")
        _write_json(folder / "metrics.json", self.metrics)
        _write_json(folder / "history.json", self.history)
        self.prior.to_csv(folder / "prior.csv", index=False)


def _versions() -> dict:
    import torch_geometric

    from . import __version__

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


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :meth:`Run.save`.

    Raises
    ------
    DataValidationError
        When the folder is missing files, was written by an incompatible format version, or is corrupt.
    """
    path = Path(path)
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise DataValidationError(f"run folder '{path}' is incomplete (missing {', '.join(missing)}). Train "
                                  "it again or pick another run.")
    try:
        config = json.loads((path / "config.json").read_text())
        names = json.loads((path / "genes.json").read_text())
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            raise DataValidationError(f"run '{path.name}' has format version {version}; this MTLGRN reads "
                                      f"version {FORMAT_VERSION}. Retrain it with this version.")
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        arrays = torch.load(path / "inputs.pt", map_location="cpu", weights_only=True)
        prior = pd.read_csv(path / "prior.csv", dtype={"source": str, "target": str}, keep_default_na=False)
        return Run(config=TrainConfig.from_dict(config["train"]), shape=ModelShape(**config["shape"]),
                   state=state, inputs=ModelInputs.from_arrays({k: v.numpy() for k, v in arrays.items()}),
                   genes=tuple(names["genes"]), tfs=tuple(names["tfs"]), samples=tuple(names["samples"]),
                   prior=prior, metrics=json.loads((path / "metrics.json").read_text()),
                   history=json.loads((path / "history.json").read_text()), info=config.get("info", {}),
                   path=path)
    except DataValidationError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
        raise DataValidationError(f"run folder '{path}' is corrupt ({type(exc).__name__}: {exc}). Train it "
                                  "again or delete it.")
