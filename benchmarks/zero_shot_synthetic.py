#!/usr/bin/env python
"""Zero-shot HOI detection on the synthetic dataset: does the language classifier score classes
never seen in training better than the visual classifier and than chance?

For each setting (``uc``: unseen combinations cup inspect / sports ball carry / bicycle look_at;
``uv``: the verb ``inspect`` never seen) and seed, this trains the tiny RmLR config
``projects/RmLR/configs/rmlr/rmlr_tiny_synthetic_zs_<setting>.py`` with
``tools/lazyconfig_train_net.py`` (the shipped pre-trained tiny DETR as the frozen detector,
``--iters`` iterations, batch 8), then evaluates the final weights on ``synthetic_hoi_test`` four
times, the detections and their prior ``(s_h * s_o)^2.8`` identical, only the verb probability
changing:

* ``visual``: ``sigmoid(logit)`` of the IRM's verb classifier (text_weight 0);
* ``text``: the language classifier alone (text_weight 1);
* ``blend``: ``0.5 * visual + 0.5 * text`` (the configs' text_weight), the text alone for a verb
  that no training class uses (UV's ``inspect``: its visual logit is never trained);
* ``chance``: a uniform random probability (seeded) in place of the classifier.

It prints and writes (``--output``) mAP over unseen, seen and all classes (Default setting) per
run and the mean +- sample standard deviation over seeds.

    python benchmarks/zero_shot_synthetic.py --seeds 0 1 2 --iters 400 \\
        --work-dir output/zero_shot_synthetic --output benchmarks/zero_shot_synthetic.json
"""

import rmlr  # noqa: F401  isort: skip  (registers the datasets)

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from detectron2.config import instantiate
from detectron2.evaluation import inference_on_dataset

from rmlr.config import load_config
from rmlr.engine import load_model_for_inference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic_zs_{}.py")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")
VARIANTS = ("text", "visual", "blend", "chance")
METRICS = ("unseen", "seen", "full")


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--settings", nargs="+", default=["uc", "uv"], choices=["uc", "uv"])
    p.add_argument("--iters", type=int, default=400)
    p.add_argument("--work-dir", default="output/zero_shot_synthetic")
    p.add_argument("--output", help="write all numbers as JSON here")
    p.add_argument("--text-weight", type=float, default=0.5, help="w of the blend")
    return p


def overrides(seed, iters, out_dir):
    return [
        f"model.entity_detector.checkpoint={DETR}",
        f"train.seed={seed}",
        f"train.max_iter={iters}",
        f"train.checkpointer.period={iters}",
        f"train.output_dir={out_dir}",
        "train.device=cpu",
    ]


def train(setting, seed, iters, out_dir):
    final = os.path.join(out_dir, "model_final.pth")
    if os.path.isfile(final):
        print(f"  reusing {final}", flush=True)
        return 0.0
    cmd = [sys.executable, TRAIN_NET, "--config-file", CONFIG.format(setting), "--no-eval"]
    cmd += overrides(seed, iters, out_dir)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def evaluate(setting, seed, iters, out_dir, text_weight):
    cfg = load_config(CONFIG.format(setting), overrides(seed, iters, out_dir))
    model = load_model_for_inference(
        cfg, os.path.join(out_dir, "model_final.pth"), device="cpu", what="final weights"
    )
    visual_blend = model.probabilities
    results = {}
    for variant in VARIANTS:
        generator = torch.Generator().manual_seed(1000 + seed)
        if variant == "chance":

            def chance(pairs, logits, features):
                return torch.rand(logits.shape, generator=generator).to(logits)

            model.probabilities = chance
        else:
            model.probabilities = visual_blend
            weight = {"text": 1.0, "visual": 0.0, "blend": text_weight}[variant]
            model.language_classifier.text_weight = weight
            # visual: the verb classifier alone, also for verbs no training class uses
            model.language_classifier.text_only_for_untrained_verbs = variant != "visual"
        cfg.dataloader.evaluator.output_dir = None
        cfg.dataloader.evaluator.distributed = False
        evaluator = instantiate(cfg.dataloader.evaluator)
        with torch.no_grad():
            metrics = inference_on_dataset(model, instantiate(cfg.dataloader.test), evaluator)
        results[variant] = {k: metrics["hico_det"][k] for k in METRICS}
    return results


def summarize(runs, settings):
    lines = ["| setting | classifier | unseen mAP | seen mAP | full mAP |", "|---|---|---|---|---|"]
    summary = {}
    for setting in settings:
        for variant in VARIANTS:
            row = []
            for metric in METRICS:
                values = np.array([r[variant][metric] for r in runs[setting].values()])
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                summary.setdefault(setting, {}).setdefault(variant, {})[metric] = {
                    "mean": float(values.mean()),
                    "std": std,
                }
                row.append(f"{values.mean():.2f} +- {std:.2f}")
            lines.append(f"| {setting.upper()} | {variant} | " + " | ".join(row) + " |")
    return summary, "\n".join(lines)


def main(argv=None):
    args = get_parser().parse_args(argv)
    torch.set_num_threads(1)
    runs, seconds = {}, {}
    for setting in args.settings:
        for seed in args.seeds:
            out_dir = os.path.abspath(os.path.join(args.work_dir, f"{setting}_seed{seed}"))
            print(f"{setting} seed {seed}: training {args.iters} iterations", flush=True)
            seconds[f"{setting}_seed{seed}"] = train(setting, seed, args.iters, out_dir)
            result = evaluate(setting, seed, args.iters, out_dir, args.text_weight)
            runs.setdefault(setting, {})[seed] = result
            print(f"  {json.dumps(result)}", flush=True)
    summary, table = summarize(runs, args.settings)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "train_seconds": seconds,
                    "runs": runs,
                    "summary": summary,
                    "table": table,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
