"""How many threads the numeric libraries use and how their threads wait: decided once per process, before torch
starts (:func:`configure`, run by ``import mtlgrn_core``).

PyTorch's OpenMP threads spin while they wait for each other. On a machine where anything else holds a core, every
parallel region then waits for a thread that is not running, and a training took 10-25x its time alone (issue 24:
the demo took 96 s beside a second training against 9 s alone). With a passive wait policy a waiting thread sleeps,
and a training beside another job takes about the share of the cores it gets (``bench/contention.py``). Sleeping at
once costs a training alone a quarter of its time (the demo: 9.2 s against 7.3 s), so GNU OpenMP (torch's on Linux)
first spins briefly (``GOMP_SPINCOUNT``, 1,000 turns: 7.9 s alone, and beside a second training as passive).

The thread count is, in order: ``MTLGRN_THREADS``; else ``OMP_NUM_THREADS`` when the user set it; else the cores
this process may actually use (its CPU affinity, and the cgroup CPU quota of a container or a batch job's slot, as
``os.cpu_count()`` counts the whole machine). A wait policy the user set (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``)
is kept.

OpenMP reads its environment when the library loads (with ``import torch``): a process that imported torch before
``mtlgrn_core`` gets the thread count (``torch.set_num_threads``) but keeps torch's wait policy.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

THREADS_VARIABLE = "MTLGRN_THREADS"
WAIT_POLICY = "PASSIVE"
SPIN_COUNT = "1000"  # GNU OpenMP: spin this many turns before sleeping (its own choice for oversubscribed cores)
CGROUP_ROOT = Path("/sys/fs/cgroup")
# the libraries that start worker threads of their own: OpenMP (torch, scikit-learn), and the BLAS under numpy
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class ThreadSettings:
    """The threads this process uses (``threads``), why (``reason``), and whether the wait policy could be set
    before torch started (``wait_policy``: the policy in force, or None when torch was already loaded)."""

    threads: int
    reason: str
    wait_policy: str | None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in cores (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` of v1), or None when there is none or it cannot be read."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cores(root: Path = CGROUP_ROOT) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup quota (rounded up, at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def thread_count(environ: dict | None = None, root: Path = CGROUP_ROOT) -> tuple[int, str]:
    """The thread count and where it comes from: ``MTLGRN_THREADS``, else a user's ``OMP_NUM_THREADS``, else
    :func:`available_cores`. A variable that is not a positive whole number is ignored, with the reason."""
    environ = os.environ if environ is None else environ
    ignored = []
    for name in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if not value:
            continue
        if value.isdigit() and int(value) > 0:
            return int(value), f"{name}={value}"
        ignored.append(f"{name}={value!r} is not a positive whole number and was ignored")
    cores = available_cores(root)
    return cores, "; ".join([*ignored, f"the {cores} cores this process may use (CPU affinity, cgroup quota)"])


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that gives a new process ``threads`` threads that sleep while they wait (for workers
    started by this one: Dask workers, subprocesses)."""
    return {THREADS_VARIABLE: str(threads), **{name: str(threads) for name in THREAD_VARIABLES},
            **{name: os.environ.get(name, default) for name, default in _wait_defaults().items()}}


def _wait_defaults() -> dict[str, str]:
    """How waiting threads behave unless the user said otherwise: sleep (``OMP_WAIT_POLICY``), after a brief spin
    where the user chose no policy of their own (``GOMP_SPINCOUNT`` overrides the policy in GNU OpenMP)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return {"OMP_WAIT_POLICY": WAIT_POLICY}
    return {"OMP_WAIT_POLICY": WAIT_POLICY, "GOMP_SPINCOUNT": SPIN_COUNT}


_SETTINGS: ThreadSettings | None = None


def configure() -> ThreadSettings:
    """Set this process's threads and wait policy (once; later calls return the first settings).

    Before torch is imported, the environment variables that OpenMP and the BLAS libraries read when they load;
    in any case ``torch.set_num_threads`` when torch is loaded.
    """
    global _SETTINGS
    if _SETTINGS is not None:
        return _SETTINGS
    threads, reason = thread_count()
    torch_loaded = "torch" in sys.modules
    if not torch_loaded:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        for name, value in _wait_defaults().items():
            os.environ.setdefault(name, value)
    else:
        sys.modules["torch"].set_num_threads(threads)
    _SETTINGS = ThreadSettings(threads, reason, None if torch_loaded else os.environ["OMP_WAIT_POLICY"])
    return _SETTINGS


def settings() -> ThreadSettings:
    """The settings :func:`configure` chose (configuring now if it has not run)."""
    return configure()
