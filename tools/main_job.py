#!/usr/bin/env python
"""The main job (``make demo``): the whole RmLR pipeline on the embedded synthetic dataset.

1. generate the synthetic HOI dataset (seconds; under ``$DETECTRON2_DATASETS/synthetic_hoi``);
2. stage 1: train the tiny DETR on the dataset's entity boxes (``configs/detr/detr_tiny_synthetic.py``)
   and report its box AP;
3. stage 2: train RmLR with the frozen stage-1 DETR and the offline MiniLM teacher
   (``configs/rmlr/rmlr_tiny_synthetic.py``), evaluated with the HICO-DET-protocol evaluator;
4. the baseline: Table 2's plain model (no IRE, no cross-modal learning) on the same detector and
   data (``configs/rmlr/rmlr_tiny_synthetic_plain.py``; ``--no-baseline`` skips it);
5. demo pictures of RmLR's detections on test images;
6. ``results.md`` / ``summary.json``: the results table and the wall time of every step.

Everything lands in ``--output`` (each stage's checkpoints, logs, TensorBoard events and metrics in
its own folder). Extra ``key=value`` arguments are passed to both HOI stages.

    python tools/main_job.py --output output/main_job [--quick] [--num-gpus N]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
DEMO = os.path.join(REPO, "tools", "demo.py")

STAGE1 = os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py")
STAGE2 = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic.py")
BASELINE = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic_plain.py")

# --quick: a smoke run of every step (tests), not a result.
QUICK_OVERRIDES = {
    "stage1": ["train.max_iter=20", "train.eval_period=0"],
    "hoi": ["train.max_iter=10", "dataloader.train.total_batch_size=2"],
}


def log(msg):
    print(f"[main_job] {msg}", flush=True)


def run(cmd, log_path):
    """Run a step, its output to ``log_path``; on failure show the end of the log and stop."""
    start = time.time()
    with open(log_path, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    seconds = time.time() - start
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"step failed ({proc.returncode}): {' '.join(cmd)}\n...\n{tail}")
    return seconds


def train(config, output_dir, overrides, args):
    cmd = [sys.executable, TRAIN_NET, "--config-file", config, "--num-gpus", str(args.num_gpus)]
    cmd += [f"train.output_dir={output_dir}", *overrides]
    os.makedirs(output_dir, exist_ok=True)
    seconds = run(cmd, os.path.join(output_dir, "stdout.log"))
    with open(os.path.join(output_dir, "results.json")) as f:
        return json.load(f), seconds


def generate_dataset():
    from rmlr.data import ensure_synthetic_hoi

    start = time.time()
    root = ensure_synthetic_hoi()
    return root, time.time() - start


def hoi_row(name, results):
    r = results.get("hico_det", {})
    keys = ("full", "rare", "non_rare", "ko_full", "ko_rare", "ko_non_rare")
    return f"| {name} | " + " | ".join(f"{r[k]:.2f}" if k in r else "-" for k in keys) + " |"


def write_summary(output, steps, results):
    lines = [
        "# Main job: RmLR on the embedded synthetic dataset",
        "",
        "HOI detection mAP (%), HICO-DET protocol (Default / Known Object; Full / Rare / Non-rare):",
        "",
        "| model | Full | Rare | Non-rare | KO Full | KO Rare | KO Non-rare |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, key in (("RmLR", "rmlr"), ("plain model (no IRE, no CL)", "baseline")):
        if key in results:
            lines.append(hoi_row(name, results[key]))
    bbox = results.get("stage1", {}).get("bbox", {})
    if bbox:
        lines += [
            "",
            f"Stage-1 tiny DETR box AP: {bbox.get('AP', float('nan')):.2f} "
            f"(AP50 {bbox.get('AP50', float('nan')):.2f})",
        ]
    lines += ["", "| step | wall time (s) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in steps.items()]
    lines.append(f"| total | {sum(steps.values()):.1f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(output, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump({"results": results, "wall_time_s": steps}, f, indent=2)
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="output/main_job")
    p.add_argument("--quick", action="store_true", help="smoke run: a few iterations per stage")
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-model baseline")
    p.add_argument("--num-gpus", type=int, default=1, help="processes per stage (CPU: gloo)")
    p.add_argument("--demo-images", type=int, default=4)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="overrides for both HOI stages")
    args = p.parse_args(argv)
    output = os.path.abspath(args.output)
    os.makedirs(output, exist_ok=True)
    steps, results = {}, {}

    root, steps["dataset"] = generate_dataset()
    log(f"synthetic dataset at {root} ({steps['dataset']:.1f} s)")

    stage1_dir = os.path.join(output, "stage1_detr")
    stage1 = QUICK_OVERRIDES["stage1"] if args.quick else []
    log("stage 1: tiny DETR on the entity boxes ...")
    results["stage1"], steps["stage 1 (DETR)"] = train(STAGE1, stage1_dir, stage1, args)
    detector = os.path.join(stage1_dir, "model_final.pth")

    hoi = (QUICK_OVERRIDES["hoi"] if args.quick else []) + list(args.opts)
    hoi.append(f"model.entity_detector.checkpoint={detector}")
    log("stage 2: RmLR with the MiniLM teacher ...")
    stage2_dir = os.path.join(output, "stage2_rmlr")
    results["rmlr"], steps["stage 2 (RmLR)"] = train(STAGE2, stage2_dir, hoi, args)
    if not args.no_baseline:
        log("baseline: plain model ...")
        base_dir = os.path.join(output, "baseline_plain")
        results["baseline"], steps["baseline (plain)"] = train(BASELINE, base_dir, hoi, args)

    log("demo pictures ...")
    images = sorted(glob.glob(os.path.join(root, "images", "test", "*.png")))[: args.demo_images]
    demo_cmd = [sys.executable, DEMO, "--config-file", STAGE2, "--input", *images]
    demo_cmd += ["--output", os.path.join(output, "demo"), "--score-thresh", "0.1", "--scale", "3"]
    demo_cmd += ["--checkpoint", os.path.join(stage2_dir, "model_final.pth"), *hoi]
    steps["demo"] = run(demo_cmd, os.path.join(output, "demo.log"))

    text = write_summary(output, steps, results)
    print(text)
    log(f"results: {os.path.join(output, 'results.md')}")
    log(f"demo pictures: {os.path.join(output, 'demo')}")
    log(f"TensorBoard: tensorboard --logdir {output}")
    return results


if __name__ == "__main__":
    main()
