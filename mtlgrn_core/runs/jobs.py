"""Work in background threads, with progress a page can poll and a stop button can end.

:class:`BackgroundTask` runs any ``work(on_step, stop)`` in a daemon thread and keeps its progress, result or
error (never raised into the caller's thread); :class:`TaskRegistry` holds tasks by key for every session of a
server. :class:`TrainingJob` is the task that trains a model on a workspace dataset and saves the run
(atomically) into the workspace. Heavy tasks (trainings) may take turns through a
:class:`~mtlgrn_core.runs.compute_queue.ComputeQueue`: such a task is "queued" until its turn comes. None of this
touches a UI.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.progress import Progress, TaskStopped
from mtlgrn_core.runs.compute_queue import ComputeQueue, Place, Ticket
from mtlgrn_core.runs.run_folder import save_run
from mtlgrn_core.runs.workspace import Workspace

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"
QUEUED = "queued"  # waiting for a place in its compute queue: not started, not finished
ACTIVE = (QUEUED, RUNNING)  # the statuses of a task that has not ended


@dataclass
class TaskSnapshot:
    """A consistent copy of a task's state for display."""

    label: str
    status: str
    done: int
    total: int
    message: str
    elapsed: float
    result: Any = None
    error: str | None = None
    params: dict = field(default_factory=dict)
    position: int = 0  # while queued: 1 = next to start
    ahead: tuple[str, ...] = ()  # while queued: the labels of the tasks running or waiting before this one

    @property
    def finished(self) -> bool:
        """Ended (finished, stopped or failed); a queued task has not."""
        return self.status not in ACTIVE

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class BackgroundTask:
    """Run ``work(on_step, stop)`` in a daemon thread, keeping its progress, result or error.

    ``work`` receives a :data:`Progress` callback and a :class:`threading.Event` it should honour (the
    functions of this module take them as ``on_step`` / ``on_fold`` and ``stop``). A failure is kept as a
    message, never raised into the caller's thread. With a ``queue`` the thread first waits for a place in it
    (status :data:`QUEUED`) and gives the place back however the work ends.
    """

    def __init__(self, label: str, work: Callable[[Progress, threading.Event], Any], *, params: dict | None = None,
                 queue: ComputeQueue | None = None):
        self.label, self._work, self.params, self._queue = label, work, dict(params or {}), queue
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._status, self._done, self._total, self._message = RUNNING, 0, 0, "starting…"
        self._ticket: Ticket | None = None
        self._result: Any = None
        self._error: str | None = None
        self._started = time.perf_counter()
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"task-{label}", daemon=True)

    def start(self) -> BackgroundTask:
        """Start the thread; with a queue, take a place in its line first (in the order of the calls)."""
        if self._queue is not None:
            with self._lock:
                self._ticket, self._status = self._queue.enter(self.label), QUEUED
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the work to end at its next step; a task still waiting in its queue leaves it, never to run."""
        self._stop.set()
        with self._lock:
            if self._status == QUEUED and self._queue.cancel(self._ticket):
                self._status, self._message, self._ended = STOPPED, "stopped before it started", time.perf_counter()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def snapshot(self) -> TaskSnapshot:
        with self._lock:
            status, place = self._status, Place()
            if status == QUEUED:
                place = self._queue.place(self._ticket)
                if not place.position:  # its turn has come: the thread is starting the work
                    status = RUNNING
            end = self._ended if self._ended is not None else time.perf_counter()
            return TaskSnapshot(self.label, status, self._done, self._total, self._message, end - self._started,
                                self._result, self._error, dict(self.params), place.position, place.ahead)

    def _progress(self, done: int, total: int, message: str) -> None:
        with self._lock:
            self._done, self._total, self._message = done, total, message

    def _run(self) -> None:
        """Wait for a place (with a queue), run the work and keep its outcome; the place is given back however
        the work ends."""
        if self._ticket is not None and not self._queue.wait(self._ticket):
            return  # stopped while it waited: stop() has recorded it
        with self._lock:
            self._status, self._started = RUNNING, time.perf_counter()
        try:
            result, status, error = self._outcome()
            with self._lock:
                self._status, self._result, self._error, self._ended = status, result, error, time.perf_counter()
        finally:
            if self._ticket is not None:
                self._queue.release(self._ticket)

    def _outcome(self) -> tuple[Any, str, str | None]:
        """``(result, status, error)`` of the work: a failure becomes a message, never an exception."""
        try:
            return self._work(self._progress, self._stop), FINISHED, None
        except TaskStopped:
            return None, STOPPED, None
        except DataValidationError as exc:
            return None, FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - a worker must report, not die silently
            return None, FAILED, f"{self.label} failed: {type(exc).__name__}: {exc}"


class TaskRegistry:
    """Background tasks by key (e.g. ``(run_id, "ablation")``), shared by every session of a server; the heavy
    ones take turns through ``queue`` (the server's, shared with its trainings)."""

    def __init__(self, queue: ComputeQueue | None = None) -> None:
        self.queue = queue
        self._tasks: dict[Any, BackgroundTask] = {}
        self._lock = threading.Lock()

    def start(self, key, label: str, work: Callable[[Progress, threading.Event], Any], *,
              params: dict | None = None, queued: bool = False) -> BackgroundTask:
        """Start a task under ``key``; a task still queued or running under that key is returned instead.
        ``queued``: the task waits for its turn in the registry's queue (for work that trains models)."""
        with self._lock:
            current = self._tasks.get(key)
            if current is not None and not current.snapshot().finished:
                return current
            task = BackgroundTask(label, work, params=params, queue=self.queue if queued else None)
            self._tasks[key] = task
        return task.start()

    def get(self, key) -> BackgroundTask | None:
        with self._lock:
            return self._tasks.get(key)

    def forget(self, key) -> None:
        """Drop a task's record (a running task keeps running but is no longer listed)."""
        with self._lock:
            self._tasks.pop(key, None)


@dataclass
class JobSnapshot:
    """A consistent copy of a training job's state for display."""

    status: str
    epoch: int
    epochs: int
    seconds_left: float
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    error: str | None = None
    phase: str = "train"  # "refit" while the model is fitted again on every sample (see train.fit)
    position: int = 0  # while queued: 1 = next to start
    ahead: tuple[str, ...] = ()  # while queued: what runs or waits before this job

    @property
    def done(self) -> bool:
        """Ended (finished, stopped or failed); a queued job has not."""
        return self.status not in ACTIVE

    @property
    def fraction(self) -> float:
        return min(1.0, self.epoch / max(self.epochs, 1))


class TrainingJob:
    """Train ``config`` on a workspace dataset in the background and save the run.

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
    queue
        The queue the training waits in for its turn (a server's); None starts it at once.
    """

    def __init__(self, workspace: Workspace, dataset_id: str, config: TrainConfig, name: str, *,
                 queue: ComputeQueue | None = None):
        self.workspace, self.dataset_id, self.config, self.name = workspace, dataset_id, config, name
        self._lock = threading.Lock()
        self._history: list[dict] = []
        self._left = math.nan
        self._phase = "train"
        self._saved_run_id: str | None = None
        self._task = BackgroundTask(f"Training '{name}'", self._train, queue=queue)

    def start(self) -> "TrainingJob":
        self._task.start()
        return self

    def stop(self) -> None:
        """Ask training to end after the current epoch (the best model so far is saved), or take it out of the
        queue when it has not started (nothing is saved)."""
        self._task.stop()

    def join(self, timeout: float | None = None) -> None:
        self._task.join(timeout)

    def snapshot(self) -> JobSnapshot:
        task = self._task.snapshot()
        with self._lock:
            history, left, run_id, phase = list(self._history), self._left, self._saved_run_id, self._phase
        status = task.status
        if status == FINISHED:
            status = STOPPED if task.result else FINISHED
        return JobSnapshot(status, task.done, task.total or self.config.epochs, left, history, run_id, task.error,
                           phase, task.position, task.ahead)

    def _train(self, on_step: Progress, stop: threading.Event) -> bool:
        """Train and save the run; ``True`` when stopped early. A diverged training saves the best model
        before it diverged and reports the divergence as the job's error."""
        # torch loads in the worker, not at import
        from mtlgrn_core.model.train import TrainingDiverged, fit

        def on_epoch(info) -> None:
            row = {"epoch": info.epoch, **{f"loss_{k}": v for k, v in info.losses.items()},
                   **{f"val_{k}": v for k, v in info.validation.items()}}
            with self._lock:
                self._left, self._phase = info.seconds_left, info.phase
                if info.phase == "train":  # the refit's epochs repeat the chosen ones on every sample
                    self._history.append(row)
            on_step(info.epoch, info.epochs, f"epoch {info.epoch}")

        dataset = self.workspace.load_dataset(self.dataset_id)
        try:
            run = fit(dataset, self.config, on_epoch=on_epoch, stop=stop)
        except TrainingDiverged as exc:
            if exc.run is None:
                raise
            self._save(exc.run)
            raise DataValidationError(f"{exc} It is saved as run '{self.name}'.") from exc
        self._save(run)
        return bool(run.info["stopped_early"])

    def _save(self, run) -> None:
        run.info.update({"name": self.name, "dataset_id": self.dataset_id})
        path = save_run(run, self.workspace.new_run_path(self.name))
        with self._lock:
            self._saved_run_id = path.name
