#!/usr/bin/env python
"""DETR-R50 alone (issue 3): forward latency, fvcore MACs and parameters at 800 x 800, batch 1.

The denominator of later overhead ratios (the HOI stage on top of the entity detector). Builds
``projects/RmLR/configs/detr/detr_r50.py``'s model with random weights (latency does not depend
on the values), in eval mode, and times

* ``detector``: the whole Detectron2 forward (normalise, pad, backbone, transformer, heads,
  post-processing to 100 Instances) on one uint8 800 x 800 image;
* ``network``: ``model.detr`` alone on the already normalised image;

each as the median of ``--iters`` (>= 10) runs after ``--warmup`` runs, the two alternated so
that both see the same machine load, under ``torch.no_grad()`` (CUDA runs are synchronised). MACs are fvcore's count on the network (one multiply-add = 1; the
attention products, which fvcore 0.1.5 does not know, are counted by a handle added here).

    python benchmarks/bench_detr.py --device cpu --output output/bench_detr_cpu.json
    python benchmarks/bench_detr.py --device cuda --output output/bench_detr_cuda.json

Prints the machine (CPU model, cores, threads, torch version, CUDA device) and writes JSON.
"""

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402
from detectron2.structures import ImageList  # noqa: E402
from fvcore.nn import FlopCountAnalysis  # noqa: E402

from rmlr.utils.cost import machine_info, machine_summary, sdpa_macs  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "detr", "detr_r50.py")


def time_ms(fns, device: str, warmup: int, iters: int):
    """Wall times in milliseconds of each function in ``fns`` (a dict), run in alternation so
    that all see the same machine load; returns {name: all times}."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return times


class _Network(torch.nn.Module):
    """``model.detr`` on a normalised (N, 3, H, W) tensor, returning tensors (for tracing)."""

    def __init__(self, detr):
        super().__init__()
        self.detr = detr

    def forward(self, x):
        out = self.detr(ImageList(x, [tuple(x.shape[-2:])] * x.shape[0]))
        return out["pred_logits"], out["pred_boxes"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=CONFIG, help="a DETR LazyConfig (default: R50)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--size", type=int, default=800, help="image height = width")
    parser.add_argument("--iters", type=int, default=10, help="timed runs (>= 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--output", default="output/bench_detr.json", help="JSON to write")
    args = parser.parse_args(argv)
    if args.iters < 10:
        parser.error("--iters must be at least 10")
    torch.manual_seed(0)

    cfg = LazyConfig.load(args.config)
    model = instantiate(cfg.model).to(args.device).eval()
    params = sum(p.numel() for p in model.parameters())
    image = torch.randint(0, 256, (3, args.size, args.size), dtype=torch.uint8)
    inputs = [{"image": image.to(args.device), "height": args.size, "width": args.size}]
    with torch.no_grad():
        normalised = model.preprocess_image(inputs).tensor
        network = _Network(model.detr).eval()

        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        times = time_ms(
            {"detector": lambda: model(inputs), "network": lambda: network(normalised)},
            args.device,
            args.warmup,
            args.iters,
        )
        load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
        detector_ms = statistics.median(times["detector"])
        network_ms = statistics.median(times["network"])
        flops = FlopCountAnalysis(network, (normalised,))
        flops.set_op_handle("aten::scaled_dot_product_attention", sdpa_macs)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        macs = flops.total()
        by_module = {k: v for k, v in flops.by_module().items() if k.count(".") == 1}
        unsupported = dict(flops.unsupported_ops())

    result = {
        "config": os.path.relpath(args.config, REPO),
        "input": [1, 3, args.size, args.size],
        "machine": machine_info(args.device),
        "detector_forward_ms_median": detector_ms,
        "detector_forward_ms_min": min(times["detector"]),
        "detector_forward_ms_all": times["detector"],
        "network_forward_ms_median": network_ms,
        "network_forward_ms_min": min(times["network"]),
        "network_forward_ms_all": times["network"],
        "load_average_before_after": [load_before, load_after],
        "gmacs_fvcore": macs / 1e9,
        "gmacs_by_module": {k: v / 1e9 for k, v in by_module.items()},
        "params_million": params / 1e6,
        "fvcore_unsupported_ops": unsupported,
        "warmup": args.warmup,
        "iters": args.iters,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)

    print(machine_summary(result["machine"]))
    print(f"device: {args.device}; input 1 x 3 x {args.size} x {args.size}")
    for name, median in (("detector", detector_ms), ("network", network_ms)):
        print(
            f"{name} forward: median {median:.1f} ms, min {min(times[name]):.1f} ms "
            f"({args.iters} runs after {args.warmup} warm-up)"
        )
    if load_before is not None:
        print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(
        f"fvcore GMACs: {macs / 1e9:.2f}  "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["gmacs_by_module"].items())
    )
    print(f"parameters: {params / 1e6:.2f} M")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
