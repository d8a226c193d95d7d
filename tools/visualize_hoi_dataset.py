#!/usr/bin/env python
"""Draw a registered HOI dataset's ground-truth pairs and verbs, to check a converted dataset.

    python tools/visualize_hoi_dataset.py --dataset hico_det_test --output vis/ --num 20
    python tools/visualize_hoi_dataset.py --dataset vcoco_test --image-ids 165 285 --output vis/

Writes ``<output>/<image name>.png`` per image: human boxes (solid), object boxes (dashed), a line
between them and the verb and object of every GT interaction, and the human keypoints when the
dataset has them (the synthetic one). ``--scale 4`` draws small images larger.
"""

import argparse
import os

import cv2
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image

import rmlr  # noqa: F401  (registers the datasets)
from rmlr.utils import HOIVisualizer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="a registered dataset name")
    p.add_argument("--output", required=True)
    p.add_argument("--num", type=int, default=10, help="first N images (ignored with --image-ids)")
    p.add_argument("--image-ids", type=int, nargs="*", help="only these image ids")
    p.add_argument(
        "--scale", type=float, default=1.0, help="drawing scale (e.g. 4 for tiny images)"
    )
    args = p.parse_args(argv)
    if args.scale <= 0:
        raise SystemExit(f"--scale must be positive, got {args.scale}")

    dicts = DatasetCatalog.get(args.dataset)
    metadata = MetadataCatalog.get(args.dataset)
    if args.image_ids:
        wanted = set(args.image_ids)
        dicts = [d for d in dicts if d["image_id"] in wanted]
        missing = wanted - {d["image_id"] for d in dicts}
        if missing:
            raise SystemExit(f"--image-ids not in {args.dataset}: {sorted(missing)}")
    else:
        dicts = dicts[: args.num]
    os.makedirs(args.output, exist_ok=True)
    written = []
    for d in dicts:
        image = read_image(d["file_name"], format="RGB")
        drawn = (
            HOIVisualizer(image, metadata, scale=args.scale).draw_hoi_ground_truth(d).get_image()
        )
        name = os.path.splitext(os.path.basename(d["file_name"]))[0] + ".png"
        cv2.imwrite(os.path.join(args.output, name), drawn[:, :, ::-1])
        written.append(name)
        print(f"{d['file_name']}: {len(d.get('interactions', []))} interaction(s) -> {name}")
    return written


if __name__ == "__main__":
    main()
