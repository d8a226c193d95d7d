#!/usr/bin/env python
"""What the threads-per-process choice does on a busy machine (issue 17).

Times a fixed CPU workload (a torchvision ResNet-18 forward and backward, batch 2 at 224 px:
convolutions like the frozen DETR's backbone, plus a backward like the HOI head's) in worker
processes that set ``torch.set_num_threads(t)``, in four situations:

* ``1 proc``: one training process alone;
* ``1 proc + busy``: one training process and ``--competitors`` busy-loop processes (another job);
* ``2 procs``: two training processes (``--num-gpus 2`` on a CPU);
* ``2 procs + busy``: the same with the busy-loop processes.

For each situation it runs torch's default (one thread per core in every process) and one thread
per process in interleaved rounds (so that both see the same drift), records what
:func:`rmlr.engine.choose_torch_threads` picks when a process starts in that situation
(OMP_NUM_THREADS ignored), and prints the median seconds per iteration of the slowest process of
each run and the median over rounds of each setting's per-round ratio to the rule's pick.

    OMP_NUM_THREADS= python benchmarks/bench_threads.py --rounds 3 --iters 8
"""

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

import torch

from rmlr.engine import available_cores, choose_torch_threads
from rmlr.utils.cost import machine_info, machine_summary


def _busy(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def _worker(threads, warmup, iters, start, queue):
    torch.set_num_threads(threads)
    import torchvision  # noqa: F401  (imported here: the parent never runs the workload)

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(2, 3, 224, 224)
    start.wait()
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        model(x).sum().backward()
        times.append(time.perf_counter() - t0)
    queue.put(statistics.median(times[warmup:]))


def run(threads, processes, competitors, warmup, iters):
    """Median s / iteration of the slowest of ``processes`` workers with ``threads`` each, while
    ``competitors`` busy loops run; and the rule's choice, made while the busy loops run (as a
    process starting then would make it)."""
    ctx = mp.get_context("spawn")
    stop, start, queue = ctx.Event(), ctx.Event(), ctx.Queue()
    busy = [ctx.Process(target=_busy, args=(stop,), daemon=True) for _ in range(competitors)]
    workers = [
        ctx.Process(target=_worker, args=(threads, warmup, iters, start, queue))
        for _ in range(processes)
    ]
    for p in busy:
        p.start()
    time.sleep(1.0)
    choice = choose_torch_threads(processes, environ={})
    for p in workers:
        p.start()
    time.sleep(3.0)  # imports done
    start.set()
    result = max(queue.get(timeout=1800) for _ in workers)
    for p in workers:
        p.join()
    stop.set()
    for p in busy:
        p.join()
    return result, choice


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--competitors", type=int, default=1, help="busy-loop processes")
    p.add_argument("--output", default="output/bench_threads.json")
    args = p.parse_args(argv)

    cores = available_cores()
    situations = [(1, 0), (1, args.competitors), (2, 0), (2, args.competitors)]
    result = {"machine": machine_info("cpu"), "cores": cores, "situations": []}
    print(machine_summary(result["machine"]))
    for processes, competitors in situations:
        # torch's default (one thread per core in every process) and one thread per process
        settings = sorted({cores, 1})
        runs, choices = {t: [] for t in settings}, []
        for _ in range(args.rounds):
            for threads in settings:
                seconds, choice = run(threads, processes, competitors, args.warmup, args.iters)
                runs[threads].append(seconds)
                choices.append(choice)
        picked = [c[0] for c in choices]
        rule = statistics.mode(picked)
        base = runs.get(rule, runs[1])
        row = {
            "processes": processes,
            "competitors": competitors,
            "default_threads": cores,
            "rule_choices": choices,
            "s_per_iter": {str(t): v for t, v in runs.items()},
            "over_rule_per_round_median": {
                str(t): statistics.median(a / b for a, b in zip(v, base)) for t, v in runs.items()
            },
        }
        result["situations"].append(row)
        parts = []
        for t, v in runs.items():
            ratios = [a / b for a, b in zip(v, base)]
            parts.append(
                f"{t} thread(s){' (default)' if t == cores else ''}"
                f" {statistics.median(v):.3f} s/it [{', '.join(f'{x:.3f}' for x in v)}]"
                f" x{statistics.median(ratios):.2f} of the rule's ({min(ratios):.2f}-{max(ratios):.2f})"
            )
        print(
            f"{processes} proc(s) + {competitors} busy: rule picked {picked} "
            f"({choices[0][1]}); " + "; ".join(parts),
            flush=True,
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
