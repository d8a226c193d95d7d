#!/usr/bin/env python
"""Can the tiny model's stride-16 features read the synthetic verbs? A linear probe.

The shipped pre-trained tiny DETR (``projects/RmLR/weights``, frozen, never trained on verbs) maps
each test-size image (shorter side 160, as the synthetic configs test) to its DC5 C5 map (stride
16). For every GT pair, RoIAlign pools the human box (2 x 2 cells) and the object box (1 x 1); a
multi-label logistic regression on these features is trained on the training pairs and scored on
the test pairs: average precision per verb over the pairs whose object admits it, mean over verbs
(``no_interaction`` left out). The same probe on the box geometry and object class alone measures
what the layout gives away (it should stay near chance, the positive rate). Dataset seeds give the
spread.

    python benchmarks/synthetic_cue_probe.py --seeds 0 1 2 --output output/cue_probe.json
    python benchmarks/synthetic_cue_probe.py --root FOLDER   # an already generated dataset
    python benchmarks/synthetic_cue_probe.py --feature res3  # the finer res3 map (stride 8)

``--feature res3`` probes res3 (stride 8, 64 channels) instead of C5, pooling 4 x 4 bins on the
human and 2 x 2 on the object: the same image area per bin as C5's 2 x 2 / 1 x 1 at stride 16
and the same feature count (1,280), so the comparison isolates resolution vs depth of the map
(the question behind ``model.ire_in_feature``).

``--root`` reads the verbs and HOI classes from the files, so a dataset written by another
version of the generator is probed the same way.
"""

import argparse
import json
import os
import tempfile
import warnings

import numpy as np

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402
from torchvision.ops import roi_align  # noqa: E402

from rmlr.data import HOIDatasetMapper, build_upt_augmentation, load_hico_det_json  # noqa: E402
from rmlr.data.parsing import read_json  # noqa: E402
from rmlr.data.synthetic import generate_synthetic_hoi  # noqa: E402
from rmlr.utils.cost import machine_info, machine_summary  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "detr", "detr_tiny_synthetic.py")
WEIGHTS = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")
#: map -> (stride, human bins, object bins) of the tiny DC5 DETR's backbone
FEATURES = {"res5": (16, 2, 1), "res4": (16, 2, 1), "res3": (8, 4, 2)}


def load_split(root, split):
    path = os.path.join(root, f"instances_{split}.json")
    data = read_json(path)
    verbs = data["verbs"]
    hoi_classes = [(o, v) for _, o, v in data["correspondence"]]
    dicts = load_hico_det_json(
        path, os.path.join(root, "images", split), verb_classes=verbs, hoi_classes=hoi_classes
    )
    return dicts, verbs, hoi_classes


@torch.no_grad()
def pair_features(detector, dicts, num_verbs, feature="res5"):
    """Per GT pair: C5 RoI features, a layout vector (boxes, object class), verb targets, object."""
    mapper = HOIDatasetMapper(
        is_train=False,
        augmentations=build_upt_augmentation(is_train=False, test_size=160, max_size=320),
        with_hoi_text=False,
    )
    feats, layout, targets, objects = [], [], [], []
    for d in dicts:
        if not d["interactions"]:
            continue
        x = mapper(d)
        images = detector.preprocess_image([x])
        c5 = detector.detr.backbone(images.tensor)[feature]
        stride, human_bins, object_bins = FEATURES[feature]
        boxes = x["instances"].gt_boxes.tensor
        classes = x["instances"].gt_classes
        h, w = x["image"].shape[-2:]
        pairs = {}
        for s, o, v in x["interactions"].tolist():
            pairs.setdefault((s, o), []).append(v)
        for (s, o), verbs in pairs.items():
            rois = torch.cat([torch.zeros(2, 1), boxes[[s, o]]], dim=1)
            bins = (human_bins, human_bins)
            human = roi_align(c5, rois[:1], bins, 1 / stride, 2, aligned=True).flatten()
            bins = (object_bins, object_bins)
            thing = roi_align(c5, rois[1:], bins, 1 / stride, 2, aligned=True).flatten()
            feats.append(torch.cat([human, thing]))
            one_hot = torch.zeros(81)
            one_hot[int(classes[o])] = 1
            geometry = (boxes[[s, o]] / torch.tensor([w, h, w, h])).flatten()
            layout.append(torch.cat([geometry, one_hot]))
            t = torch.zeros(num_verbs)
            t[verbs] = 1
            targets.append(t)
            objects.append(int(classes[o]))
    return torch.stack(feats), torch.stack(layout), torch.stack(targets), torch.tensor(objects)


def fit_probe(x, y, *, steps=500, weight_decay=1e-3):
    """Multi-label logistic regression (standardised inputs, full-batch Adam)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    linear = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear((x - mean) / std), y)
        loss.backward()
        opt.step()
    return lambda z: linear((z - mean) / std).detach()


def average_precision(scores, labels):
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    if hits.sum() == 0:
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def verb_map(scores, targets, objects, verbs, hoi_classes):
    """Mean over verbs (not no_interaction) of the AP over pairs whose object admits the verb;
    also the chance level (mean positive rate)."""
    aps, chance = {}, []
    for v, name in enumerate(verbs):
        admitted = {o for o, vv in hoi_classes if vv == v}
        keep = np.isin(objects.numpy(), list(admitted))
        labels = targets[keep, v].numpy()
        if name == "no_interaction" or labels.sum() == 0:
            continue
        aps[name] = 100 * average_precision(scores[keep, v].numpy(), labels)
        chance.append(100 * labels.mean())
    return float(np.mean(list(aps.values()))), float(np.mean(chance)), aps


def probe(root, detector, feature="res5"):
    train, verbs, hoi_classes = load_split(root, "train")
    test, _, _ = load_split(root, "test")
    tr = pair_features(detector, train, len(verbs), feature)
    te = pair_features(detector, test, len(verbs), feature)
    out = {"verbs": verbs, "train_pairs": len(tr[0]), "test_pairs": len(te[0])}
    for name, col in (("c5", 0), ("layout", 1)):
        predict = fit_probe(tr[col], tr[2])
        mean_ap, chance, aps = verb_map(predict(te[col]), te[2], te[3], verbs, hoi_classes)
        out[name] = {"mAP": mean_ap, "per_verb_AP": aps}
        out["chance"] = chance
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="probe this dataset folder (else generate)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="generator seeds")
    p.add_argument("--output", default="output/synthetic_cue_probe.json")
    p.add_argument(
        "--feature",
        choices=sorted(FEATURES),
        default="res5",
        help="backbone map to probe (default: C5, res5); the key 'c5' of the output holds it",
    )
    args = p.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = LazyConfig.load(CONFIG)
    extra = [args.feature] if args.feature != "res5" else []
    cfg.model.detr.backbone.out_features = [*extra, "res5"]
    detector = instantiate(cfg.model).eval()
    detector.load_state_dict(torch.load(WEIGHTS, weights_only=True)["model"])
    runs = {}
    if args.root:
        runs["root"] = probe(args.root, detector, args.feature)
    else:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                generate_synthetic_hoi(tmp, seed=seed)
                runs[f"seed {seed}"] = probe(tmp, detector, args.feature)
    summary = {}
    for key in ("c5", "layout"):
        values = [r[key]["mAP"] for r in runs.values()]
        summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    summary["chance"] = float(np.mean([r["chance"] for r in runs.values()]))
    print(machine_summary(machine_info("cpu")))
    for name, r in runs.items():
        print(
            f"{name}: verb mAP {args.feature} probe {r['c5']['mAP']:.1f}, layout probe "
            f"{r['layout']['mAP']:.1f}, chance {r['chance']:.1f} "
            f"({r['train_pairs']} train / {r['test_pairs']} test pairs)"
        )
    print(
        f"mean (std) over {len(runs)}: {args.feature} {summary['c5']['mean']:.1f} "
        f"({summary['c5']['std']:.1f})"
        f", layout {summary['layout']['mean']:.1f} ({summary['layout']['std']:.1f}), chance "
        f"{summary['chance']:.1f}"
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        record = {"machine": machine_info("cpu"), "feature": args.feature}
        json.dump({**record, "runs": runs, "summary": summary}, f, indent=2)
    return runs, summary


if __name__ == "__main__":
    main()
