"""Training in a background thread, with progress a page can poll and a stop button can end.

A :class:`TrainingJob` never touches a UI: it records progress in plain fields guarded by a lock, saves the
finished run into a :class:`~mtlgrn_core.workspace.Workspace` (atomically) and records its id. A failure is
kept as a message, never raised into the caller's thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .config import TrainConfig
from .errors import DataValidationError
from .workspace import Workspace

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"


@dataclass
class JobSnapshot:
    """A consistent copy of a job's state for display."""

    status: str
    epoch: int
    epochs: int
    seconds_left: float
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status != RUNNING

    @property
    def fraction(self) -> float:
        return min(1.0, self.epoch / max(self.epochs, 1))


class TrainingJob:
    """Train ``config`` on a workspace dataset in a daemon thread and save the run.

    Parameters
    ----------
    workspace
        Where the dataset is read from and the run is written to.
    dataset_id
        Id of a dataset in ``workspace``.
    config
        Training settings.
    name
        A label for the run (shown in run lists).
    """

    def __init__(self, workspace: Workspace, dataset_id: str, config: TrainConfig, name: str):
        self.workspace, self.dataset_id, self.config, self.name = workspace, dataset_id, config, name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._history: list[dict] = []
        self._status, self._epoch, self._left = RUNNING, 0, float("nan")
        self._run_id: str | None = None
        self._error: str | None = None
        self.started = time.time()
        self._thread = threading.Thread(target=self._work, name=f"train-{name}", daemon=True)

    def start(self) -> "TrainingJob":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask training to end after the current epoch; the best model so far is saved."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(self._status, self._epoch, self.config.epochs, self._left, list(self._history),
                               self._run_id, self._error)

    def _progress(self, info) -> None:
        row = {"epoch": info.epoch, **{f"loss_{k}": v for k, v in info.losses.items()},
               **{f"val_{k}": v for k, v in info.validation.items()}}
        with self._lock:
            self._epoch, self._left = info.epoch, info.seconds_left
            self._history.append(row)

    def _work(self) -> None:
        from .train import fit  # torch loads in the worker, not at import

        try:
            dataset = self.workspace.load_dataset(self.dataset_id)
            run = fit(dataset, self.config, on_epoch=self._progress, stop=self._stop)
            run.info.update({"name": self.name, "dataset_id": self.dataset_id})
            path = run.save(self.workspace.new_run_path(self.name))
            status, run_id, error = (STOPPED if run.info["stopped_early"] else FINISHED), path.name, None
        except DataValidationError as exc:
            status, run_id, error = FAILED, None, str(exc)
        except Exception as exc:  # a worker must report, not die silently
            status, run_id, error = FAILED, None, f"training failed: {type(exc).__name__}: {exc}"
        with self._lock:
            self._status, self._run_id, self._error = status, run_id, error
