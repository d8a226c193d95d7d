"""Threads per process (rmlr.engine.threads): the rule, its inputs, and the training entry's log."""

import logging
import os
import subprocess
import sys

import pytest
import torch

from rmlr.engine import available_cores, choose_torch_threads, configure_torch_threads
from rmlr.engine.threads import _busy_between, _cgroup_cores, _cpu_times, busy_cores

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "cores, processes, expected",
    [(2, 1, 2), (2, 2, 1), (2, 3, 1), (16, 4, 4), (16, 3, 5), (1, 1, 1)],
)
def test_cores_divided_by_processes(cores, processes, expected):
    threads, reason = choose_torch_threads(processes, environ={}, cores=cores, busy=0.0)
    assert threads == expected
    assert f"{cores} core(s)" in reason and f"{processes} process(es)" in reason


@pytest.mark.parametrize(
    "cores, busy, processes, expected",
    [(2, 0.3, 1, 2), (2, 0.6, 1, 1), (2, 1.7, 1, 1), (2, 2.0, 2, 1), (16, 4.2, 2, 6), (8, 9, 1, 1)],
)
def test_cores_busy_with_other_work_are_not_counted(cores, busy, processes, expected):
    threads, reason = choose_torch_threads(processes, environ={}, cores=cores, busy=busy)
    assert threads == expected
    assert f"{busy:.1f} busy" in reason


def _stat(tmp_path, name, rows):
    """A /proc/stat with per-cpu rows (user, nice, system, idle, iowait, irq, softirq, steal)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} " + " ".join(str(v) for v in r) + " 0 0" for i, r in enumerate(rows)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_busy_fraction_of_own_cpus_from_proc_stat(tmp_path):
    before = _cpu_times(_stat(tmp_path, "a", [[0] * 8, [0] * 8, [0] * 8]))
    # cpu0 fully busy, cpu1 idle (half of it iowait), cpu2 a quarter busy
    after = _cpu_times(
        _stat(
            tmp_path,
            "b",
            [[80, 0, 20, 0, 0, 0, 0, 0], [0, 0, 0, 50, 50, 0, 0, 0], [10, 5, 5, 60, 0, 0, 0, 0]],
        )
    )
    assert _busy_between(before, after, {0, 1, 2}) == pytest.approx(1.25)
    assert _busy_between(before, after, {1, 2}) == pytest.approx(0.25)  # only this process's cpus
    assert _busy_between(before, after, {7}) == 0.0  # a cpu /proc/stat does not list
    assert _cpu_times(str(tmp_path / "absent")) == {}
    measured = busy_cores(0.05)
    assert 0.0 <= measured <= len(os.sched_getaffinity(0))


def test_omp_num_threads_wins_over_the_rule():
    threads, reason = choose_torch_threads(4, environ={"OMP_NUM_THREADS": "3"}, cores=2, busy=2)
    assert (threads, reason) == (3, "OMP_NUM_THREADS=3")
    # an empty value counts as unset
    assert choose_torch_threads(2, environ={"OMP_NUM_THREADS": " "}, cores=8, busy=0)[0] == 4


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_omp_num_threads_is_named(value):
    with pytest.raises(ValueError, match="OMP_NUM_THREADS"):
        choose_torch_threads(1, environ={"OMP_NUM_THREADS": value}, cores=2, busy=0)


def test_bad_process_count():
    with pytest.raises(ValueError, match="processes"):
        choose_torch_threads(0, environ={}, cores=2)


def test_cgroup_quota_caps_the_affinity(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # 1.5 cores -> 2
    assert _cgroup_cores(str(quota)) == 2
    quota.write_text("max 100000\n")
    assert _cgroup_cores(str(quota)) is None
    assert _cgroup_cores(str(tmp_path / "absent")) is None
    quota.write_text("50000 100000\n")  # half a core -> 1, below any affinity
    assert available_cores(str(quota)) == 1
    assert available_cores(str(tmp_path / "absent")) == len(os.sched_getaffinity(0))


def test_configure_sets_torch_and_logs(monkeypatch, caplog):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    try:
        with caplog.at_level(logging.INFO, logger="rmlr.engine.threads"):
            assert configure_torch_threads(1) == 2
        assert torch.get_num_threads() == 2
        assert "torch threads per process: 2 (OMP_NUM_THREADS=2)" in caplog.text
    finally:
        torch.set_num_threads(before)


def _train_net(tmp_path, omp):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "tests"), OMP_NUM_THREADS=omp)
    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "lazyconfig_train_net.py"),
        "--config-file",
        os.path.join(REPO, "tests", "toy_train_config.py"),
        "--no-eval",
        "train.max_iter=1",
        f"train.output_dir={tmp_path}",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_training_entry_logs_its_choice(tmp_path):
    out = _train_net(tmp_path, "1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "torch threads per process: 1 (OMP_NUM_THREADS=1)" in (tmp_path / "log.txt").read_text()


def test_training_entry_refuses_a_bad_omp_num_threads(tmp_path):
    out = _train_net(tmp_path, "many")
    assert out.returncode == 1
    assert "OMP_NUM_THREADS='many': must be a positive integer" in out.stderr
    assert "Traceback" not in out.stderr
