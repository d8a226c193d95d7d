#!/usr/bin/env python
"""Table 2 (ablations) at tiny size on the embedded synthetic dataset, several seeds.

Rows (configs in ``projects/RmLR/configs/rmlr``, each a short diff of ``rmlr_tiny_synthetic.py``
mirroring the R50 row ``rmlr_r50_vcoco_*.py``): plain model (UPT's head), w/o Rm, w/o CL,
w/o IRE-KT, w/o IRM-KT, w/o SA, w/o WA and the full model. Every row trains on the same frozen
tiny DETR, with the same schedule and seeds, through ``tools/lazyconfig_train_net.py``: by
default the shipped pre-trained tiny DETR (``projects/RmLR/weights``; it detects the synthetic
entities about as well as after the main job's stage-1 fine-tuning, box AP 37.6 vs 37.0);
``--stage1`` fine-tunes it first as the main job does (once), ``--detector`` takes other
weights. Per row and seed:

* HOI detection mAP (%), HICO-DET protocol, Default: Full / Rare / Non-rare (``results.json``);
* oracle-pair diagnostics (:mod:`rmlr.evaluation.oracle_pairs`): with the GT boxes as entities,
  verb top-1 accuracy and verb mAP, i.e. how well the model reads the interaction apart from
  detection and pair ranking.

The table gives mean +- standard deviation (sample, ddof 1) over the seeds. Finished runs are
kept (``--output``): running the command again only trains what is missing.

    python benchmarks/table2_synthetic.py --seeds 0 1 2
    python benchmarks/table2_synthetic.py --seeds 0 --rows full plain train.max_iter=200
"""

import rmlr  # noqa: F401  isort: skip  (first: quiets a torch warning before other imports)

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog

from rmlr.config import load_config
from rmlr.data import ensure_synthetic_hoi
from rmlr.engine import load_model_for_inference
from rmlr.evaluation.oracle_pairs import evaluate_oracle_pairs
from rmlr.utils.cost import machine_info, machine_summary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
STAGE1 = os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py")
SHIPPED_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")

#: Table 2's rows, in the paper's order: (key, label, config[, extra overrides]).
ROWS = [
    ("plain", "Plain model (UPT head)", "rmlr_tiny_synthetic_plain.py"),
    ("wo_rm", "w/o Rm", "rmlr_tiny_synthetic_wo_rm.py"),
    ("wo_cl", "w/o CL", "rmlr_tiny_synthetic_wo_cl.py"),
    ("wo_ire_kt", "w/o IRE-KT", "rmlr_tiny_synthetic_wo_ire_kt.py"),
    ("wo_irm_kt", "w/o IRM-KT", "rmlr_tiny_synthetic_wo_irm_kt.py"),
    ("wo_sa", "w/o SA", "rmlr_tiny_synthetic_wo_sa.py"),
    ("wo_wa", "w/o WA", "rmlr_tiny_synthetic_wo_wa.py"),
    ("full", "Full model", "rmlr_tiny_synthetic.py"),
]
#: Extensions, run only when named in --rows: the IRE on res3 (stride 8) instead of C5.
EXTRA_ROWS = [
    (
        "wo_cl_ire_res3",
        "w/o CL, IRE on res3 (extension)",
        "rmlr_tiny_synthetic_ire_res3.py",
        ["model.text_teacher=None", "model.cross_modal=None"],
    ),
    ("full_ire_res3", "Full model, IRE on res3 (extension)", "rmlr_tiny_synthetic_ire_res3.py"),
]
METRICS = ("full", "rare", "non_rare", "verb_top1", "verb_map", "verb_map_gt_pairs")


def log(msg):
    print(f"[table2] {msg}", flush=True)


def run(cmd, log_path, env):
    with open(log_path, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n...\n{tail}")


def child_env(threads):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def stage1(output, threads):
    """The main job's stage 1 (tiny DETR fine-tuned on the synthetic entity boxes), once."""
    out = os.path.join(output, "stage1_detr")
    path = os.path.join(out, "model_final.pth")
    if not os.path.isfile(path):
        os.makedirs(out, exist_ok=True)
        log(f"stage 1: tiny DETR -> {out}")
        cmd = [sys.executable, TRAIN_NET, "--config-file", STAGE1, "--no-eval"]
        cmd += [f"train.output_dir={out}"]
        run(cmd, os.path.join(out, "stdout.log"), child_env(threads))
    return path


def train_and_diagnose(row, seed, output, detector, opts, threads, train=True):
    """Train one row with one seed (unless done) and run the oracle-pair diagnostics; with
    ``train=False`` a run not trained yet is left out (None)."""
    key, config = row[0], row[2]
    extra = list(row[3]) if len(row) > 3 else []
    out = os.path.join(output, key, f"seed{seed}")
    record_path = os.path.join(out, "record.json")
    if os.path.isfile(record_path):
        with open(record_path) as f:
            record = json.load(f)
        if all(m in record for m in METRICS):
            return record  # else written by an earlier version: diagnose again
    os.makedirs(out, exist_ok=True)
    config = os.path.join(CONFIGS, "rmlr", config)
    overrides = [
        f"model.entity_detector.checkpoint={detector}",
        f"train.seed={seed}",
        f"train.output_dir={out}",
        *extra,
        *opts,
    ]
    start = time.time()
    done = all(os.path.isfile(os.path.join(out, f)) for f in ("results.json", "model_final.pth"))
    if not done and not train:
        return None
    if not done:  # else trained earlier, only the diagnostics are missing
        cmd = [sys.executable, TRAIN_NET, "--config-file", config, *overrides]
        run(cmd, os.path.join(out, "stdout.log"), child_env(threads))
    train_s = time.time() - start if not done else float("nan")
    with open(os.path.join(out, "results.json")) as f:
        hoi = json.load(f)["hico_det"]

    start = time.time()
    torch.set_num_threads(threads)
    cfg = load_config(config, overrides)
    cfg.dataloader.test.num_workers = 0
    model = load_model_for_inference(cfg, os.path.join(out, "model_final.pth"), device="cpu")
    verbs = MetadataCatalog.get(cfg.dataloader.test.dataset.names).verb_classes
    ignore = [verbs.index("no_interaction")] if "no_interaction" in verbs else []
    oracle = evaluate_oracle_pairs(model, instantiate(cfg.dataloader.test), ignore_verbs=ignore)
    record = {
        "row": key,
        "seed": seed,
        "full": hoi["full"],
        "rare": hoi["rare"],
        "non_rare": hoi["non_rare"],
        "verb_top1": oracle["verb_top1"],
        "verb_map": oracle["verb_map"],
        "verb_map_gt_pairs": oracle["verb_map_gt_pairs"],
        "oracle": oracle,
        "train_s": train_s,
        "oracle_s": time.time() - start,
    }
    with open(record_path, "w") as f:
        json.dump(record, f, indent=2)
    log(
        f"{key} seed {seed}: mAP {record['full']:.2f} / {record['rare']:.2f} / "
        f"{record['non_rare']:.2f}, oracle top-1 {record['verb_top1']:.1f}, verb mAP "
        f"{record['verb_map']:.1f} ({train_s:.0f} s + {record['oracle_s']:.0f} s)"
    )
    return record


def summarise(records, rows):
    """{row: {metric: (mean, std, n)}}; std is the sample standard deviation (0 for one seed)."""
    table = {}
    for key, *_ in rows:
        mine = [r for r in records if r["row"] == key]
        if not mine:
            continue
        table[key] = {}
        for m in METRICS:
            values = np.array([r[m] for r in mine], dtype=float)
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            table[key][m] = (float(values.mean()), std, len(values))
    return table


def markdown(table, rows, seeds):
    lines = [
        f"Seeds {', '.join(map(str, seeds))}; mean +- std (ddof 1). HOI mAP (%), HICO-DET protocol "
        "Default; oracle pairs: GT boxes given, verb top-1 accuracy (%) over GT interacting "
        "pairs, verb mAP (%) over all pairs of GT entities and over the GT interacting pairs "
        "only (no_interaction left out of both mAPs).",
        "",
        "| row | Full | Rare | Non-rare | oracle verb top-1 | oracle verb mAP | "
        "oracle verb mAP, GT pairs |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label, *_ in rows:
        if key in table:
            cells = [f"{table[key][m][0]:.2f} +- {table[key][m][1]:.2f}" for m in METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def get_parser():
    p = argparse.ArgumentParser(
        prog=os.path.basename(__file__),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S")
    p.add_argument(
        "--rows",
        nargs="+",
        choices=[r[0] for r in ROWS + EXTRA_ROWS],
        default=[r[0] for r in ROWS],
        help="rows to run (default: the eight Table 2 rows; extensions: "
        + ", ".join(r[0] for r in EXTRA_ROWS)
        + ")",
    )
    p.add_argument("--output", default="output/table2_synthetic", metavar="DIR")
    p.add_argument(
        "--detector",
        default="",
        metavar="FILE",
        help="frozen tiny DETR weights for every row (default: the shipped pre-trained tiny DETR)",
    )
    p.add_argument(
        "--stage1",
        action="store_true",
        help="fine-tune the tiny DETR on the synthetic boxes first (the main job's stage 1)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs trained at the same time (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=1, help="threads per run (default: %(default)s)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: diagnose and tabulate the runs already trained in --output",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY=VALUE",
        help="config overrides for every row, e.g. train.max_iter=200",
    )
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    output = os.path.abspath(args.output)
    os.makedirs(output, exist_ok=True)
    start = time.time()
    ensure_synthetic_hoi()
    if args.detector:
        detector = os.path.abspath(args.detector)
    else:
        detector = stage1(output, args.threads) if args.stage1 else SHIPPED_DETR
    rows = [r for r in ROWS + EXTRA_ROWS if r[0] in args.rows]  # the table's order
    by_key = {r[0]: r for r in rows}
    # rows complete in the order given on the command line
    jobs = [(by_key[k], seed) for k in dict.fromkeys(args.rows) for seed in args.seeds]
    log(f"{len(jobs)} runs ({len(rows)} rows x {len(args.seeds)} seeds), detector {detector}")
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        records = list(
            pool.map(
                lambda j: train_and_diagnose(
                    j[0], j[1], output, detector, args.opts, args.threads, not args.report_only
                ),
                jobs,
            )
        )
    missing = [f"{row[0]} seed {seed}" for (row, seed), r in zip(jobs, records) if r is None]
    records = [r for r in records if r is not None]
    table = summarise(records, rows)
    text = markdown(table, rows, args.seeds)
    if missing:
        text += f"\nNot trained yet (left out): {', '.join(missing)}.\n"
    wall = time.time() - start
    machine = machine_summary(machine_info())
    text += f"\nWall time {wall / 60:.1f} min on {machine}; overrides: {args.opts}\n"
    with open(os.path.join(output, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump({"table": table, "records": records, "wall_s": wall}, f, indent=2)
    print(text)
    return table


if __name__ == "__main__":
    main()
