#!/usr/bin/env python
"""Images per second of RmLR inference at several batch sizes (issue 17).

Maps ``--images`` images of the synthetic test set with the config's test mapper (their sizes
differ, as a real test set's do) and runs the model over all of them in batches of each
``--batch-sizes`` value, under ``torch.no_grad()``, in interleaved rounds (1, 2, 4, 1, 2, 4,
...), reporting images/s per batch size (median over rounds) and the per-round ratio to batch 1.
Presets:

* ``tiny``: ``configs/rmlr/rmlr_tiny_synthetic.py`` with the shipped pre-trained tiny DETR
  (real detections), test size 160;
* ``r50``: RmLR-R50 (``configs/rmlr/rmlr_r50_hico_det.py``, inference modules only) with random
  weights and detections pinned to ``--humans`` persons and ``--objects`` objects, images resized
  as HICO-DET's test set (shorter side 800, longer at most 1333).

    python benchmarks/bench_batched_inference.py --preset tiny
    python benchmarks/bench_batched_inference.py --preset r50 --images 8
    python benchmarks/bench_batched_inference.py --preset r50 --device cuda --images 64 \
        --batch-sizes 1 2 4 8 16
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

from rmlr.data.transforms import build_upt_augmentation  # noqa: E402
from rmlr.utils.cost import machine_info, machine_summary, pin_detections  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
TINY_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")


def build(preset: str, humans: int, objects: int, device: str):
    if preset == "tiny":
        cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic.py"))
        cfg.model.entity_detector.checkpoint = TINY_DETR
    else:
        cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", "rmlr_r50_hico_det.py"))
        cfg.model.entity_detector.checkpoint = ""
        data = LazyConfig.load(os.path.join(CONFIGS, "common", "data", "synthetic.py")).dataloader
        cfg.dataloader.test = data.test
        cfg.dataloader.test.mapper.augmentations = L(build_upt_augmentation)(
            is_train=False, test_size=800, max_size=1333
        )
    cfg.model.text_teacher = None  # training only
    cfg.model.cross_modal = None
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device).eval()
    if preset == "r50":
        pin_detections(model.entity_detector.detector.detr, humans, objects)
    return cfg, model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=("tiny", "r50"), default="tiny")
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--humans", type=int, default=5)
    p.add_argument("--objects", type=int, default=8)
    p.add_argument("--output", default="")
    args = p.parse_args(argv)
    cfg, model = build(args.preset, args.humans, args.objects, args.device)
    dicts = instantiate(cfg.dataloader.test.dataset)[: args.images]
    mapper = instantiate(cfg.dataloader.test.mapper)
    inputs = [mapper(d) for d in dicts]
    sizes = sorted({tuple(x["image"].shape[1:]) for x in inputs})

    def run(b):
        for start in range(0, len(inputs), b):
            model(inputs[start : start + b])
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    seconds = {b: [] for b in args.batch_sizes}
    with torch.no_grad():
        run(max(args.batch_sizes))  # warm-up
        for _ in range(args.rounds):
            for b in args.batch_sizes:
                start = time.perf_counter()
                run(b)
                seconds[b].append(time.perf_counter() - start)
    base = seconds[args.batch_sizes[0]]
    result = {
        "machine": machine_info(args.device),
        "preset": args.preset,
        "images": len(inputs),
        "image_sizes": [list(s) for s in sizes],
        "images_per_s": {
            str(b): statistics.median(len(inputs) / t for t in v) for b, v in seconds.items()
        },
        "speedup_over_first_per_round": {
            str(b): statistics.median(a / t for a, t in zip(base, v)) for b, v in seconds.items()
        },
        "seconds": {str(b): v for b, v in seconds.items()},
    }
    print(machine_summary(result["machine"]))
    print(f"{args.preset}: {len(inputs)} images, {len(sizes)} distinct sizes, {args.rounds} rounds")
    for b in args.batch_sizes:
        ips = [len(inputs) / t for t in seconds[b]]
        print(
            f"batch {b}: {result['images_per_s'][str(b)]:.2f} images/s "
            f"(rounds {', '.join(f'{x:.2f}' for x in ips)}), "
            f"x{result['speedup_over_first_per_round'][str(b)]:.2f} of batch "
            f"{args.batch_sizes[0]} per round"
        )
    output = args.output or f"output/bench_batched_{args.preset}_{args.device}.json"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
