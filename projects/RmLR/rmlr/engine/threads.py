"""How many intra-op threads each training / evaluation process gives torch.

Torch's default is one thread per core of the machine in *every* process. ``--num-gpus N`` on a
CPU starts N processes, each with that default, and other jobs may share the cores too; OpenMP's
threads then wait for each other at every parallel region while the cores are busy elsewhere. On
a 2-core machine shared with other jobs, stage 1 of the main job ran at about 10 s per iteration
with 2 threads per process against 0.84 s with one (see ``benchmarks/RESULTS.md``, issue 17).

The rule (:func:`choose_torch_threads`):

1. ``OMP_NUM_THREADS`` when set: the user's choice is kept (it must be a positive integer);
2. otherwise the cores available to this process divided by the processes ``launch`` starts on
   this machine, at least 1. Available: the cores it may run on (``os.sched_getaffinity``, capped
   by a cgroup CPU quota when one is set) less those other jobs keep busy, measured once at start
   over those cores (``/proc/stat``, 0.5 s, rounded to whole cores). Fewer threads than cores
   costs at most the parallel speed-up; more threads than free cores costs far more (the
   benchmark measured 10-15 times slower steps), so busy cores are not counted.

The choice and its reason are logged once per process by :func:`configure_torch_threads`.
"""

import logging
import math
import os
import time
from typing import Dict, Mapping, Optional, Set, Tuple

import torch

__all__ = ["available_cores", "busy_cores", "choose_torch_threads", "configure_torch_threads"]

logger = logging.getLogger(__name__)

_CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "<quota> <period>" or "max <period>"


def _cgroup_cores(path: str = _CGROUP_CPU_MAX) -> Optional[int]:
    """Cores allowed by a cgroup v2 CPU quota (rounded up), or None without a quota."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def _affinity() -> Set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def available_cores(cgroup_cpu_max: str = _CGROUP_CPU_MAX) -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota."""
    cores = len(_affinity())
    quota = _cgroup_cores(cgroup_cpu_max)
    return max(1, min(cores, quota) if quota is not None else cores)


def _cpu_times(path: str = "/proc/stat") -> Dict[int, Tuple[int, int]]:
    """{cpu: (idle + iowait jiffies, total jiffies)} from ``/proc/stat`` (empty if unreadable)."""
    times = {}
    try:
        with open(path) as f:
            for line in f:
                name, *fields = line.split()
                if not name.startswith("cpu") or name == "cpu":
                    continue
                values = [int(v) for v in fields[:8]]
                times[int(name[3:])] = (values[3] + values[4], sum(values))
    except (OSError, ValueError, IndexError):
        return {}
    return times


def busy_cores(
    interval: float = 0.5, *, cpus: Optional[Set[int]] = None, stat: str = "/proc/stat"
) -> float:
    """Cores kept busy by other work: the summed busy fraction of ``cpus`` (default: this
    process's affinity) over ``interval`` seconds, while this process sleeps. 0 without
    ``/proc/stat``."""
    cpus = _affinity() if cpus is None else cpus
    before = _cpu_times(stat)
    time.sleep(interval)
    return _busy_between(before, _cpu_times(stat), cpus)


def _busy_between(before, after, cpus: Set[int]) -> float:
    """Summed busy fraction of ``cpus`` between two :func:`_cpu_times` readings."""
    busy = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after:
            idle = after[cpu][0] - before[cpu][0]
            total = after[cpu][1] - before[cpu][1]
            if total > 0:
                busy += min(1.0, max(0.0, 1.0 - idle / total))
    return busy


def choose_torch_threads(
    processes: int,
    *,
    environ: Optional[Mapping[str, str]] = None,
    cores: Optional[int] = None,
    busy: Optional[float] = None,
) -> Tuple[int, str]:
    """Threads per process and the reason, by the rule of the module docstring.

    Args:
        processes: processes ``launch`` starts on this machine (``--num-gpus``), >= 1.
        environ: the environment (default ``os.environ``).
        cores: cores this process may run on (default :func:`available_cores`).
        busy: cores other work keeps busy (default: measured by :func:`busy_cores`).

    Returns:
        (threads, reason) with threads >= 1.
    """
    if processes < 1:
        raise ValueError(f"processes per machine must be >= 1, got {processes}")
    environ = os.environ if environ is None else environ
    value = environ.get("OMP_NUM_THREADS", "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"OMP_NUM_THREADS={value!r}: must be a positive integer")
        return threads, f"OMP_NUM_THREADS={threads}"
    cores = available_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    free = max(1, cores - min(cores, round(busy)))
    threads = max(1, free // processes)
    reason = (
        f"{cores} core(s) for this process, {busy:.1f} busy with other work: {free} free "
        f"/ {processes} process(es); OMP_NUM_THREADS=N chooses"
    )
    return threads, reason


def configure_torch_threads(processes: int, *, log: Optional[logging.Logger] = None) -> int:
    """Set torch's intra-op threads by :func:`choose_torch_threads`, log the choice, return it."""
    threads, reason = choose_torch_threads(processes)
    torch.set_num_threads(threads)
    (log or logger).info(f"torch threads per process: {threads} ({reason})")
    return threads
