"""How a long computation reports its progress and learns that it should stop (used by every wing)."""

from __future__ import annotations

from collections.abc import Callable

#: ``(steps done, total steps, what is being done now)``: the progress callback of the long computations.
Progress = Callable[[int, int, str], None]


class TaskStopped(Exception):
    """Raised inside a long computation when its stop event was set."""
