"""mtlgrn_core.runs.jobs: background tasks with progress, errors kept as messages, stop."""

import threading
import time

import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.progress import TaskStopped
from mtlgrn_core.runs import jobs


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
            raise TaskStopped()
        return 1

    task = registry.start("c", "Slow", slow)
    assert registry.start("c", "Slow", slow) is task  # a running task is not started twice
    task.stop()
    release.set()
    assert _wait(task).status == jobs.STOPPED
    assert registry.get("c") is task
    registry.forget("c")
    assert registry.get("c") is None


# --- the compute queue: heavy tasks take turns, first come first served -------------------------------------------

from mtlgrn_core.runs.compute_queue import SLOTS_VARIABLE, ComputeQueue, configured_slots

TIMEOUT = 5  # seconds: a bug fails a test instead of hanging the suite


def _gated(started: list, label: str, gate: threading.Event):
    """Work that notes its start, then waits for ``gate`` (or stop)."""
    def work(on_step, stop):
        started.append(label)
        if not gate.wait(TIMEOUT):
            raise AssertionError(f"{label} was never released")
        return label
    return work


def _until(condition, seconds=TIMEOUT):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.005)


def _queued_tasks(queue, labels, gates, started):
    return [jobs.BackgroundTask(label, _gated(started, label, gate), queue=queue).start()
            for label, gate in zip(labels, gates)]


def test_one_slot_runs_tasks_one_after_another_in_order():
    queue, started = ComputeQueue(1), []
    gates = [threading.Event() for _ in range(3)]
    a, b, c = _queued_tasks(queue, "abc", gates, started)
    _until(lambda: started == ["a"])
    assert a.snapshot().status == jobs.RUNNING
    snap_b, snap_c = b.snapshot(), c.snapshot()
    assert (snap_b.status, snap_b.position, snap_b.ahead) == (jobs.QUEUED, 1, ("a",))
    assert (snap_c.status, snap_c.position, snap_c.ahead) == (jobs.QUEUED, 2, ("a", "b"))
    assert not snap_b.finished and snap_b.fraction == 0.0
    gates[0].set()
    a.join(TIMEOUT)
    _until(lambda: started == ["a", "b"])
    assert c.snapshot().position == 1 and c.snapshot().ahead == ("b",)
    gates[1].set()
    gates[2].set()
    for task in (b, c):
        task.join(TIMEOUT)
    assert started == ["a", "b", "c"]
    assert [t.snapshot().result for t in (a, b, c)] == ["a", "b", "c"]
    assert queue.running() == ()


def test_two_slots_run_two_tasks_at_once():
    queue, started = ComputeQueue(2), []
    gates = [threading.Event() for _ in range(3)]
    a, b, c = _queued_tasks(queue, "abc", gates, started)
    _until(lambda: sorted(started) == ["a", "b"])
    assert (c.snapshot().status, c.snapshot().position, c.snapshot().ahead) == (jobs.QUEUED, 1, ("a", "b"))
    gates[1].set()
    _until(lambda: "c" in started)
    for gate in gates:
        gate.set()
    for task in (a, b, c):
        task.join(TIMEOUT)
    assert all(t.snapshot().status == jobs.FINISHED for t in (a, b, c))


def test_stopping_a_queued_task_takes_it_out_and_the_others_move_up():
    queue, started = ComputeQueue(1), []
    gates = [threading.Event() for _ in range(3)]
    a, b, c = _queued_tasks(queue, "abc", gates, started)
    _until(lambda: started == ["a"])
    b.stop()
    snap = b.snapshot()
    assert snap.status == jobs.STOPPED and snap.finished and snap.position == 0
    assert (c.snapshot().position, c.snapshot().ahead) == (1, ("a",)) and queue.waiting() == ("c",)
    b.join(TIMEOUT)
    assert not b._thread.is_alive()  # its waiting thread woke up and left
    gates[0].set()
    gates[2].set()
    for task in (a, c):
        task.join(TIMEOUT)
    assert started == ["a", "c"] and b.snapshot().result is None


def test_a_failing_task_gives_its_slot_back():
    queue = ComputeQueue(1)
    gate = threading.Event()

    def broken(on_step, stop):
        gate.wait(TIMEOUT)
        raise RuntimeError("out of memory")

    failing = jobs.BackgroundTask("broken", broken, queue=queue).start()
    after = jobs.BackgroundTask("after", lambda on_step, stop: "ran", queue=queue).start()
    assert after.snapshot().status == jobs.QUEUED
    gate.set()
    failing.join(TIMEOUT)
    after.join(TIMEOUT)
    assert failing.snapshot().status == jobs.FAILED and "out of memory" in failing.snapshot().error
    assert after.snapshot().result == "ran" and queue.running() == ()


def test_a_task_stopped_while_running_gives_its_slot_back():
    queue, started = ComputeQueue(1), []

    def stoppable(on_step, stop):
        started.append("first")
        stop.wait(TIMEOUT)
        raise TaskStopped()

    first = jobs.BackgroundTask("first", stoppable, queue=queue).start()
    second = jobs.BackgroundTask("second", lambda on_step, stop: 2, queue=queue).start()
    _until(lambda: started == ["first"])
    first.stop()
    second.join(TIMEOUT)
    assert first.snapshot().status == jobs.STOPPED and second.snapshot().result == 2


def test_the_registry_queues_only_the_tasks_started_queued():
    registry = jobs.TaskRegistry(ComputeQueue(1))
    gate, started = threading.Event(), []
    heavy = registry.start("heavy", "Heavy", _gated(started, "heavy", gate), queued=True)
    waiting = registry.start("waiting", "Waiting", lambda on_step, stop: 1, queued=True)
    light = registry.start("light", "Light", lambda on_step, stop: 2)
    light.join(TIMEOUT)
    assert light.snapshot().result == 2  # not held up by the queue
    assert waiting.snapshot().status == jobs.QUEUED
    assert registry.start("waiting", "Waiting", lambda on_step, stop: 1, queued=True) is waiting
    gate.set()
    waiting.join(TIMEOUT)
    assert waiting.snapshot().result == 1 and heavy.snapshot().status == jobs.FINISHED


def test_training_slots_come_from_the_environment():
    assert configured_slots({}) == 1
    assert configured_slots({SLOTS_VARIABLE: "3"}) == 3
    assert configured_slots({SLOTS_VARIABLE: " 2 "}) == 2
    for bad in ("0", "-1", "two", "1.5", ""):
        assert configured_slots({SLOTS_VARIABLE: bad}) == 1, bad


def test_a_queue_takes_its_slots_from_the_environment(monkeypatch):
    monkeypatch.setenv(SLOTS_VARIABLE, "4")
    assert ComputeQueue().slots == 4
    monkeypatch.setenv(SLOTS_VARIABLE, "lots")
    assert ComputeQueue().slots == 1
    with pytest.raises(ValueError):
        ComputeQueue(0)


def test_a_training_job_waits_in_the_queue_and_can_leave_it(tmp_path):
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.runs.workspace import Workspace

    queue = ComputeQueue(1)
    other = queue.enter("Training 'first'")
    assert queue.wait(other)
    job = jobs.TrainingJob(Workspace(tmp_path / "ws"), "no-such-dataset", TrainConfig(epochs=2), "second",
                           queue=queue).start()
    snap = job.snapshot()
    assert (snap.status, snap.position, snap.ahead, snap.done) == (jobs.QUEUED, 1, ("Training 'first'",), False)
    job.stop()
    job.join(TIMEOUT)
    snap = job.snapshot()
    assert snap.status == jobs.STOPPED and snap.done and snap.run_id is None and snap.error is None
    queue.release(other)
    assert queue.running() == ()
