#!/usr/bin/env python
"""Where a training step's time goes: data loading, DETR, IRE, IRM, text teacher, alignment,
backward + optimizer step.

Runs ``--iters`` training steps of a config on the synthetic dataset, after ``--warmup-epochs``
untimed epochs (the teacher's sentence cache fills as the epochs go: the crop augmentation makes
new subsets of an image's triplets, hence new annotation texts, for a few epochs), and times each
part with forward hooks on the model's modules (CUDA is synchronised around each). It also counts
the strings the teacher had to encode during the timed steps (cache misses). Presets:

* ``tiny``: ``configs/rmlr/rmlr_tiny_synthetic.py`` as ``make demo`` trains it (MiniLM teacher),
  with the shipped pre-trained tiny DETR (``projects/RmLR/weights/``) as the frozen detector so
  that pairs are detected as in the main job;
* ``r50``: RmLR-R50 (``rmlr_r50_hico_det_minilm.py``, the offline teacher) on synthetic images
  resized to 800 px, batch 2, with random DETR weights whose detections are pinned to
  ``--humans`` persons and ``--objects`` objects (random weights detect nothing).

    python benchmarks/bench_train_step.py --preset tiny --output output/bench_train_tiny.json
    python benchmarks/bench_train_step.py --preset r50 --warmup-epochs 0 --warmup-steps 3 \
        --device cuda --output output/bench_train_r50.json
"""

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyCall as L  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from rmlr.data.transforms import build_upt_augmentation  # noqa: E402
from rmlr.utils.cost import (  # noqa: E402
    ForwardTimer,
    machine_info,
    machine_summary,
    pin_detections,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
TINY_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")
PARTS = ("data", "DETR", "IRE", "IRM", "text teacher", "alignment", "backward + step")
MODULES = {
    "DETR": "entity_detector",
    "IRE": "ire",
    "IRM": "irm",
    "text teacher": "text_teacher",
    "alignment": "cross_modal",
}


def load_config(preset):
    if preset == "tiny":
        cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic.py"))
        cfg.model.entity_detector.checkpoint = TINY_DETR
    else:
        cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", "rmlr_r50_hico_det_minilm.py"))
        data = LazyConfig.load(os.path.join(CONFIGS, "common", "data", "synthetic.py")).dataloader
        cfg.dataloader.train = data.train
        cfg.dataloader.train.mapper.augmentations = L(build_upt_augmentation)(
            is_train=False, test_size=800, max_size=1333
        )
        cfg.dataloader.train.total_batch_size = 2
        cfg.model.entity_detector.checkpoint = ""
    cfg.dataloader.train.num_workers = 0
    return cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=("tiny", "r50"), default="tiny")
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument(
        "--warmup-epochs",
        type=float,
        default=5,
        help="untimed epochs first, so that the teacher's sentence cache is warm",
    )
    p.add_argument("--warmup-steps", type=int, default=0, help="untimed steps added to those")
    p.add_argument("--humans", type=int, default=3)
    p.add_argument("--objects", type=int, default=4)
    p.add_argument("--output", default="output/bench_train_step.json")
    p.add_argument(
        "--profile",
        default="",
        help="also profile the timed steps with torch.profiler: print the top operators and "
        "write a Chrome trace to this path",
    )
    args = p.parse_args(argv)
    torch.manual_seed(0)

    cfg = load_config(args.preset)
    model = instantiate(cfg.model).to(args.device).train()
    if args.preset == "r50":
        pin_detections(model.entity_detector.detector.detr, args.humans, args.objects)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    loader_cfg = cfg.dataloader.train
    loader = iter(instantiate(loader_cfg))
    num_images = len(instantiate(loader_cfg.dataset))
    batch = int(loader_cfg.total_batch_size)
    steps_per_epoch = -(-num_images // batch)
    args.warmup = int(round(args.warmup_epochs * num_images / batch)) + args.warmup_steps
    encoded_at_epoch = []  # teacher's cache misses so far, at the start of each warm-up epoch
    teacher = getattr(model, "text_teacher", None)

    steps = []
    profiler = None
    with EventStorage(0):
        for i in range(args.warmup + args.iters):
            timer = ForwardTimer(args.device)
            if teacher is not None and i % steps_per_epoch == 0 and i <= args.warmup:
                encoded_at_epoch.append(teacher.num_encoded)
            if i == args.warmup and teacher is not None:
                encoded_before = teacher.num_encoded
            if i == args.warmup and args.profile:
                profiler = torch.profiler.profile(record_shapes=False, with_stack=False)
                profiler.__enter__()
            if i >= args.warmup:
                for part, attr in MODULES.items():
                    module = getattr(model, attr, None)
                    if module is not None:
                        timer.attach(part, module)
            start = time.perf_counter()
            batch = timer.measure("data", lambda: next(loader))
            losses = model(batch)
            total = sum(losses.values())

            def backward_and_step():
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()

            timer.measure("backward + step", backward_and_step)
            timer.detach()
            if i >= args.warmup:
                seconds = {name: timer.total(name) for name in timer.calls}
                seconds["step"] = time.perf_counter() - start
                steps.append(seconds)

    if profiler is not None:
        profiler.__exit__(None, None, None)
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
        profiler.export_chrome_trace(args.profile)
        print(f"wrote {args.profile} (steps are slower while profiled)")
    misses = None if teacher is None else teacher.num_encoded - encoded_before
    median = {k: statistics.median(s.get(k, 0.0) for s in steps) for k in (*PARTS, "step")}
    mean = {k: statistics.fmean(s.get(k, 0.0) for s in steps) for k in (*PARTS, "step")}
    # pairing, GT association, losses: the step's time outside every timed part
    other = statistics.median(s["step"] - sum(s.get(k, 0.0) for k in PARTS) for s in steps)
    result = {
        "machine": machine_info(args.device),
        "preset": args.preset,
        "batch": int(cfg.dataloader.train.total_batch_size),
        "iters": args.iters,
        "warmup_steps": args.warmup,
        "teacher_strings_encoded_in_timed_steps": misses,
        "teacher_strings_encoded_per_warmup_epoch": [
            b - a for a, b in zip(encoded_at_epoch, encoded_at_epoch[1:])
        ],
        "median_seconds": median,
        "mean_seconds": mean,
        "unattributed_seconds": other,
        "share_of_step": {k: median[k] / median["step"] for k in PARTS},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(machine_summary(result["machine"]))
    print(
        f"preset {args.preset}, batch {result['batch']}, {args.iters} steps: median (share), mean"
    )
    for k in (*PARTS, "step"):
        share = f"({100 * median[k] / median['step']:4.1f} %)" if k != "step" else " " * 8
        print(f"  {k:<16} {1e3 * median[k]:9.1f} ms {share} {1e3 * mean[k]:9.1f} ms")
    print(f"  (pairing, losses and other glue: {1e3 * other:.1f} ms, median per step)")
    if misses is not None:
        per_epoch = result["teacher_strings_encoded_per_warmup_epoch"]
        print(
            f"teacher strings encoded: {per_epoch} per warm-up epoch, {misses} in the timed steps"
        )
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
