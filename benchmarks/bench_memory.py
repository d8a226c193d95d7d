#!/usr/bin/env python
"""Peak memory of RmLR-R50 at 800 px: a training step and inference, batch 1 and 2 (issue 17).

Each case runs in a fresh process (``--case``): RmLR-R50 with the offline MiniLM teacher
(``configs/rmlr/rmlr_r50_hico_det_minilm.py``), random DETR weights with detections pinned to
``--humans`` persons and ``--objects`` objects, synthetic images resized to 800 px (as
``bench_train_step.py --preset r50``; the first training images, in order). After one step (optimizer state, the teacher's
weights and cache), the process's resident set is read (``VmRSS``: "resident"), its peak is reset
(``/proc/self/clear_refs``) and one more step runs; the peak of each phase is read from ``VmHWM``,
resetting it between phases:

* ``entity``: the frozen DETR (no gradient);
* ``head``: pairs, IRE, IRM, and in training the teacher, cross-modal learning and the losses;
* ``backward``: backward and the optimizer step (training only).

``train_no_cm`` is the training step without the teacher and the cross-modal modules (Table 2's
"w/o CL"): the difference to ``train`` is their share. With CUDA, ``torch.cuda.max_memory_allocated``
of each phase is reported as well.

    python benchmarks/bench_memory.py --output output/bench_memory.json
    python benchmarks/bench_memory.py --device cuda --output output/bench_memory_cuda.json
"""

import argparse
import json
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyCall as L  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from rmlr.data.transforms import build_upt_augmentation  # noqa: E402
from rmlr.utils.cost import machine_info, machine_summary, pin_detections  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
CASES = ("train", "train_no_cm", "infer")


def _status(key: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak(device):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set (Linux >= 4.0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak(device):
    out = {"rss_peak_mb": _status("VmHWM") / 2**20}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_case(case: str, batch: int, device: str, humans: int, objects: int) -> dict:
    torch.manual_seed(0)
    cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", "rmlr_r50_hico_det_minilm.py"))
    cfg.model.entity_detector.checkpoint = ""
    if case != "train":
        cfg.model.text_teacher = None
        cfg.model.cross_modal = None
    data = LazyConfig.load(os.path.join(CONFIGS, "common", "data", "synthetic.py")).dataloader
    cfg.dataloader.train = data.train
    cfg.dataloader.train.mapper.augmentations = L(build_upt_augmentation)(
        is_train=False, test_size=800, max_size=1333
    )
    cfg.dataloader.train.total_batch_size = batch
    cfg.dataloader.train.num_workers = 0
    training = case.startswith("train")
    model = instantiate(cfg.model).to(device).train(training)
    pin_detections(model.entity_detector.detector.detr, humans, objects)
    optimizer = None
    if training:
        cfg.optimizer.params.model = model
        optimizer = instantiate(cfg.optimizer)
    # the same images in every run: the first 2 x batch training images, mapped in order
    dicts = instantiate(cfg.dataloader.train.dataset)
    mapper = instantiate(cfg.dataloader.train.mapper)
    loader = iter([[mapper(d) for d in dicts[i * batch : (i + 1) * batch]] for i in range(3)])
    phases = {}

    def step(record: bool):
        inputs = [{k: v for k, v in x.items()} for x in next(loader)]
        if not training:
            inputs = [
                {"image": x["image"], "height": x["height"], "width": x["width"]} for x in inputs
            ]
        entity = model.entity_detector

        def before(mod, args):
            if record:
                _reset_peak(device)

        def after(mod, args, out):
            if record:
                phases["entity"] = _peak(device)
                _reset_peak(device)

        handles = [entity.register_forward_pre_hook(before), entity.register_forward_hook(after)]
        with torch.set_grad_enabled(training):
            out = model(inputs)
        for h in handles:
            h.remove()
        if record:
            phases["head"] = _peak(device)
        if training:
            if record:
                _reset_peak(device)
            optimizer.zero_grad(set_to_none=True)
            sum(out.values()).backward()
            optimizer.step()
            if record:
                phases["backward"] = _peak(device)
        return out

    with EventStorage(0):
        step(record=False)
        resident = _status("VmRSS") / 2**20
        step(record=True)
    result = {
        "case": case,
        "batch": batch,
        "image": list(next(loader)[0]["image"].shape),
        "resident_before_step_mb": resident,
        "phases": phases,
        "step_peak_rss_mb": max(p["rss_peak_mb"] for p in phases.values()),
    }
    if device.startswith("cuda"):
        result["step_cuda_max_allocated_mb"] = max(
            p["cuda_max_allocated_mb"] for p in phases.values()
        )
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--humans", type=int, default=3)
    p.add_argument("--objects", type=int, default=4)
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in this process
    p.add_argument("--output", default="output/bench_memory.json")
    args = p.parse_args(argv)
    if args.case:
        result = run_case(args.case, args.batches[0], args.device, args.humans, args.objects)
        print("RESULT " + json.dumps(result))
        return result

    results = []
    for case in args.cases:
        for batch in args.batches:
            cmd = [sys.executable, os.path.abspath(__file__), "--case", case]
            cmd += ["--batches", str(batch), "--device", args.device]
            cmd += ["--humans", str(args.humans), "--objects", str(args.objects)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not lines:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
            r = json.loads(lines[-1][len("RESULT ") :])
            results.append(r)
            parts = ", ".join(f"{k} {v['rss_peak_mb']:.0f}" for k, v in r["phases"].items())
            cuda = ""
            if "step_cuda_max_allocated_mb" in r:
                cuda = f"; CUDA max allocated {r['step_cuda_max_allocated_mb']:.0f} MB"
            print(
                f"{case} batch {batch} (image {r['image']}): resident before the step "
                f"{r['resident_before_step_mb']:.0f} MB, step peak RSS {r['step_peak_rss_mb']:.0f} "
                f"MB (per phase: {parts}){cuda}",
                flush=True,
            )
    summary = {"machine": machine_info(args.device), "results": results}
    print(machine_summary(summary["machine"]))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {args.output}")
    return summary


if __name__ == "__main__":
    main()
