"""How much memory this machine (within its container, or ``$MTLGRN_MEMORY_LIMIT_MB``) can give now: what a fit
(:mod:`mtlgrn_core.model.memory_guard`) and the load of a large file (:mod:`mtlgrn_core.inputs.matrix_csv`) check
before they start. Imports no wing."""

from __future__ import annotations

import os
from pathlib import Path

MEMORY_LIMIT_ENV = "MTLGRN_MEMORY_LIMIT_MB"  # caps the memory a fit or a load may plan to use (servers, tests)


def host_available() -> int | None:
    """Bytes the system can give without swapping (``MemAvailable``, within the container's limit), capped by
    ``$MTLGRN_MEMORY_LIMIT_MB``; ``None`` when unknown."""
    limits = [m for m in (env_limit(), system_available(), container_available()) if m is not None]
    return min(limits) if limits else None


def env_limit() -> int | None:
    value = os.environ.get(MEMORY_LIMIT_ENV)
    return int(float(value) * 2 ** 20) if value else None


def system_available() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def container_available() -> int | None:
    """What is left under a cgroup-v2 memory limit (a container's), when there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
    except OSError:
        return None
    return None if limit == "max" else max(int(limit) - int(used), 0)


def gib(n_bytes: float) -> str:
    """A byte count in GiB (MiB below one)."""
    return f"{n_bytes / 2 ** 30:.2f} GiB" if n_bytes >= 2 ** 30 else f"{n_bytes / 2 ** 20:.0f} MiB"
