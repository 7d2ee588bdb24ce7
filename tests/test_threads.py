"""Threads and wait policy of the numeric libraries (mtlgrn_core.threads): chosen from the cores a process may
use and what the user says, and set before torch starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtlgrn_core import threads

ROOT = Path(__file__).resolve().parents[1]


def _cgroup(tmp_path, **files) -> Path:
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2: a container limited to 1.5 cores
    ({"cpu.max": "max 100000\n"}, None),  # v2 without a limit
    ({"cpu__cpu.cfs_quota_us": "300000\n", "cpu__cpu.cfs_period_us": "100000\n"}, 3.0),  # cgroup v1
    ({"cpu__cpu.cfs_quota_us": "-1\n", "cpu__cpu.cfs_period_us": "100000\n"}, None),  # v1 without a limit
    ({"cpu.max": "garbage"}, None),
    ({}, None),  # no cgroup files at all
])
def test_cgroup_cpu_limit_reads_v1_and_v2(tmp_path, files, expected):
    assert threads.cgroup_cpu_limit(_cgroup(tmp_path, **files)) == expected


def test_available_cores_are_capped_by_the_quota_rounded_up(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert threads.available_cores(_cgroup(tmp_path, **{"cpu.max": "50000 100000"})) == 1
    assert threads.available_cores(_cgroup(tmp_path / "none")) == affinity
    if affinity >= 2:
        assert threads.available_cores(_cgroup(tmp_path / "q", **{"cpu.max": "150000 100000"})) == 2


def test_thread_count_prefers_mtlgrn_threads_then_omp_then_cores(tmp_path):
    cores = threads.available_cores(tmp_path)
    assert threads.thread_count({"MTLGRN_THREADS": "3", "OMP_NUM_THREADS": "5"}, tmp_path) == (3, "MTLGRN_THREADS=3")
    assert threads.thread_count({"OMP_NUM_THREADS": "5"}, tmp_path) == (5, "OMP_NUM_THREADS=5")
    count, reason = threads.thread_count({}, tmp_path)
    assert count == cores and "cores this process may use" in reason
    count, reason = threads.thread_count({"MTLGRN_THREADS": "two"}, tmp_path)
    assert count == cores and "MTLGRN_THREADS='two' is not a positive whole number" in reason
    assert threads.thread_count({"MTLGRN_THREADS": "0", "OMP_NUM_THREADS": "1"}, tmp_path)[0] == 1


def test_worker_environment_gives_threads_that_sleep_while_they_wait(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    env = threads.thread_environment(2)
    assert env["MTLGRN_THREADS"] == env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["GOMP_SPINCOUNT"] == "1000"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice is kept
    env = threads.thread_environment(2)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in env


PROBE = ("import json, os, sys; {first}import mtlgrn_core, torch; from mtlgrn_core import threads; "
         "print(json.dumps({{'torch': torch.get_num_threads(), 'policy': os.environ.get('OMP_WAIT_POLICY'), "
         "'spin': os.environ.get('GOMP_SPINCOUNT'), "
         "'settings': threads.settings().__dict__}}))")


def _probe(env: dict, first: str = "") -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MTLGRN_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env={**clean, **env}, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_importing_mtlgrn_core_sets_threads_and_a_passive_wait_before_torch_starts():
    seen = _probe({"MTLGRN_THREADS": "1"})
    assert seen["torch"] == 1
    assert seen["policy"] == "PASSIVE" and seen["settings"]["wait_policy"] == "PASSIVE"
    assert seen["spin"] == "1000"  # a brief spin first: sleeping at once cost a training alone a quarter of its time
    active = _probe({"MTLGRN_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"})  # the user's policy is kept, unspun
    assert active["policy"] == "ACTIVE" and active["spin"] is None


def test_torch_loaded_first_gets_the_thread_count_but_no_wait_policy():
    seen = _probe({"MTLGRN_THREADS": "1"}, first="import torch; ")
    assert seen["torch"] == 1
    assert seen["settings"]["wait_policy"] is None
