#!/usr/bin/env python
"""The main job (``make demo``): the whole RmLR pipeline on the embedded synthetic dataset.

1. generate the synthetic HOI dataset (seconds; under $DETECTRON2_DATASETS/synthetic_hoi);
2. stage 1: train the tiny DETR on the dataset's entity boxes (configs/detr/detr_tiny_synthetic.py)
   and report its box AP;
3. stage 2: train RmLR with the frozen stage-1 DETR and the offline MiniLM teacher
   (configs/rmlr/rmlr_tiny_synthetic.py), evaluated with the HICO-DET-protocol evaluator;
4. the baselines on the same detector and data (--no-baseline skips them): Table 2's "w/o CL"
   model, RmLR without cross-modal learning (IRE + IRM: the re-mining alone, so RmLR vs w/o CL
   isolates the language contribution; configs/rmlr/rmlr_tiny_synthetic_wo_cl.py), and the plain
   model, UPT's interaction head (no IRE, no cross-modal learning;
   configs/rmlr/rmlr_tiny_synthetic_plain.py);
5. demo pictures of RmLR's detections on test images;
6. results.md / summary.json: the results table and the wall time of every step.

Everything lands in --output (each stage's checkpoints, logs, TensorBoard events, metrics,
predictions and per-class AP in its own folder). Each step prints its progress with an ETA while
it runs (training iterations, evaluation images, demo images); the full output of a step goes to
its log file. Extra key=value arguments are passed to both HOI stages.

examples:
  python tools/main_job.py --output output/main_job
  python tools/main_job.py --quick --output /tmp/smoke       # a smoke run of every step, minutes
  python tools/main_job.py --num-gpus 2 train.max_iter=800   # overrides for both HOI stages
"""

import rmlr  # noqa: F401  isort: skip  (first: quiets a torch warning before other imports)

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

from rmlr.utils.cli import positive_int

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
DEMO = os.path.join(REPO, "tools", "demo.py")

STAGE1 = os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py")
STAGE2 = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic.py")
BASELINE = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic_plain.py")
WO_CL = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic_wo_cl.py")

# --quick: a smoke run of every step (tests), not a result. Stage 1 is not evaluated (its COCO
# evaluation over 80 classes, 75 of them absent from the synthetic data, would take most of it).
QUICK_OVERRIDES = {
    "stage1": ["--no-eval", "train.max_iter=20", "train.eval_period=0"],
    "hoi": ["train.max_iter=10", "dataloader.train.total_batch_size=2"],
}
# Detectron2's training and evaluation log lines: "eta: 0:01:44  iter: 179" and
# "Inference done 11/100. ... ETA=0:00:10"
_TRAIN_LINE = re.compile(r"eta: (\S+)\s+iter: (\d+)")
_EVAL_LINE = re.compile(r"Inference done (\d+)/(\d+)\..*ETA=(\S+)")
_DEMO_LINE = re.compile(r"^demo: ")
PROGRESS_INTERVAL = 10.0  # seconds between two progress lines of a step


def log(msg):
    print(f"[main_job] {msg}", flush=True)


def progress_note(line, max_iter=None):
    """``(note, final)``: the progress a step's log line reports (training iteration and ETA,
    evaluation images and ETA, or the demo's own progress line) and whether it is the last of
    its kind; ``(None, False)`` for other lines."""
    m = _TRAIN_LINE.search(line)
    if m:
        done = int(m.group(2)) + 1
        total = f"/{max_iter}" if max_iter else ""
        return f"iteration {done}{total}, eta {m.group(1)}", done == max_iter
    m = _EVAL_LINE.search(line)
    if m:
        note = f"evaluating: {m.group(1)}/{m.group(2)} images, eta {m.group(3)}"
        return note, m.group(1) == m.group(2)
    if _DEMO_LINE.search(line):
        return line.strip()[len("demo: ") :], "(100%)" in line
    return None, False


def run(cmd, log_path, label="", max_iter=None):
    """Run a step, its output to ``log_path``, its progress to the console (at most every
    ``PROGRESS_INTERVAL`` seconds, and the last line of each kind); on failure show the end of
    the log and stop."""
    start, last = time.time(), 0.0
    with open(log_path, "w") as f:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, text=True, bufsize=1
        )
        for line in proc.stdout:
            f.write(line)
            note, final = progress_note(line, max_iter)
            now = time.time()
            if note and (final or now - last >= PROGRESS_INTERVAL):
                last = now
                log(f"  {label}: {note} ({now - start:.0f} s)")
        proc.wait()
    seconds = time.time() - start
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"step failed ({proc.returncode}): {' '.join(cmd)}\n...\n{tail}")
    return seconds


def _max_iter(config, overrides):
    for o in reversed(overrides):
        if o.startswith("train.max_iter="):
            return int(o.split("=", 1)[1])
    from detectron2.config import LazyConfig

    return int(LazyConfig.load(config).train.max_iter)


def train(config, output_dir, overrides, args, label):
    flags = [o for o in overrides if o.startswith("--")]
    keys = [o for o in overrides if not o.startswith("--")]
    cmd = [sys.executable, TRAIN_NET, "--config-file", config, "--num-gpus", str(args.num_gpus)]
    cmd += [*flags, f"train.output_dir={output_dir}", *keys]
    os.makedirs(output_dir, exist_ok=True)
    log_path = os.path.join(output_dir, "stdout.log")
    log(f"  {label}: log in {log_path}")
    seconds = run(cmd, log_path, label, _max_iter(config, keys))
    results = os.path.join(output_dir, "results.json")
    if not os.path.isfile(results):  # trained without evaluation (--quick stage 1)
        return {}, seconds
    with open(results) as f:
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
    models = (
        ("RmLR", "rmlr"),
        ("w/o CL (IRE + IRM, no language)", "wo_cl"),
        ("plain model (UPT head: no IRE, no CL)", "baseline"),
    )
    for name, key in models:
        if key in results:
            lines.append(hoi_row(name, results[key]))
    bbox = results.get("stage1", {}).get("bbox", {})
    if bbox:
        lines += [
            "",
            f"Stage-1 tiny DETR box AP: {bbox.get('AP', float('nan')):.2f} "
            f"(AP50 {bbox.get('AP50', float('nan')):.2f})",
        ]
    else:
        lines += ["", "Stage-1 tiny DETR: not evaluated (--quick)."]
    lines += ["", "| step | wall time (s) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in steps.items()]
    lines.append(f"| total | {sum(steps.values()):.1f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(output, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump({"results": results, "wall_time_s": steps}, f, indent=2)
    return text


def get_parser():
    p = argparse.ArgumentParser(
        prog=os.path.basename(__file__),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--output",
        default="output/main_job",
        metavar="DIR",
        help="where every step writes (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: a few iterations per stage, stage 1 not evaluated; not a result",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the baselines (w/o CL and the plain model)",
    )
    p.add_argument(
        "--num-gpus",
        type=positive_int,
        default=1,
        metavar="N",
        help="processes per stage: one per GPU, or gloo processes on a CPU (default: %(default)s)",
    )
    p.add_argument(
        "--demo-images",
        type=positive_int,
        default=4,
        metavar="N",
        help="draw RmLR's detections on the first N test images (default: %(default)s)",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY=VALUE",
        help="config overrides for both HOI stages, e.g. train.max_iter=800",
    )
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    output = os.path.abspath(args.output)
    os.makedirs(output, exist_ok=True)
    steps, results = {}, {}
    total = 6 if not args.no_baseline else 4

    log(f"[1/{total}] synthetic dataset ...")
    root, steps["dataset"] = generate_dataset()
    log(f"  synthetic dataset at {root} ({steps['dataset']:.1f} s)")

    stage1_dir = os.path.join(output, "stage1_detr")
    stage1 = QUICK_OVERRIDES["stage1"] if args.quick else []
    log(f"[2/{total}] stage 1: tiny DETR on the entity boxes ...")
    results["stage1"], steps["stage 1 (DETR)"] = train(STAGE1, stage1_dir, stage1, args, "stage 1")
    detector = os.path.join(stage1_dir, "model_final.pth")

    hoi = (QUICK_OVERRIDES["hoi"] if args.quick else []) + list(args.opts)
    hoi.append(f"model.entity_detector.checkpoint={detector}")
    log(f"[3/{total}] stage 2: RmLR with the MiniLM teacher ...")
    stage2_dir = os.path.join(output, "stage2_rmlr")
    results["rmlr"], steps["stage 2 (RmLR)"] = train(STAGE2, stage2_dir, hoi, args, "stage 2")
    if not args.no_baseline:
        log(f"[4/{total}] baseline: w/o CL (RmLR without cross-modal learning) ...")
        wo_cl_dir = os.path.join(output, "baseline_wo_cl")
        results["wo_cl"], steps["baseline (w/o CL)"] = train(WO_CL, wo_cl_dir, hoi, args, "w/o CL")
        log(f"[5/{total}] baseline: plain model ...")
        base_dir = os.path.join(output, "baseline_plain")
        results["baseline"], steps["baseline (plain)"] = train(
            BASELINE, base_dir, hoi, args, "baseline"
        )

    log(f"[{total}/{total}] demo pictures ...")
    images = sorted(glob.glob(os.path.join(root, "images", "test", "*.png")))[: args.demo_images]
    demo_cmd = [sys.executable, DEMO, "--config-file", STAGE2, "--input", *images]
    demo_cmd += ["--output", os.path.join(output, "demo"), "--score-thresh", "0.1", "--scale", "3"]
    demo_cmd += ["--checkpoint", os.path.join(stage2_dir, "model_final.pth"), *hoi]
    steps["demo"] = run(demo_cmd, os.path.join(output, "demo.log"), "demo")

    text = write_summary(output, steps, results)
    print(text)
    log(f"results: {os.path.join(output, 'results.md')}")
    log(f"demo pictures: {os.path.join(output, 'demo')}")
    log(f"TensorBoard: tensorboard --logdir {output}")
    return results


if __name__ == "__main__":
    main()
