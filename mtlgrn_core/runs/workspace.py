"""Where a user's datasets and trained runs live on disk, so that they outlive sessions and restarts.

``Workspace(root)`` holds ``root/datasets/<id>/`` (dataset folders) and ``root/runs/<id>/`` (run folders).
Every write goes to a temporary sibling (a hidden name) that is renamed into place: an entry is complete or
absent. Temporaries that a killed server left behind are deleted when a workspace is opened.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset, load_dataset, write_dataset
from mtlgrn_core.runs.run_folder import check_ensemble_folder, check_run_folder, is_ensemble

DEFAULT_ROOT_ENV = "MTLGRN_HOME"
STALE_TEMPORARY_SECONDS = 3600  # a hidden temporary folder this old was left by an interrupted save


def default_root() -> Path:
    """``$MTLGRN_HOME`` or ``.mtlgrn`` in the current folder."""
    return Path(os.environ.get(DEFAULT_ROOT_ENV, ".mtlgrn")).resolve()


def safe_name(text: str, *, fallback: str = "item") -> str:
    """A file-system-safe version of a user-given name (letters, digits, ``-_.``; at most 60 characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60]
    return cleaned or fallback


def new_id(name: str) -> str:
    """A unique, sortable id: UTC time, the safe name and a random suffix."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{safe_name(name)}-{secrets.token_hex(3)}"


def stored_id(item_id: str) -> str:
    """``item_id`` as the name of its folder: an id made by :func:`new_id` is returned unchanged (whatever
    its length); anything else (a path, ``..``, a crafted string) is made safe, so it never leaves the
    workspace and simply names no stored item."""
    if _ID.fullmatch(item_id) and item_id.strip(".") and ".." not in item_id:
        return item_id
    return safe_name(item_id)


_ID = re.compile(r"[A-Za-z0-9_.-]{1,120}")


@dataclass(frozen=True)
class RunEntry:
    """One run folder as listed: ``ok`` False for a partial or corrupt folder (with the reason)."""

    id: str
    path: Path
    ok: bool
    problem: str = ""
    name: str = ""
    dataset: str = ""
    saved: str = ""
    tasks: tuple[str, ...] = ()
    test: dict | None = None
    group: dict | None = None  # {column, value, batch} of a run trained per cell group
    members: int = 0  # members of an ensemble (mtlgrn_core.runs.ensemble); 0 for a single run


@dataclass(frozen=True)
class DatasetEntry:
    id: str
    path: Path
    name: str
    summary: dict
    warnings: tuple[str, ...] = ()


class Workspace:
    """The datasets and runs of one user (or one server), under ``root``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.datasets_dir = self.root / "datasets"
        self.runs_dir = self.root / "runs"
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.remove_stale_temporaries()

    def remove_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> list[Path]:
        """Delete the hidden temporary folders, older than ``older_than`` seconds, that saves interrupted
        by a crash or a restart left behind (younger ones may belong to a save in progress); returns them."""
        cutoff = time.time() - older_than
        removed = []
        for path in [*self.datasets_dir.iterdir(), *self.runs_dir.iterdir()]:
            try:
                stale = path.name.startswith(".") and path.is_dir() and path.stat().st_mtime < cutoff
            except OSError:  # deleted meanwhile
                continue
            if stale:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    # -- datasets --------------------------------------------------------------------------------------
    def save_dataset(self, dataset: Dataset, name: str | None = None) -> str:
        """Store ``dataset`` as a dataset folder; returns its id."""
        entry_id = new_id(name or dataset.name)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.datasets_dir))
        try:
            write_dataset(dataset, tmp, binary_expression=True)  # exact, and fast for a large matrix
            (tmp / "meta.json").write_text(json.dumps({"name": name or dataset.name,
                                                       "summary": dataset.summary(),
                                                       "warnings": dataset.warnings}, default=str))
            os.replace(tmp, self.datasets_dir / entry_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry_id

    def datasets(self) -> list[DatasetEntry]:
        out = []
        for path in sorted(self.datasets_dir.iterdir(), reverse=True):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                meta = json.loads((path / "meta.json").read_text())
            except (OSError, ValueError):
                continue
            out.append(DatasetEntry(path.name, path, meta.get("name", path.name), meta.get("summary", {}),
                                    tuple(meta.get("warnings", []))))
        return out

    def dataset_path(self, dataset_id: str) -> Path:
        path = self.datasets_dir / stored_id(dataset_id)
        if not path.is_dir():
            raise DataValidationError(f"dataset '{dataset_id}' is not in the workspace any more. Load it again.")
        return path

    def load_dataset(self, dataset_id: str) -> Dataset:
        """A stored dataset as it was saved (name, warnings and whether it was log-transformed)."""
        path = self.dataset_path(dataset_id)
        dataset = load_dataset(path, log_transform=False)  # stored values are final: never transform twice
        meta = json.loads((path / "meta.json").read_text())
        dataset.name = meta.get("name", dataset_id)
        dataset.log_transformed = bool(meta.get("summary", {}).get("log_transformed", False))
        dataset.regulator_rule = meta.get("summary", {}).get("regulators", dataset.regulator_rule)
        dataset.warnings = list(meta.get("warnings", []))
        return dataset

    # -- runs ------------------------------------------------------------------------------------------
    def new_run_path(self, name: str) -> Path:
        return self.runs_dir / new_id(name)

    def run_path(self, run_id: str) -> Path:
        path = self.runs_dir / stored_id(run_id)
        if not path.is_dir():
            raise DataValidationError(f"run '{run_id}' is not in the workspace any more.")
        return path

    def runs(self) -> list[RunEntry]:
        """Every run folder, newest first; partial, corrupt or incompatible ones are listed with their
        problem (``ok`` False), never raised."""
        return [self._entry(p) for p in sorted(self.runs_dir.iterdir(), reverse=True)
                if p.is_dir() and not p.name.startswith(".")]

    @staticmethod
    def _entry(path: Path) -> RunEntry:
        try:
            config, metrics = check_run_folder(path)
            if is_ensemble(path):
                check_ensemble_folder(path)
            info = config.get("info") or {}
            return RunEntry(path.name, path, True, name=str(info.get("name", path.name)),
                            dataset=str(info.get("dataset", "")), saved=str(config.get("saved", "")),
                            tasks=tuple(info.get("tasks", [])), test=metrics.get("test"), group=info.get("group"),
                            members=int((info.get("ensemble") or {}).get("members", 0)))
        except DataValidationError as exc:
            return RunEntry(path.name, path, False, str(exc))
        except Exception as exc:  # noqa: BLE001 - one odd folder must not break the list
            return RunEntry(path.name, path, False, f"corrupt: {type(exc).__name__}: {exc}")

    def delete_run(self, run_id: str) -> None:
        """Delete a run: renamed to a hidden name first, so that an interrupted delete leaves no half run."""
        path = self.run_path(run_id)
        trash = path.with_name(f".{path.name}.deleted-{secrets.token_hex(3)}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def run_archive(self, run_id: str) -> bytes:
        """The run folder as a zip (for download)."""
        path = self.run_path(run_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(path.rglob("*")):  # an ensemble's members are in sub-folders
                if file.is_file():
                    archive.write(file, f"{path.name}/{file.relative_to(path).as_posix()}")
        return buffer.getvalue()
