#!/usr/bin/env python
"""The interaction-information-loss study of the paper's Fig. 1 / Fig. 6, on any trained RmLR.

The paper observes that DETR's human tokens mostly encode position and class: two people at the
same place doing different things get near-identical tokens, which is why RmLR re-mines pair
features with its Interactive Relation Encoder (IRE). This tool measures it on a dataset:

1. run the frozen DETR and the IRE on test images; keep the detected pairs that match a GT pair
   (min IoU >= 0.5 with its human and object boxes, as in training) with that GT pair's verb set;
2. form couples of such pairs from different images whose humans are at similar positions
   (IoU >= ``--position-iou`` of the human boxes in image-normalised coordinates) and whose
   objects have the same class;
3. for the couples doing *the same* and *different* interactions, report the cosine similarity
   and the Euclidean distance of (a) DETR's human tokens and (b) the IRE's pair features m^v.

A representation that keeps interaction information separates the two groups: the gap
``mean cos(same) - mean cos(different)`` is larger. Writes interaction_information.json, a
Markdown table and interaction_information.png (histograms) to --output.

examples:
  python tools/analyze_interaction_information.py --config-file CFG --checkpoint model_final.pth \\
      --output out/analysis --max-images 500
  python tools/analyze_interaction_information.py \\
      --config-file projects/RmLR/configs/rmlr/rmlr_tiny_synthetic.py \\
      --checkpoint output/main_job/stage2_rmlr/model_final.pth --output out/analysis \\
      dataloader.test.dataset.names=synthetic_hoi_pretrain_train \\
      model.entity_detector.checkpoint=output/main_job/stage1_detr/model_final.pth
"""

import rmlr  # noqa: F401  isort: skip  (first: quiets a torch warning before other imports)

import argparse
import json
import os

import numpy as np
import torch
from detectron2.config import instantiate
from detectron2.structures import Boxes, pairwise_iou
from detectron2.utils.logger import setup_logger

from rmlr.config import load_config
from rmlr.engine import load_model_for_inference, resolve_device
from rmlr.modeling.pairs import build_pairs
from rmlr.utils.cli import positive_int, run_tool, tool_parser, unit_interval
from rmlr.utils.progress import Progress


def get_parser():
    p = tool_parser(__doc__, __file__)
    p.add_argument(
        "--config-file",
        required=True,
        metavar="FILE",
        help="the RmLR LazyConfig of the model (its test set is analysed)",
    )
    p.add_argument(
        "--checkpoint",
        default="",
        metavar="FILE",
        help="trained weights (default: train.init_checkpoint of the config)",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--max-images",
        type=positive_int,
        default=500,
        metavar="N",
        help="analyse the first N test images (default: %(default)s)",
    )
    p.add_argument(
        "--position-iou",
        type=unit_interval,
        default=0.7,
        metavar="T",
        help="couple two pairs whose human boxes, in image-normalised coordinates, have IoU >= T "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--match-iou",
        type=unit_interval,
        default=0.5,
        metavar="T",
        help="a detected pair matches a GT pair when both boxes have IoU >= T "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--max-couples",
        type=positive_int,
        default=200000,
        metavar="N",
        help="compare at most N couples, sampled with a fixed seed (default: %(default)s)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N (default: %(default)s)",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY=VALUE",
        help="config overrides at the end, e.g. model.entity_detector.checkpoint=detr.pth",
    )
    return p


@torch.no_grad()
def collect_pairs(model, loader, *, max_images, match_iou):
    """Per matched pair: normalised human box, object class, GT verb set, human token, m^v."""
    if model.ire is None:
        raise SystemExit("this model has no IRE (a 'plain' or 'w/o Rm' config): nothing to compare")
    rows = {"box": [], "obj": [], "verbs": [], "token": [], "ire": [], "image": []}
    seen = 0
    progress = Progress(max_images, "analysis", unit="images")
    for batch in loader:
        progress.update(min(len(batch), max_images - seen))
        images = model.entity_detector.preprocess_image(batch)
        det = model.entity_detector(images)
        pairs = build_pairs(det, person_label=model.person_category_id)
        if pairs.boxes_h.shape[0] == 0:
            seen += len(batch)
            if seen >= max_images:
                break
            continue
        cues, _ = model.ire(
            det.features, det.feature_mask, pairs.boxes_h, pairs.boxes_o, pairs.image_index
        )
        tokens_h = pairs.entity_embeddings[pairs.human_index]
        for i, x in enumerate(batch):
            sel = (pairs.image_index == i).nonzero().flatten()
            gt = x["instances"].gt_boxes.tensor.to(model.device)
            inter = x["interactions"]
            if sel.numel() == 0 or inter.shape[0] == 0:
                continue
            iou_h = pairwise_iou(Boxes(pairs.boxes_h[sel]), Boxes(gt[inter[:, 0]]))
            iou_o = pairwise_iou(Boxes(pairs.boxes_o[sel]), Boxes(gt[inter[:, 1]]))
            ok = torch.minimum(iou_h, iou_o) >= match_iou  # (pairs of image i, GT interactions)
            h, w = images.image_sizes[i]
            scale = torch.tensor([w, h, w, h], device=model.device, dtype=torch.float32)
            for k, p in enumerate(sel.tolist()):
                verbs = sorted(set(inter[ok[k].cpu(), 2].tolist()))
                if not verbs:
                    continue
                rows["box"].append((pairs.boxes_h[p] / scale).cpu().numpy())
                rows["obj"].append(int(pairs.object_labels[p]))
                rows["verbs"].append(tuple(verbs))
                rows["token"].append(tokens_h[p].float().cpu().numpy())
                rows["ire"].append(cues[p].float().cpu().numpy())
                rows["image"].append(seen + i)
        seen += len(batch)
        if seen >= max_images:
            break
    return rows


def _cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return (a * b).sum(1)


def compare(rows, *, position_iou, max_couples, seed=0):
    n = len(rows["obj"])
    if n < 2:
        raise SystemExit(f"only {n} matched pair(s): run on more images or a better detector")
    boxes = torch.as_tensor(np.stack(rows["box"]))
    near = pairwise_iou(Boxes(boxes), Boxes(boxes)).numpy() >= position_iou
    obj = np.asarray(rows["obj"])
    image = np.asarray(rows["image"])
    i, j = np.nonzero(
        np.triu(near & (obj[:, None] == obj[None]) & (image[:, None] != image[None]), 1)
    )
    if len(i) > max_couples:
        keep = np.random.default_rng(seed).choice(len(i), max_couples, replace=False)
        i, j = i[keep], j[keep]
    same = np.array([rows["verbs"][a] == rows["verbs"][b] for a, b in zip(i, j)], dtype=bool)
    out = {"matched_pairs": n, "couples": int(len(i)), "same": int(same.sum())}
    for name in ("token", "ire"):
        feats = np.stack(rows[name])
        cos = _cos(feats[i], feats[j])
        dist = np.linalg.norm(feats[i] - feats[j], axis=1)
        out[name] = {
            group: {
                "cos_mean": float(cos[m].mean()) if m.any() else None,
                "dist_mean": float(dist[m].mean()) if m.any() else None,
                "cos": cos[m].tolist(),
            }
            for group, m in (("same", same), ("different", ~same))
        }
        s, d = out[name]["same"]["cos_mean"], out[name]["different"]["cos_mean"]
        out[name]["cos_gap"] = None if s is None or d is None else s - d
    return out


def table(result):
    lines = [
        f"{result['couples']} couples of matched pairs at similar human positions "
        f"({result['same']} same interaction, {result['couples'] - result['same']} different)",
        "",
        "| feature | cos (same) | cos (different) | gap | L2 (same) | L2 (different) |",
        "|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for name, label in (("token", "DETR human token"), ("ire", "IRE pair feature m^v")):
        r = result[name]
        lines.append(
            f"| {label} | {fmt(r['same']['cos_mean'])} | {fmt(r['different']['cos_mean'])} | "
            f"{fmt(r['cos_gap'])} | {fmt(r['same']['dist_mean'])} | "
            f"{fmt(r['different']['dist_mean'])} |"
        )
    return "\n".join(lines)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=False)
    for ax, (name, label) in zip(axes, (("token", "DETR human token"), ("ire", "IRE m^v"))):
        for group, color in (("same", "tab:green"), ("different", "tab:red")):
            values = result[name][group]["cos"]
            if values:
                ax.hist(values, bins=40, range=(-1, 1), alpha=0.6, color=color, label=group)
        ax.set_title(f"{label}: cosine similarity")
        ax.set_xlabel("cosine similarity of two humans at similar positions")
        ax.legend(title="interaction")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except RuntimeError as e:
        parser.error(f"--device {args.device}: {e}")
    setup_logger(name="rmlr")  # shows the checkpoint's sha256 and origin
    cfg = load_config(args.config_file, args.opts)
    checkpoint = args.checkpoint or cfg.train.init_checkpoint
    if not checkpoint:
        parser.error("no checkpoint: give --checkpoint or train.init_checkpoint=...")
    model = load_model_for_inference(cfg, checkpoint, device=resolve_device(args.device))
    # The test mapper keeps each image's GT instances and interactions.
    loader = instantiate(cfg.dataloader.test)
    rows = collect_pairs(model, loader, max_images=args.max_images, match_iou=args.match_iou)
    result = compare(rows, position_iou=args.position_iou, max_couples=args.max_couples)
    os.makedirs(args.output, exist_ok=True)
    text = table(result)
    with open(os.path.join(args.output, "interaction_information.md"), "w") as f:
        f.write(text + "\n")
    plot(result, os.path.join(args.output, "interaction_information.png"))
    summary = {k: v for k, v in result.items() if k not in ("token", "ire")}
    for name in ("token", "ire"):
        summary[name] = {
            g: {k: v for k, v in result[name][g].items() if k != "cos"}
            for g in ("same", "different")
        }
        summary[name]["cos_gap"] = result[name]["cos_gap"]
    with open(os.path.join(args.output, "interaction_information.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(text)
    return summary


if __name__ == "__main__":
    run_tool(main, __file__)
