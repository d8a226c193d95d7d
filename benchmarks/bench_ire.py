#!/usr/bin/env python
"""The IRE's inference time, before / after a change, in one process (issue 17).

Builds RmLR-R50 (``configs/rmlr/rmlr_r50_hico_det.py``, random weights, detections pinned to
``--humans`` persons and ``--objects`` objects as in ``bench_inference.py``: 60 pairs by default)
at ``--size`` x ``--size``, runs it once to capture the IRE's inputs (the C5 map, its mask and the
pair boxes), then times the IRE alone under ``torch.no_grad()``:

* ``after``: the IRE of this checkout;
* ``before``: the IRE of git revision ``--before`` (its files are read with ``git show`` into a
  temporary package), with the same weights (``load_state_dict``, strict).

The two alternate (before, after, before, ...) for ``--iters`` rounds after ``--warmup``; the
script prints each one's median and the median of the per-round ratios, the largest difference
of their outputs, and a ``torch.profiler`` table of each (operators by self CPU time, per call).

    python benchmarks/bench_ire.py --before 4f514ec --iters 30
"""

import argparse
import copy
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402

from rmlr.utils.cost import (  # noqa: E402
    interleaved_latency,
    machine_info,
    machine_summary,
    pin_detections,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RMLR_CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_r50_hico_det.py")
PACKAGE = "projects/RmLR/rmlr/modeling"
FILES = (
    "attention_layers.py",
    "interactive_relation_encoder/__init__.py",
    "interactive_relation_encoder/encoder.py",
    "interactive_relation_encoder/masked_pooling.py",
)


def ire_class_at(revision: str, folder: str):
    """``InteractiveRelationEncoder`` as of ``revision``, imported from a copy of its files (the
    IRE and the attention layers; their imports are relative) as package ``ire_<revision>``."""
    name = f"ire_{revision.replace('-', '_').replace('.', '_')}"
    root = os.path.join(folder, name)
    os.makedirs(os.path.join(root, "interactive_relation_encoder"), exist_ok=True)
    open(os.path.join(root, "__init__.py"), "w").close()
    for path in FILES:
        text = subprocess.run(
            ["git", "-C", REPO, "show", f"{revision}:{PACKAGE}/{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    sys.path.insert(0, folder)
    try:
        module = importlib.import_module(f"{name}.interactive_relation_encoder.encoder")
    finally:
        sys.path.remove(folder)
    return module.InteractiveRelationEncoder


def capture_ire_inputs(rmlr, inputs):
    captured = {}

    def hook(module, args, out):
        captured["args"] = tuple(a.detach() for a in args)

    handle = rmlr.ire.register_forward_hook(hook)
    with torch.no_grad():
        rmlr(inputs)
    handle.remove()
    return captured["args"]


def profile_table(fn, iters: int, rows: int = 14) -> str:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(iters):
            fn()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return f"(totals over {iters} calls)\n{table}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default="4f514ec", help="git revision of the reference IRE")
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, default=800)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--humans", type=int, default=5)
    p.add_argument("--objects", type=int, default=8)
    p.add_argument("--profile-iters", type=int, default=10, help="0: no profile")
    p.add_argument("--output", default="output/bench_ire.json")
    args = p.parse_args(argv)
    torch.manual_seed(0)

    cfg = LazyConfig.load(RMLR_CONFIG)
    cfg.model.entity_detector.checkpoint = ""
    cfg.model.text_teacher = None
    cfg.model.cross_modal = None
    rmlr = instantiate(cfg.model).to(args.device).eval()
    pin_detections(rmlr.entity_detector.detector.detr, args.humans, args.objects)
    image = torch.randint(0, 256, (3, args.size, args.size), dtype=torch.uint8)
    ire_args = capture_ire_inputs(rmlr, [{"image": image.to(args.device)}])
    after = rmlr.ire
    del rmlr

    with tempfile.TemporaryDirectory() as folder:
        before_cls = ire_class_at(args.before, folder)
        ire_cfg = copy.deepcopy(cfg.model.ire)
        ire_cfg._target_ = before_cls
        before = instantiate(ire_cfg)
    before.load_state_dict(after.state_dict())
    before = before.to(args.device).eval()

    with torch.no_grad():
        out_before, out_after = before(*ire_args), after(*ire_args)
        diff = max((a - b).abs().max().item() for a, b in zip(out_after, out_before))
        scale = max(b.abs().max().item() for b in out_before)
        times = interleaved_latency(
            {"before": lambda: before(*ire_args), "after": lambda: after(*ire_args)},
            device=args.device,
            warmup=args.warmup,
            runs=args.iters,
        )
        tables = {}
        if args.profile_iters:
            for name, ire in (("before", before), ("after", after)):
                tables[name] = profile_table(lambda: ire(*ire_args), args.profile_iters)
    b_runs, a_runs = times["before"].pop("all"), times["after"].pop("all")
    ratios = [a / b for a, b in zip(a_runs, b_runs)]
    c5 = tuple(ire_args[0].shape)
    result = {
        "machine": machine_info(args.device),
        "before": args.before,
        "c5": list(c5),
        "pairs": int(ire_args[2].shape[0]),
        "latency_s": times,
        "after_over_before_per_round": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        },
        "max_abs_difference": diff,
        "max_abs_output": scale,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result | {"profiles": tables}, f, indent=2)

    print(machine_summary(result["machine"]))
    print(f"C5 {c5}, {result['pairs']} pairs; before = {args.before}, after = this checkout")
    for name in ("before", "after"):
        t = times[name]
        print(
            f"{name}: median {t['median'] * 1e3:.2f} ms "
            f"(min {t['min'] * 1e3:.2f}, max {t['max'] * 1e3:.2f}, {t['runs']} runs)"
        )
    r = result["after_over_before_per_round"]
    print(
        f"after / before per round: median {r['median']:.3f} (min {r['min']:.3f}, max {r['max']:.3f})"
    )
    print(f"largest output difference {diff:.2e} (largest output magnitude {scale:.2e})")
    for name, table in tables.items():
        print(f"\n--- profile: {name} {table}")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
