#!/usr/bin/env python
"""Convert HICO-DET annotation files between the UPT-style and PPDM/CDN-style formats.

Both formats are read directly by ``rmlr.data`` (``register_hico_det``); converting is useful

* PPDM/CDN -> UPT: PPDM-style files (``trainval_hico.json`` / ``test_hico.json``) carry no image
  sizes, so loading them reads every image header; the UPT-style output stores the sizes once and
  loads without the images.
* UPT -> PPDM/CDN: to feed QPIC / CDN / GEN-VLKT / HOICLIP code with the same annotations
  (``--with-sizes`` adds ``width`` / ``height`` per image, which those loaders ignore).

The conversion goes through the project's dataset dicts, so it applies the loader's checks and
box policy (exact-duplicate entities merged, boxes clipped to the image, pairs with empty boxes
skipped, all counted in the log). Boxes stay HICO's 1-based inclusive pixel indices in both files.

Usage::

    python datasets/convert_hico_det.py test_hico.json instances_test2015.json \\
        --image-root hico_20160224_det/images/test2015 --to upt --train-json trainval_hico.json
"""

import argparse
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

from rmlr.data import count_hoi_instances, load_hico_det_json
from rmlr.data.metadata import (
    COCO_THING_CLASSES,
    COCO_THING_DATASET_IDS,
    HICO_HOI_CLASSES,
    HICO_VERBS,
    rare_split,
)


def _to_hico_box(box: Sequence[float]) -> List[float]:
    """Continuous XYXY_ABS -> HICO 1-based inclusive pixel indices."""
    x1, y1, x2, y2 = box
    return [x1 + 1, y1 + 1, x2, y2]


def _relative(file_name: str, image_root: str) -> str:
    return os.path.relpath(file_name, os.path.abspath(image_root))


def upt_from_dicts(
    dicts: Sequence[Dict],
    image_root: str,
    *,
    verb_classes: Sequence[str] = HICO_VERBS,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
    rare: Optional[Dict[str, List[int]]] = None,
) -> Dict:
    """Dataset dicts -> a UPT-style dict (one pair entry per interaction)."""
    hoi_index = {tuple(h): i for i, h in enumerate(hoi_classes)}
    annotation = []
    for d in dicts:
        anns = d["annotations"]
        entry = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
        for s, o, v in d["interactions"]:
            obj = anns[o]["category_id"]
            entry["boxes_h"].append(_to_hico_box(anns[s]["bbox"]))
            entry["boxes_o"].append(_to_hico_box(anns[o]["bbox"]))
            entry["hoi"].append(hoi_index[(obj, v)])
            entry["object"].append(obj)
            entry["verb"].append(v)
        annotation.append(entry)
    result = {
        "annotation": annotation,
        "filenames": [_relative(d["file_name"], image_root) for d in dicts],
        "size": [[d["width"], d["height"]] for d in dicts],
        "empty": [i for i, d in enumerate(dicts) if not d["interactions"]],
        "objects": [name.replace(" ", "_") for name in COCO_THING_CLASSES],
        "verbs": list(verb_classes),
        "correspondence": [[i, obj, v] for i, (obj, v) in enumerate(hoi_classes)],
    }
    if rare is not None:
        result.update(rare=rare["rare_hoi_ids"], non_rare=rare["non_rare_hoi_ids"])
    return result


def ppdm_from_dicts(
    dicts: Sequence[Dict],
    image_root: str,
    *,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
    with_sizes: bool = False,
) -> List[Dict]:
    """Dataset dicts -> a PPDM/CDN-style list (COCO-91 category ids, 1-based verb / HOI ids)."""
    hoi_index = {tuple(h): i for i, h in enumerate(hoi_classes)}
    images = []
    for d in dicts:
        anns = d["annotations"]
        image = {
            "file_name": _relative(d["file_name"], image_root),
            "annotations": [
                {
                    "bbox": _to_hico_box(a["bbox"]),
                    "category_id": COCO_THING_DATASET_IDS[a["category_id"]],
                }
                for a in anns
            ],
            "hoi_annotation": [
                {
                    "subject_id": s,
                    "object_id": o,
                    "category_id": v + 1,
                    "hoi_category_id": hoi_index[(anns[o]["category_id"], v)] + 1,
                }
                for s, o, v in d["interactions"]
            ],
        }
        if with_sizes:
            image.update(width=d["width"], height=d["height"])
        images.append(image)
    return images


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="HICO-DET annotation file (either format)")
    parser.add_argument("output")
    parser.add_argument("--image-root", required=True, help="folder of the split's images")
    parser.add_argument("--to", required=True, choices=("upt", "ppdm"))
    parser.add_argument("--train-json", help="training annotations (UPT output: rare / non_rare)")
    parser.add_argument("--with-sizes", action="store_true", help="PPDM output: width / height")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    dicts = load_hico_det_json(args.input, args.image_root)
    if args.to == "upt":
        rare = rare_split(count_hoi_instances(args.train_json)) if args.train_json else None
        result = upt_from_dicts(dicts, args.image_root, rare=rare)
    else:
        result = ppdm_from_dicts(dicts, args.image_root, with_sizes=args.with_sizes)
    with open(args.output, "w") as f:
        json.dump(result, f)
    print(f"{args.output}: {len(dicts)} images, {sum(len(d['interactions']) for d in dicts)} pairs")


if __name__ == "__main__":
    main()
