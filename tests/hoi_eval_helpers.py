"""Test helpers for the HOI evaluation tests: tiny datasets built per the dataset-dict contract
(``projects/RmLR/README.md``), random predictions, and the oracle's inputs.

The oracle inputs are built here independently of ``rmlr.evaluation`` (own box arithmetic), so
agreement between the oracle and the evaluators checks both.
"""

import os
from types import SimpleNamespace

import numpy as np
from detectron2.structures import BoxMode

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO, "..", "shared", "data")
HICO_TEST_JSON = os.path.join(SHARED_DATA, "hicodet", "instances_test2015.json")
HICO_TEST_ALPHA_JSON = os.path.join(SHARED_DATA, "hicodet", "instances_test2015_hico_objorder.json")
VCOCO_TEST_JSON = os.path.join(SHARED_DATA, "vcoco", "instances_vcoco_test.json")


def hico_metadata(hoi_classes, num_objects=3, num_verbs=3, rare=None):
    """Metadata with the contract's fields for a small HICO-DET-like dataset."""
    hoi_classes = [tuple(h) for h in hoi_classes]
    rare = [] if rare is None else list(rare)
    return SimpleNamespace(
        name="tiny_hico",
        thing_classes=["person"] + [f"object{i}" for i in range(1, num_objects)],
        verb_classes=[f"verb{i}" for i in range(num_verbs)],
        hoi_classes=hoi_classes,
        rare_hoi_ids=rare,
        non_rare_hoi_ids=[i for i in range(len(hoi_classes)) if i not in rare],
        evaluator_type="hico_det",
        person_category_id=0,
    )


VCOCO_TINY_CLASSES = ["hold obj", "eat obj", "eat instr", "ride instr"]


def vcoco_metadata(verb_classes=VCOCO_TINY_CLASSES, num_objects=3):
    return SimpleNamespace(
        name="tiny_vcoco",
        thing_classes=["person"] + [f"object{i}" for i in range(1, num_objects)],
        verb_classes=list(verb_classes),
        evaluator_type="vcoco",
        person_category_id=0,
    )


def image_dict(image_id, pairs, agent_only=(), width=100, height=100):
    """A dataset dict from ``pairs = [(box_h, box_o, object_id, verb_id)]`` (continuous boxes) and
    ``agent_only = [(box_h, verb_id)]``; identical boxes of the same category are merged."""
    annotations, index = [], {}

    def entity(box, category):
        key = (category,) + tuple(float(v) for v in box)
        if key not in index:
            index[key] = len(annotations)
            annotations.append(
                {
                    "bbox": list(map(float, box)),
                    "bbox_mode": BoxMode.XYXY_ABS,
                    "category_id": category,
                }
            )
        return index[key]

    interactions = [[entity(h, 0), entity(o, obj), verb] for h, o, obj, verb in pairs]
    d = {
        "file_name": f"/images/img_{image_id:05d}.jpg",
        "height": height,
        "width": width,
        "image_id": image_id,
        "annotations": annotations,
        "interactions": interactions,
    }
    if agent_only:
        d["agent_only"] = [[entity(h, 0), verb] for h, verb in agent_only]
    return d


def record(rows):
    """A prediction record from ``[(subject_box, object_box or None, object_id, verb, score)]``."""
    from rmlr.evaluation import make_record

    n = len(rows)
    return make_record(
        np.array([r[0] for r in rows], np.float64).reshape(n, 4),
        np.array([[np.nan] * 4 if r[1] is None else r[1] for r in rows], np.float64).reshape(n, 4),
        [(-1 if r[1] is None else r[2]) for r in rows],
        [r[3] for r in rows],
        np.array([r[4] for r in rows], np.float64),
    )


def jitter(box, rng, amount):
    box = np.asarray(box, np.float64)
    w, h = box[2] - box[0], box[3] - box[1]
    out = box + rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    out[2:] = np.maximum(out[2:], out[:2])
    return out


def random_records(
    dataset_dicts,
    hoi_classes,
    rng,
    per_image,
    positive_rate=0.5,
    amount=0.25,
    score_decimals=2,
    no_object_rate=0.0,
):
    """Random predictions near the GT (jittered GT pairs, right or random class) and elsewhere.

    Scores are rounded to ``score_decimals`` so that ties are frequent.
    """
    hoi_classes = [tuple(h) for h in hoi_classes]
    records = {}
    for d in dataset_dicts:
        anns, pairs = d["annotations"], d["interactions"]
        rows = []
        for _ in range(per_image):
            if pairs and rng.random() < positive_rate:
                s, o, v = pairs[rng.integers(len(pairs))]
                h_box = jitter(anns[s]["bbox"], rng, amount)
                o_box = jitter(anns[o]["bbox"], rng, amount)
                obj = anns[o]["category_id"]
                if rng.random() < 0.2:
                    obj, v = hoi_classes[rng.integers(len(hoi_classes))]
            else:
                w, h = d.get("width") or 640, d.get("height") or 480
                x = np.sort(rng.uniform(0, w, (2, 2)), axis=1)
                y = np.sort(rng.uniform(0, h, (2, 2)), axis=1)
                h_box, o_box = [x[0, 0], y[0, 0], x[0, 1], y[0, 1]], [
                    x[1, 0],
                    y[1, 0],
                    x[1, 1],
                    y[1, 1],
                ]
                obj, v = hoi_classes[rng.integers(len(hoi_classes))]
            score = round(float(rng.random()), score_decimals)
            if rng.random() < no_object_rate:
                rows.append((list(h_box), None, -1, v, score))
            else:
                rows.append((list(h_box), list(o_box), obj, v, score))
        records[d["image_id"]] = record(rows)
    return records


def oracle_hico_inputs(gt_pairs_per_image, records, dataset_dicts, hoi_classes):
    """``eval_one.m``'s ``gt_all`` / exported ``all_boxes`` cells for :mod:`hoi_eval_oracle`.

    ``gt_pairs_per_image[i]`` lists ``(hoi, box_h, box_o)`` with 1-based inclusive boxes.
    """
    lookup = {tuple(h): k for k, h in enumerate(hoi_classes)}
    num_images = len(dataset_dicts)
    gt_all = [[None] * num_images for _ in hoi_classes]
    for i, pairs in enumerate(gt_pairs_per_image):
        for hoi, bh, bo in pairs:
            cell = gt_all[hoi][i] if gt_all[hoi][i] is not None else []
            gt_all[hoi][i] = cell + [list(bh) + list(bo)]
    det_all = [[None] * num_images for _ in hoi_classes]
    for i, d in enumerate(dataset_dicts):
        r = records.get(d["image_id"])
        if r is None:
            continue
        for k in range(len(r["scores"])):
            hoi = lookup[(int(r["object_classes"][k]), int(r["verbs"][k]))]
            sb, ob = [float(v) for v in r["subject_boxes"][k]], [
                float(v) for v in r["object_boxes"][k]
            ]
            row = [sb[0], sb[1], sb[2] - 1, sb[3] - 1, ob[0], ob[1], ob[2] - 1, ob[3] - 1]
            cell = det_all[hoi][i] if det_all[hoi][i] is not None else []
            det_all[hoi][i] = cell + [row + [float(r["scores"][k])]]
    return gt_all, det_all


def gt_pairs_from_dicts(dataset_dicts, hoi_classes):
    """1-based GT pairs per image from continuous dataset dicts (``x1 + 1, y1 + 1, x2, y2``)."""
    lookup = {tuple(h): k for k, h in enumerate(hoi_classes)}
    out = []
    for d in dataset_dicts:
        anns = d["annotations"]
        pairs = []
        for s, o, v in d["interactions"]:
            bh, bo = anns[s]["bbox"], anns[o]["bbox"]
            pairs.append(
                (
                    lookup[(anns[o]["category_id"], v)],
                    [bh[0] + 1, bh[1] + 1, bh[2], bh[3]],
                    [bo[0] + 1, bo[1] + 1, bo[2], bo[3]],
                )
            )
        out.append(pairs)
    return out


def image_objects_from_pairs(gt_pairs_per_image, hoi_classes, num_objects):
    out = np.zeros((len(gt_pairs_per_image), num_objects), dtype=bool)
    for i, pairs in enumerate(gt_pairs_per_image):
        for hoi, _, _ in pairs:
            out[i, hoi_classes[hoi][0]] = True
    return out


def vsrl_gt_box(box, width, height):
    """``vsrl_eval.py``'s GT box from a continuous ``[x, y, x + w, y + h]`` box (scalar math)."""
    x1, y1 = float(box[0]), float(box[1])
    x2 = x1 + max(0.0, (float(box[2]) - float(box[0])) - 1.0)
    y2 = y1 + max(0.0, (float(box[3]) - float(box[1])) - 1.0)

    def clip(v, hi):
        return max(0.0, v) if hi is None else min(hi - 1.0, max(0.0, v))

    return [clip(x1, width), clip(y1, height), clip(x2, width), clip(y2, height)]


def oracle_vcocodb(dataset_dicts, action_roles, num_actions):
    """The oracle's per-image GT (persons = subjects of positives, vsrl_eval boxes)."""
    db = []
    for d in dataset_dicts:
        anns = d["annotations"]
        agent_only = d.get("agent_only", [])
        subjects = sorted({s for s, _, _ in d["interactions"]} | {s for s, _ in agent_only})
        boxes = [vsrl_gt_box(anns[s]["bbox"], d.get("width"), d.get("height")) for s in subjects]
        row = {s: k for k, s in enumerate(subjects)}
        gt_actions = np.zeros((len(subjects), num_actions), dtype=np.int32)
        gt_roles = {(a, r): -np.ones((len(subjects), 4), np.float32) for a, r, _ in action_roles}
        for s, o, v in d["interactions"]:
            action, role, aid = action_roles[v]
            gt_actions[row[s], aid] = 1
            gt_roles[(action, role)][row[s]] = vsrl_gt_box(
                anns[o]["bbox"], d.get("width"), d.get("height")
            )
        for s, v in agent_only:
            gt_actions[row[s], action_roles[v][2]] = 1
        db.append(
            {
                "id": d["image_id"],
                "boxes": np.array(boxes, np.float32).reshape(-1, 4),
                "gt_actions": gt_actions,
                "gt_roles": gt_roles,
            }
        )
    return db


def action_roles_of(verb_classes):
    """``[(action, role, action_index)]`` and the action list, from ``"action role"`` names."""
    actions, out = [], []
    for name in verb_classes:
        action, role = name.split()
        if action not in actions:
            actions.append(action)
        out.append((action, role, actions.index(action)))
    return out, actions
