#!/usr/bin/env python
"""Pose-guided IRE on the synthetic dataset (issue 16): can the variant learn from a real pose model?

1. ``keypoints``: train the tiny Detectron2 keypoint model (``configs/common/models/pose_tiny.py``:
   backbone + FPN + Keypoint R-CNN head, from scratch) on the exact COCO keypoints of the synthetic
   training persons. The keypoint head sees the GT person boxes jittered as a detector's would be
   (Keypoint R-CNN trains it on matched proposals; here the boxes come from DETR, so there is no
   RPN or box head to train), with Detectron2's ``keypoint_rcnn_loss``. Saved as
   ``{"model": state_dict}`` in Detectron2's names (``backbone.*``, ``roi_heads.keypoint_head.*``),
   loaded back by the pose stage's strict loader. Reported: PCK on the synthetic test persons (GT
   boxes): a keypoint is correct when within ``alpha * max(box w, box h)`` of the truth.
2. ``detr``: stage 1, the tiny DETR fine-tuned on the synthetic entities (the main job's stage 1,
   ``configs/detr/detr_tiny_synthetic.py``, not evaluated).
3. ``hoi``: tiny RmLR three ways on the same frozen DETR, one training run per seed, evaluated with
   the HICO-DET protocol on ``synthetic_hoi_test``: ``ire`` (``rmlr/rmlr_tiny_synthetic.py``),
   ``pose`` (``pose/rmlr_pose_tiny_synthetic.py``, ``model.ire.mode=replace``) and ``both``
   (``model.ire.mode=concat``).

Everything goes under ``--output``; ``summary.json`` and ``summary.md`` hold the numbers (mean and
sample std over the seeds) and the wall time of each step.

    python benchmarks/pose_synthetic.py --output output/pose_synthetic
    python benchmarks/pose_synthetic.py --steps hoi --seeds 0 1 2 --hoi-iters 400
"""

import rmlr  # noqa: F401  isort: skip  (registers the datasets first)

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from detectron2.modeling.roi_heads.keypoint_head import keypoint_rcnn_loss
from detectron2.structures import Boxes, Instances
from torch import nn

from rmlr.checkpoint import atomic_write
from rmlr.data import HOIDatasetMapper, build_upt_augmentation
from rmlr.modeling.pose_estimation import KeypointROIHeads, load_keypoint_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
POSE_TINY = os.path.join(CONFIGS, "common", "models", "pose_tiny.py")
DETR_STAGE1 = os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py")
IRE_CONFIG = os.path.join(CONFIGS, "rmlr", "rmlr_tiny_synthetic.py")
POSE_CONFIG = os.path.join(CONFIGS, "pose", "rmlr_pose_tiny_synthetic.py")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
VARIANTS = {
    "ire": (IRE_CONFIG, []),
    "pose": (POSE_CONFIG, ["model.ire.mode=replace"]),
    "both": (POSE_CONFIG, ["model.ire.mode=concat"]),
}
PERSON = 0


class KeypointTrainingModel(nn.Module):
    """The tiny pose model's trainable parts under Detectron2's ``GeneralizedRCNN`` names."""

    def __init__(self, pose_cfg):
        super().__init__()
        self.backbone = instantiate(pose_cfg.backbone)
        self.roi_heads = KeypointROIHeads(
            keypoint_pooler=instantiate(pose_cfg.keypoint_pooler),
            keypoint_head=instantiate(pose_cfg.keypoint_head),
        )
        self.in_features = list(pose_cfg.keypoint_in_features)
        self.register_buffer("mean", torch.tensor(list(pose_cfg.pixel_mean)).view(-1, 1, 1), False)
        self.register_buffer("std", torch.tensor(list(pose_cfg.pixel_std)).view(-1, 1, 1), False)

    def heatmaps(self, images, boxes):
        """uint8 RGB images (N of (3, H, W)), N Boxes -> (R, J, M, M) logits."""
        from detectron2.structures import ImageList

        x = [(im.float() - self.mean) / self.std for im in images]
        x = ImageList.from_tensors(x, self.backbone.size_divisibility)
        features = self.backbone(x.tensor)
        pooled = self.roi_heads.keypoint_pooler([features[f] for f in self.in_features], boxes)
        return self.roi_heads.keypoint_head.layers(pooled)


def jitter(boxes: torch.Tensor, image_hw, g: torch.Generator, amount: float = 0.1):
    """Shift each side by up to ``amount`` x the box size (a detector's box error)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    noise = (torch.rand(boxes.shape, generator=g) * 2 - 1) * amount * wh
    out = boxes + noise
    out[:, 0::2] = out[:, 0::2].clamp(0, image_hw[1])
    out[:, 1::2] = out[:, 1::2].clamp(0, image_hw[0])
    bad = (out[:, 2] - out[:, 0] < 2) | (out[:, 3] - out[:, 1] < 2)
    out[bad] = boxes[bad]
    return out


def person_batch(batch, g, jitter_amount):
    images, boxes, targets = [], [], []
    for x in batch:
        inst = x["instances"]
        keep = inst.gt_classes == PERSON
        images.append(x["image"])
        person_boxes = inst.gt_boxes.tensor[keep]
        if jitter_amount:
            person_boxes = jitter(person_boxes, inst.image_size, g, jitter_amount)
        boxes.append(Boxes(person_boxes))
        t = Instances(inst.image_size)
        t.proposal_boxes = Boxes(person_boxes)
        t.gt_keypoints = inst.gt_keypoints[keep]
        targets.append(t)
    return images, boxes, targets


def train_keypoints(args, out_dir):
    """Step 1: returns (checkpoint path, metrics)."""
    torch.manual_seed(args.seed)
    pose_cfg = LazyConfig.load(POSE_TINY).pose_estimator
    model = KeypointTrainingModel(pose_cfg).train()
    tiny = LazyConfig.load(IRE_CONFIG)
    tiny.dataloader.train.total_batch_size = args.keypoint_batch
    loader = iter(instantiate(tiny.dataloader.train))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.keypoint_lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.keypoint_lr, total_steps=args.keypoint_iters, pct_start=0.1
    )
    g = torch.Generator().manual_seed(args.seed)
    start, history = time.time(), []
    for it in range(args.keypoint_iters):
        images, boxes, targets = person_batch(next(loader), g, jitter_amount=0.1)
        if sum(len(b) for b in boxes) == 0:
            continue
        loss = keypoint_rcnn_loss(model.heatmaps(images, boxes), targets, normalizer=None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        if (it + 1) % 50 == 0:
            recent = statistics.mean(history[-50:])
            print(
                f"keypoints: iter {it + 1}/{args.keypoint_iters} loss {recent:.3f} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
    path = os.path.join(out_dir, "model_final.pth")
    state = {"model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    atomic_write(path, lambda f: torch.save(state, f))
    metrics = evaluate_keypoints(path)
    metrics.update(
        train_s=time.time() - start,
        iters=args.keypoint_iters,
        loss_first50=statistics.mean(history[:50]),
        loss_last50=statistics.mean(history[-50:]),
    )
    return path, metrics


def mean_pose(dataset="synthetic_hoi_train") -> torch.Tensor:
    """(J, 2) mean keypoint position in box-relative units ((x - x1) / w, (y - y1) / h) over the
    persons of ``dataset``: the layout prior a model gets for free."""
    sums, count = 0.0, 0
    for record in DatasetCatalog.get(dataset):
        for a in record["annotations"]:
            if a["category_id"] != PERSON or "keypoints" not in a:
                continue
            x1, y1, x2, y2 = a["bbox"]
            kp = torch.tensor(a["keypoints"], dtype=torch.float64).view(-1, 3)
            wh = torch.tensor([x2 - x1, y2 - y1], dtype=torch.float64)
            sums = sums + (kp[:, :2] - torch.tensor([x1, y1], dtype=torch.float64)) / wh
            count += 1
    return (sums / max(count, 1)).float()


@torch.no_grad()
def evaluate_keypoints(path, alphas=(0.02, 0.05, 0.1)):
    """PCK of the saved model, loaded through the pose stage's strict loader, on the synthetic
    test persons with their GT boxes (visible keypoints only), for all 17 keypoints and for the
    limb ends that move with the verbs (elbows, wrists, knees, ankles); the same for the mean
    training pose placed in each box (``prior_*``), the score without looking at the image."""
    pose_cfg = LazyConfig.load(POSE_TINY).pose_estimator
    pose_cfg.checkpoint = ""
    estimator = instantiate(pose_cfg)
    load_keypoint_checkpoint(estimator, path)
    mapper = HOIDatasetMapper.for_dataset(
        "synthetic_hoi_test",
        is_train=False,
        augmentations=build_upt_augmentation(is_train=False, test_size=160, max_size=320),
        image_format="RGB",
    )
    prior = mean_pose()
    groups = {"all": list(range(17)), "limbs": [7, 8, 9, 10, 13, 14, 15, 16]}
    correct = {(src, grp, a): 0 for src in ("model", "prior") for grp in groups for a in alphas}
    total = {grp: 0 for grp in groups}
    for record in DatasetCatalog.get("synthetic_hoi_test"):
        x = mapper(record)
        inst = x["instances"]
        keep = inst.gt_classes == PERSON
        if not keep.any():
            continue
        boxes = inst.gt_boxes.tensor[keep]
        out = estimator([x], boxes, torch.zeros(len(boxes), dtype=torch.int64))
        gt = inst.gt_keypoints.tensor[keep]  # (R, J, 3)
        visible = gt[:, :, 2] > 0
        wh = boxes[:, 2:] - boxes[:, :2]
        guesses = {
            "model": out.keypoints()[:, :, :2],
            "prior": boxes[:, None, :2] + prior * wh[:, None],
        }
        size = wh.amax(dim=1)[:, None]
        for src, guess in guesses.items():
            dist = (guess - gt[:, :, :2]).norm(dim=2)
            for grp, joints in groups.items():
                for a in alphas:
                    ok = (dist <= a * size) & visible
                    correct[(src, grp, a)] += int(ok[:, joints].sum())
        for grp, joints in groups.items():
            total[grp] += int(visible[:, joints].sum())
    metrics = {
        f"{'' if src == 'model' else 'prior_'}pck@{a}_{grp}": 100.0 * n / max(total[grp], 1)
        for (src, grp, a), n in correct.items()
    }
    metrics["keypoints_evaluated"] = total["all"]
    return metrics


def run(cmd, log_path):
    start = time.time()
    with open(log_path, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if proc.returncode:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return time.time() - start


def train_detr(args, out_dir):
    cmd = [sys.executable, TRAIN_NET, "--config-file", DETR_STAGE1, "--no-eval"]
    cmd += [f"train.output_dir={out_dir}"]
    seconds = run(cmd, os.path.join(out_dir, "stdout.log"))
    return os.path.join(out_dir, "model_final.pth"), seconds


def train_hoi(args, variant, seed, detr_path, keypoint_path, out_dir):
    config, overrides = VARIANTS[variant]
    cmd = [sys.executable, TRAIN_NET, "--config-file", config, *overrides]
    cmd += [
        f"train.output_dir={out_dir}",
        f"train.seed={seed}",
        f"train.max_iter={args.hoi_iters}",
        f"model.entity_detector.checkpoint={detr_path}",
    ]
    if variant != "ire":
        cmd.append(f"model.pose_estimator.checkpoint={keypoint_path}")
    seconds = run(cmd, os.path.join(out_dir, "stdout.log"))
    with open(os.path.join(out_dir, "results.json")) as f:
        return json.load(f)["hico_det"], seconds


def summarize(values):
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return {"mean": mean, "std": std, "values": values}


def write_summary(output, summary):
    path = os.path.join(output, "summary.json")
    if os.path.isfile(path):  # another step may have run meanwhile: keep what it wrote
        with open(path) as f:
            on_disk = json.load(f)
        for key, value in on_disk.items():
            if isinstance(value, dict) and isinstance(summary.get(key), dict):
                summary[key] = {**value, **summary[key]}
            else:
                summary.setdefault(key, value)
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    lines = []
    kp = summary.get("keypoints")
    if kp:
        lines += ["| PCK (%) | model | mean-pose prior |", "|---|---|---|"]
        for k, v in kp.items():
            if k.startswith("pck"):
                lines.append(f"| {k[4:]} | {v:.1f} | {kp['prior_' + k]:.1f} |")
        lines.append(f"\n{kp['keypoints_evaluated']} visible test keypoints.")
    hoi = summary.get("hoi", {})
    if hoi:
        lines += ["", "| variant | Full | Rare | Non-rare | seeds |", "|---|---|---|---|---|"]
        for name, r in hoi.items():
            cells = [
                f"{r[k]['mean']:.2f} +- {r[k]['std']:.2f}" for k in ("full", "rare", "non_rare")
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(r['full']['values'])} |")
    lines += ["", "| step | wall time (s) |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in summary["wall_time_s"].items()]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(output, "summary.md"), "w") as f:
        f.write(text)
    print(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="output/pose_synthetic")
    p.add_argument(
        "--steps",
        nargs="+",
        default=["keypoints", "detr", "hoi"],
        choices=["keypoints", "detr", "hoi", "summary"],
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the keypoint model")
    p.add_argument("--keypoint-iters", type=int, default=600)
    p.add_argument("--keypoint-batch", type=int, default=8)
    p.add_argument("--keypoint-lr", type=float, default=2e-3)
    p.add_argument("--hoi-iters", type=int, default=400)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    summary_path = os.path.join(args.output, "summary.json")
    summary = {"wall_time_s": {}}
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    keypoint_dir = os.path.join(args.output, "keypoint_tiny")
    detr_dir = os.path.join(args.output, "detr")
    keypoint_path = os.path.join(keypoint_dir, "model_final.pth")
    detr_path = os.path.join(detr_dir, "model_final.pth")

    if "keypoints" in args.steps:
        os.makedirs(keypoint_dir, exist_ok=True)
        start = time.time()
        keypoint_path, summary["keypoints"] = train_keypoints(args, keypoint_dir)
        summary["wall_time_s"]["keypoints"] = time.time() - start
        write_summary(args.output, summary)
    if "detr" in args.steps:
        os.makedirs(detr_dir, exist_ok=True)
        detr_path, summary["wall_time_s"]["detr"] = train_detr(args, detr_dir)
        write_summary(args.output, summary)
    if "hoi" in args.steps:
        runs = summary.setdefault("runs", {})
        for seed in args.seeds:
            for variant in args.variants:
                name = f"{variant}_seed{seed}"
                out_dir = os.path.join(args.output, "hoi", name)
                os.makedirs(out_dir, exist_ok=True)
                result, seconds = train_hoi(args, variant, seed, detr_path, keypoint_path, out_dir)
                runs[name] = {"result": result, "seconds": seconds}
                summary["wall_time_s"][f"hoi {name}"] = seconds
                print(f"{name}: Full {result['full']:.2f} ({seconds:.0f} s)", flush=True)
                summary["hoi"] = hoi_table(runs)
                write_summary(args.output, summary)
    if "summary" in args.steps:  # rebuild from every finished run (runs split over processes)
        runs = {}
        for name in sorted(os.listdir(os.path.join(args.output, "hoi"))):
            path = os.path.join(args.output, "hoi", name, "results.json")
            if os.path.isfile(path):
                with open(path) as f:
                    runs[name] = {"result": json.load(f)["hico_det"]}
        summary["runs"] = runs
        summary["hoi"] = hoi_table(runs)
        write_summary(args.output, summary)
    return summary


def hoi_table(runs):
    """mean / std / values over seeds of each variant's Full, Rare, Non-rare."""
    table = {}
    for v in VARIANTS:
        mine = [r["result"] for n, r in sorted(runs.items()) if n.startswith(v + "_")]
        if mine:
            table[v] = {k: summarize([r[k] for r in mine]) for k in ("full", "rare", "non_rare")}
    return table


if __name__ == "__main__":
    main()
