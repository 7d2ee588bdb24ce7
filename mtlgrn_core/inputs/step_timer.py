"""Seconds per loading step, so that a slow load says which of its steps was slow."""

from __future__ import annotations

import time


class StepTimer:
    """Seconds per loading step, each step timed from the end of the one before (``timer.lap("read")``), so that
    a slow load says which of its steps was slow (:attr:`Dataset.timings`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        """Add the seconds since the last lap (or the start) to ``step``."""
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now
