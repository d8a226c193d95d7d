#!/usr/bin/env python
"""Inference cost of RmLR over DETR (paper Table 4 analogue): latency, ratio, MACs, parameters.

Builds DETR-R50 (``configs/detr/detr_r50.py``) and RmLR-R50 (``configs/rmlr/rmlr_r50_hico_det.py``,
inference: no teacher, no alignment modules) with random weights and times, in one process and in
alternation (DETR, RmLR, DETR, RmLR, ...), batch 1 on one uint8 image, under ``torch.no_grad()``:

* ``detr``: DETR-R50's Detectron2 forward (normalise, pad, network, post-processing);
* ``rmlr``: RmLR-R50's forward (the same DETR, the proposal filter, pairs, IRE, IRM, scores).

Random DETR weights detect almost nothing, which would leave RmLR no pairs to score. So both
models' class and box heads are given fixed outputs by forward hooks (the heads still run):
``--humans`` persons and ``--objects`` objects at distinct places, the rest no-object. RmLR then
scores ``humans x (humans + objects - 1)`` pairs (default 5 x 12 = 60, a busy HICO-DET image;
UPT's filter keeps 3-15 of each). MACs are fvcore's count of the same forward (attention products
included), parameters are counted at inference (the teacher and alignment modules are not built).

``--pose replace`` (or ``concat``) adds a third model, RmLR-R50 with the pose-guided IRE
(``configs/pose/rmlr_pose_r50_hico_det.py``: a frozen Keypoint R-CNN R50-FPN on the pinned humans,
random weights, marked as loaded for timing only), timed in the same rounds (DETR, RmLR, pose).

    python benchmarks/bench_inference.py --device cpu --output output/bench_inference_cpu.json
    python benchmarks/bench_inference.py --device cuda --output output/bench_inference_cuda.json
    python benchmarks/bench_inference.py --pose replace --output output/bench_inference_pose.json
"""

import argparse
import json
import os
import statistics
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402

from rmlr.utils.cost import (  # noqa: E402
    ForwardTimer,
    count_macs,
    count_parameters,
    interleaved_latency,
    machine_info,
    machine_summary,
    pin_detections,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DETR_CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "detr", "detr_r50.py")
RMLR_CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_r50_hico_det.py")
POSE_CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "pose", "rmlr_pose_r50_hico_det.py")


def build_inference_model(config, device, overrides=()):
    """An RmLR config's model with random weights, without its training-only modules."""
    cfg = LazyConfig.apply_overrides(LazyConfig.load(config), list(overrides))
    cfg.model.entity_detector.checkpoint = ""
    if "pose_estimator" in cfg.model:
        cfg.model.pose_estimator.checkpoint = ""
    cfg.model.text_teacher = None  # training only
    cfg.model.cross_modal = None  # training only
    model = instantiate(cfg.model).to(device).eval()
    if getattr(model, "pose_estimator", None) is not None:
        model.pose_estimator.weights_loaded = True  # random weights: timing and counting only
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, default=800, help="image height = width")
    p.add_argument("--iters", type=int, default=10, help="timed runs of each model (>= 10)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--humans", type=int, default=5)
    p.add_argument("--objects", type=int, default=8)
    p.add_argument("--no-macs", action="store_true", help="skip fvcore counting (slow on CPU)")
    p.add_argument(
        "--pose",
        choices=["replace", "concat"],
        default=None,
        help="also time RmLR with the pose-guided IRE in this mode",
    )
    p.add_argument("--output", default="output/bench_inference.json")
    args = p.parse_args(argv)
    if args.iters < 10:
        p.error("--iters must be at least 10")
    torch.manual_seed(0)

    detr = instantiate(LazyConfig.load(DETR_CONFIG).model).to(args.device).eval()
    rmlr = build_inference_model(RMLR_CONFIG, args.device)
    models = {"detr": detr, "rmlr": rmlr}
    if args.pose:
        models["rmlr_pose"] = build_inference_model(
            POSE_CONFIG, args.device, [f"model.ire.mode={args.pose}"]
        )
    pin_detections(detr.detr, args.humans, args.objects)
    for name in models:
        if name != "detr":
            pin_detections(models[name].entity_detector.detector.detr, args.humans, args.objects)

    image = torch.randint(0, 256, (3, args.size, args.size), dtype=torch.uint8, device=args.device)
    inputs = [{"image": image, "height": args.size, "width": args.size}]
    with torch.no_grad():
        pairs = len(rmlr(inputs)[0]["hoi_instances"])
        timer = ForwardTimer(args.device)  # the entity stage's share of each RmLR call
        timer.attach("entity", rmlr.entity_detector)
        times = interleaved_latency(
            {name: (lambda m=m: m(inputs)) for name, m in models.items()},
            device=args.device,
            warmup=args.warmup,
            runs=args.iters,
        )
        timer.detach()
        macs = {}
        if not args.no_macs:
            macs = {name: count_macs(m, (inputs,)) for name, m in models.items()}

    params = {name: count_parameters(m) for name, m in models.items()}
    # Round by round (DETR then RmLR, back to back) the ratio is less exposed to the machine's
    # drift than the ratio of the two medians; the HOI head (proposal filter, pairs, IRE, IRM,
    # scores) is each RmLR call minus its entity stage.
    pose = {}
    if args.pose:
        pose_runs = times["rmlr_pose"].pop("all")
        pose = {
            "mode": args.pose,
            "latency_ratio_vs_detr_per_round_median": statistics.median(
                [p / d for p, d in zip(pose_runs, times["detr"]["all"])]
            ),
            "latency_ratio_vs_rmlr_per_round_median": statistics.median(
                [p / r for p, r in zip(pose_runs, times["rmlr"]["all"])]
            ),
        }
        if macs:
            pose["macs_ratio_vs_detr"] = macs["rmlr_pose"] / macs["detr"]
            pose["macs_ratio_vs_rmlr"] = macs["rmlr_pose"] / macs["rmlr"]
        pose["params_ratio_vs_detr"] = params["rmlr_pose"] / params["detr"]
        pose["params_ratio_vs_rmlr"] = params["rmlr_pose"] / params["rmlr"]
    detr_runs, rmlr_runs = times["detr"].pop("all"), times["rmlr"].pop("all")
    entity_runs = timer.calls["entity"][args.warmup :]
    round_ratios = [r / d for d, r in zip(detr_runs, rmlr_runs)]
    head = [r - e for r, e in zip(rmlr_runs, entity_runs)]
    result = {
        "machine": machine_info(args.device),
        "input": [1, 3, args.size, args.size],
        "entities": {"humans": args.humans, "objects": args.objects},
        "hoi_rows_scored": pairs,
        "latency_s": times,
        "latency_ratio_median": times["rmlr"]["median"] / times["detr"]["median"],
        "latency_ratio_min": times["rmlr"]["min"] / times["detr"]["min"],
        "latency_ratio_per_round_median": statistics.median(round_ratios),
        "hoi_head_s_median": statistics.median(head),
        "gmacs": {k: v / 1e9 for k, v in macs.items()},
        "macs_overhead": (macs["rmlr"] / macs["detr"] - 1) if macs else None,
        "params_million": {k: v / 1e6 for k, v in params.items()},
        "pose": pose,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)

    print(machine_summary(result["machine"]))
    print(f"entities {args.humans} humans + {args.objects} objects; {pairs} (pair, verb) rows")
    for k in models:
        t = times[k]
        line = f"{k}: median {t['median'] * 1e3:.1f} ms (min {t['min'] * 1e3:.1f}, max {t['max'] * 1e3:.1f})"
        if macs:
            line += f", {macs[k] / 1e9:.2f} GMACs"
        print(line + f", {params[k] / 1e6:.2f} M params")
    print(
        f"latency ratio RmLR / DETR: median {result['latency_ratio_median']:.3f}, "
        f"min {result['latency_ratio_min']:.3f}, "
        f"per round (median) {result['latency_ratio_per_round_median']:.3f}"
    )
    print(f"RmLR's HOI head after the entity stage: median {1e3 * statistics.median(head):.1f} ms")
    if macs:
        print(f"MACs overhead: {100 * result['macs_overhead']:.2f} %")
    if pose:
        print(
            f"pose-guided RmLR ({args.pose}) per-round latency ratio: vs DETR "
            f"{pose['latency_ratio_vs_detr_per_round_median']:.3f}, vs RmLR "
            f"{pose['latency_ratio_vs_rmlr_per_round_median']:.3f}"
            + (
                f"; MACs x{pose['macs_ratio_vs_detr']:.3f} DETR, x{pose['macs_ratio_vs_rmlr']:.3f} RmLR"
                if macs
                else ""
            )
            + f"; params x{pose['params_ratio_vs_detr']:.3f} DETR, x{pose['params_ratio_vs_rmlr']:.3f} RmLR"
        )
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
