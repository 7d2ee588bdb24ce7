"""mtlgrn_core.jobs: background tasks with progress, errors kept as messages, stop."""

import threading
import time

import pytest

from mtlgrn_core import jobs
from mtlgrn_core.errors import DataValidationError


def _wait(task, seconds=10):
    deadline = time.time() + seconds
    while not task.snapshot().finished and time.time() < deadline:
        time.sleep(0.02)
    return task.snapshot()


def test_background_task_result_error_and_stop():
    registry = jobs.TaskRegistry()

    def work(on_step, stop):
        for k in range(3):
            on_step(k, 3, f"step {k}")
        return 42

    snap = _wait(registry.start("a", "Adding", work, params={"epochs": 3}))
    assert (snap.status, snap.result, snap.params) == (jobs.FINISHED, 42, {"epochs": 3})
    assert snap.fraction == pytest.approx(2 / 3) and snap.message == "step 2"

    def bad(on_step, stop):
        raise DataValidationError("no knockouts: add some.")

    snap = _wait(registry.start("b", "Failing", bad))
    assert snap.status == jobs.FAILED and snap.error == "no knockouts: add some."

    release = threading.Event()

    def slow(on_step, stop):
        release.wait(5)
        if stop.is_set():
            raise jobs.TaskStopped()
        return 1

    task = registry.start("c", "Slow", slow)
    assert registry.start("c", "Slow", slow) is task  # a running task is not started twice
    task.stop()
    release.set()
    assert _wait(task).status == jobs.STOPPED
    assert registry.get("c") is task
    registry.forget("c")
    assert registry.get("c") is None
