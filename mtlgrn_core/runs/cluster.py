"""Training ensembles on Dask distributed: one task per member (and per dataset, e.g. per cell group), on a
local cluster of this machine by default (:func:`local_cluster`) or on a running cluster by its scheduler's
address.

Each member is :func:`train_member` (an ordinary :func:`~mtlgrn_core.model.train.fit` with its own seed on the
shared split; with ``config.bootstrap`` on its own resample of the samples, :mod:`mtlgrn_core.inputs.bootstrap`),
returned to this process and saved here, so that workers need no shared disk. A member that
fails, or whose worker dies, is reported and submitted once more; one that fails again is reported and
left out, and the others are kept (:class:`EnsembleOutcome`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.splits import EdgeSplit
from mtlgrn_core.threads import settings as thread_settings
from mtlgrn_core.threads import thread_environment

CONNECT_TIMEOUT_S = 10
WORKER_START_TIMEOUT_S = 120
# Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536 (to give memory back to the system sooner).
# Setting it freezes glibc's mmap threshold at 128 KiB: every tensor of a training is then a fresh mmap whose pages
# the kernel zeroes on first touch, and a 4,000-gene member trained 1.75x slower alone, 2.5x beside another (issue
# 24). The local cluster's workers leave glibc's own adaptive thresholds in place (Dask's documented config
# override: None unsets a pre-spawn variable); give remote workers the same variable.
KEEP_GLIBC_MALLOC = {"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": '{"MALLOC_TRIM_THRESHOLD_": None}'}


@dataclass
class EnsembleJob:
    """One ensemble to train: ``members`` seeds from ``config.seed`` on one split, saved to ``out`` (a bootstrap
    ensemble with ``config.bootstrap``: each member's seed also draws its resample of the samples)."""

    dataset: Dataset
    config: TrainConfig
    members: int
    out: Path
    split: EdgeSplit | None = None
    info: dict = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [self.config.seed + k for k in range(self.members)]


@dataclass
class EnsembleOutcome:
    """What one job gave: the saved folder (None when every member failed), the seeds trained, and each
    failure as ``{seed, attempt, error}`` (``attempt`` 1 was retried; 2 left the member out)."""

    out: Path | None
    trained: list[int]
    failures: list[dict]


def train_member(dataset: Dataset, config: TrainConfig, split: EdgeSplit):
    """One member: :func:`~mtlgrn_core.model.train.fit` (runs on a Dask worker; importing ``mtlgrn_core`` there set its
    threads, :mod:`mtlgrn_core.threads`: the local cluster's share of the cores, or a remote worker's own cores)."""
    from mtlgrn_core.model.train import fit

    return fit(dataset, config, split=split)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, *, workers: int | None = None) -> Iterator:
    """A ``distributed.Client``: connected to ``scheduler`` (``tcp://host:8786``), or to a cluster of this
    machine started for the block and closed after (:func:`local_cluster`)."""
    from distributed import Client

    if not scheduler:
        with local_cluster(workers) as address, Client(address) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise DataValidationError(f"no Dask scheduler answers at {scheduler} ({type(exc).__name__}: {exc}). "
                                  "Check the address (tcp://host:8786) and that the scheduler runs, or leave "
                                  "it empty to train on this machine.") from exc
    with client:
        yield client


@contextlib.contextmanager
def local_cluster(workers: int | None = None) -> Iterator[str]:
    """A Dask scheduler in this process and ``workers`` worker processes on 127.0.0.1; yields the scheduler's
    address. The workers share this process's threads (``MTLGRN_THREADS``, or the cores it may use: default one
    worker per thread, at most 4), each ``threads // workers`` that sleep while they wait
    (:func:`~mtlgrn_core.threads.thread_environment`).

    The workers are started as the ``dask worker`` command (a process of their own, as on a cluster), not as
    children of this process: a child started by ``multiprocessing`` imports this process's main module again,
    and under Streamlit that is the page being run (it started the cluster anew, without end). A worker runs
    one member at a time (no member waits on a worker that may die) and a worker's death fails the member it was
    training at once (:func:`train_ensembles` retries it once); its nanny starts a fresh worker.
    """
    import dask
    from distributed import Client, LocalCluster

    cores = thread_settings().threads  # MTLGRN_THREADS, or the cores this process may use
    workers = workers or max(1, min(cores, 4))
    settings = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
    env = {**KEEP_GLIBC_MALLOC, **os.environ, **thread_environment(max(1, cores // workers)),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    with dask.config.set(settings), \
            LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0",
                         silence_logs=40) as cluster, tempfile.TemporaryFile() as log:
        command = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                   "--nworkers", str(workers), "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                   "--death-timeout", "60"]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            with Client(cluster) as client:
                try:
                    client.wait_for_workers(workers, timeout=WORKER_START_TIMEOUT_S)
                except TimeoutError as exc:
                    log.seek(0)
                    started = log.read()[-1500:].decode(errors="replace")
                    raise DataValidationError(f"the {workers} Dask workers did not start on this machine within "
                                              f"{WORKER_START_TIMEOUT_S} s: {started}") from exc
            yield cluster.scheduler_address
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def train_ensembles(jobs: list[EnsembleJob], client, *, work: Callable = train_member,
                    on_event: Callable[[str], None] | None = None,
                    stop: threading.Event | None = None) -> list[EnsembleOutcome]:
    """Train every member of every job as Dask tasks on ``client`` and save each job's ensemble.

    ``work(dataset, config, split)`` trains one member (default :func:`train_member`); ``on_event`` receives
    a sentence per finished, failed or retried member. When ``stop`` is set, the members not yet finished are
    cancelled and the finished ones saved.
    """
    from distributed import as_completed

    from mtlgrn_core.model.train import make_split
    from mtlgrn_core.runs.ensemble import save_ensemble

    say = on_event or (lambda _message: None)
    token = secrets.token_hex(3)
    pending, attempts, done = {}, {}, [{} for _ in jobs]
    failures: list[list[dict]] = [[] for _ in jobs]
    splits = [job.split or make_split(job.dataset, job.config.split, job.config.seed) for job in jobs]

    def submit(j: int, seed: int):
        attempts[j, seed] = attempts.get((j, seed), 0) + 1
        config = replace(jobs[j].config, seed=seed)
        key = f"mtlgrn-member-{token}-{j}-{seed}-{attempts[j, seed]}"
        # the data travel with each task (no scattered copy: a task depending on data held by one worker would be
        # sent to that worker and wait there behind another member, and fail with it if that worker died)
        future = client.submit(work, jobs[j].dataset, config, splits[j], key=key, pure=False)
        pending[future] = (j, seed)
        return future

    for j, job in enumerate(jobs):
        for seed in job.seeds:
            submit(j, seed)
    queue = as_completed(list(pending))
    for future in queue:
        j, seed = pending.pop(future)
        label = _label(jobs[j], seed)
        try:
            done[j][seed] = future.result()
            say(f"{label} trained")
        except Exception as exc:  # noqa: BLE001 - a member's failure is reported, never fatal to the others
            error = f"{type(exc).__name__}: {exc}"
            failures[j].append({"seed": seed, "attempt": attempts[j, seed], "error": error})
            if attempts[j, seed] < 2:
                say(f"{label} failed ({error}); trying it once more")
                queue.add(submit(j, seed))
            else:
                say(f"{label} failed again ({error}); left out, the other members are kept")
        finally:
            future.release()
        if stop is not None and stop.is_set() and pending:
            client.cancel(list(pending))
            say(f"stopped: the {len(pending)} members not finished are cancelled, the others kept")
            break
    outcomes = []
    for j, job in enumerate(jobs):
        left_out = [f for f in failures[j] if f["attempt"] == 2]
        out = save_ensemble(done[j], left_out, job.out, info=job.info) if done[j] else None
        outcomes.append(EnsembleOutcome(out, sorted(done[j]), failures[j]))
    return outcomes


def _label(job: EnsembleJob, seed: int) -> str:
    where = f"{job.out.name}: " if job.out.name else ""
    return f"{where}member seed {seed}"


def train_workspace_ensemble(workspace, dataset_id: str, config: TrainConfig, members: int, name: str, *,
                             scheduler: str | None = None, on_step=None, stop: threading.Event | None = None
                             ) -> EnsembleOutcome:
    """Train an ensemble of a workspace dataset (on ``scheduler``, default a local cluster) and save it as a
    workspace run named ``name``; ``on_step(done, total, message)`` follows the members."""
    dataset = workspace.load_dataset(dataset_id)
    job = EnsembleJob(dataset, config, members, workspace.new_run_path(name),
                      info={"name": name, "dataset_id": dataset_id})
    finished = []

    def event(message: str) -> None:
        finished.append(message)
        if on_step is not None:
            on_step(sum(" trained" in m for m in finished), members, message)

    if on_step is not None:
        kind = " (bootstrap: each on its own resample of the samples)" if config.bootstrap else ""
        on_step(0, members, f"starting {members} members{kind} on {scheduler or 'this machine'}")
    with dask_client(scheduler) as client:
        [outcome] = train_ensembles([job], client, on_event=event, stop=stop)
    return outcome
