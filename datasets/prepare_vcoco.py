#!/usr/bin/env python
"""Build UPT-style V-COCO annotation files from the official V-COCO release and COCO 2014.

Reads the official ``vcoco_<split>.json`` files (github.com/s-gupta/v-coco, ``data/vcoco/``) and
COCO 2014 instances files (``instances_train2014.json`` / ``instances_val2014.json``, or V-COCO's
``instances_vcoco_all_2014.json``), and writes ``instances_vcoco_<split>.json`` in the format of
github.com/fredzzhang/vcoco (what ``rmlr.data.register_vcoco`` reads), plus two fields that format
lacks:

* ``size``: ``[width, height]`` per image (the loader then gives ``height`` / ``width``);
* per image ``agent_only_boxes_h`` / ``agent_only_actions``: positives whose role object is not
  annotated (``role_object_id`` 0). The loader turns them into the dicts' ``agent_only`` list,
  which the V-COCO evaluator needs for scenario 1 / 2 and for the number of positives.

Conventions, as in fredzzhang/vcoco's ``utilities/generate_annotations.py`` (read for reference:
https://github.com/fredzzhang/vcoco/blob/main/utilities/generate_annotations.py): the 24
action-roles exclude ``point`` and the agent-only actions (``stand``, ``walk``, ``run``, ``smile``);
an action with two roles (``eat``, ``cut``, ``hit``) gives one pair per role; pairs follow the
order action, role, person of the official file; images are sorted by COCO id; boxes are COCO's
``[x, y, x + w, y + h]``; ``objects`` are COCO-80 contiguous ids + 1.

Usage::

    python datasets/prepare_vcoco.py --vcoco-dir v-coco/data/vcoco \\
        --coco-annotations coco/annotations/instances_train2014.json \\
                           coco/annotations/instances_val2014.json \\
        --output-dir $DETECTRON2_DATASETS/vcoco
"""

import argparse
import json
import os
from typing import Dict, Iterable, List, Sequence

from rmlr.data.metadata import VCOCO_ACTION_ROLES

SPLITS = ("train", "val", "trainval", "test")


class CocoIndex:
    """Annotations and images of COCO instances files, by id."""

    def __init__(self, datasets: Iterable[Dict]):
        self.annotations: Dict[int, Dict] = {}
        self.images: Dict[int, Dict] = {}
        categories: Dict[int, str] = {}
        for data in datasets:
            self.annotations.update({a["id"]: a for a in data["annotations"]})
            self.images.update({i["id"]: i for i in data["images"]})
            categories.update({c["id"]: c["name"] for c in data["categories"]})
        #: COCO-91 category id -> COCO-80 contiguous id + 1 (0 is background).
        self.contiguous = {cid: i + 1 for i, cid in enumerate(sorted(categories))}
        self.object_names = ["background"] + [categories[c] for c in sorted(categories)]

    @classmethod
    def from_files(cls, paths: Sequence[str]) -> "CocoIndex":
        datasets = []
        for path in paths:
            with open(path) as f:
                datasets.append(json.load(f))
        return cls(datasets)

    def box(self, ann_id: int, where: str) -> List[float]:
        if ann_id not in self.annotations:
            raise KeyError(f"{where}: COCO annotation {ann_id} not in the COCO files given")
        x, y, w, h = self.annotations[ann_id]["bbox"]
        return [x, y, x + w, y + h]


def build_vcoco_annotations(vsrl: List[Dict], coco: CocoIndex, *, source: str = "") -> Dict:
    """One split: official V-COCO entries (the list of 26 actions) -> the UPT-style dict."""
    image_ids = sorted({int(i) for i in vsrl[0]["image_id"]})
    position = {image_id: k for k, image_id in enumerate(image_ids)}
    annotations = []
    for image_id in image_ids:
        if image_id not in coco.images:
            raise KeyError(f"{source}: COCO image {image_id} not in the COCO files given")
        annotations.append(
            {
                "boxes_h": [],
                "boxes_o": [],
                "actions": [],
                "objects": [],
                "file_name": coco.images[image_id]["file_name"],
                "agent_only_boxes_h": [],
                "agent_only_actions": [],
            }
        )
    action_to_object = [set() for _ in VCOCO_ACTION_ROLES]
    for entry in vsrl:
        roles = entry["role_name"]
        if entry["action_name"] == "point" or len(roles) < 2:
            continue
        num = len(entry["image_id"])
        role_ids = entry["role_object_id"]  # role-major: role r of person j at r * num + j
        if len(role_ids) != len(roles) * num:
            raise ValueError(f"{source}: {entry['action_name']}: role_object_id has a wrong size")
        for r in range(1, len(roles)):
            action = VCOCO_ACTION_ROLES.index(f"{entry['action_name']} {roles[r]}")
            for j in range(num):
                if not entry["label"][j]:
                    continue
                where = f"{source}: {entry['action_name']} {roles[r]}, person {j}"
                ann = annotations[position[int(entry["image_id"][j])]]
                box_h = coco.box(int(entry["ann_id"][j]), where)
                obj_id = int(role_ids[r * num + j])
                if obj_id == 0:
                    ann["agent_only_boxes_h"].append(box_h)
                    ann["agent_only_actions"].append(action)
                    continue
                box_o = coco.box(obj_id, where)
                category = coco.contiguous[coco.annotations[obj_id]["category_id"]]
                ann["boxes_h"].append(box_h)
                ann["boxes_o"].append(box_o)
                ann["actions"].append(action)
                ann["objects"].append(category)
                action_to_object[action].add(category)
    return {
        "annotations": annotations,
        "classes": list(VCOCO_ACTION_ROLES),
        "objects": coco.object_names,
        "images": image_ids,
        "action_to_object": [sorted(s) for s in action_to_object],
        "size": [[coco.images[i]["width"], coco.images[i]["height"]] for i in image_ids],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vcoco-dir", required=True, help="folder with vcoco_<split>.json")
    parser.add_argument("--coco-annotations", nargs="+", required=True, help="COCO instances files")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    args = parser.parse_args(argv)
    coco = CocoIndex.from_files(args.coco_annotations)
    os.makedirs(args.output_dir, exist_ok=True)
    for split in args.splits:
        path = os.path.join(args.vcoco_dir, f"vcoco_{split}.json")
        with open(path) as f:
            result = build_vcoco_annotations(json.load(f), coco, source=path)
        out = os.path.join(args.output_dir, f"instances_vcoco_{split}.json")
        with open(out, "w") as f:
            json.dump(result, f)
        pairs = sum(len(a["actions"]) for a in result["annotations"])
        agent_only = sum(len(a["agent_only_actions"]) for a in result["annotations"])
        print(f"{out}: {len(result['images'])} images, {pairs} pairs, {agent_only} agent-only")


if __name__ == "__main__":
    main()
