#!/usr/bin/env python
"""Draw a registered HOI dataset's ground-truth pairs and verbs, to check a converted dataset.

examples:
  python tools/visualize_hoi_dataset.py --dataset hico_det_test --output vis/ --num 20
  python tools/visualize_hoi_dataset.py --dataset vcoco_test --image-ids 165 285 --output vis/
  python tools/visualize_hoi_dataset.py --dataset synthetic_hoi_test --output vis/ --scale 3
  python tools/visualize_hoi_dataset.py --import my_hoi --dataset my_hoi_train --output vis/

Writes <output>/<image name>.png per image: human boxes (solid), object boxes (dashed), a line
per pair and the verb and object of every GT interaction, labels never overlapping (numbered in a
side panel when the image is busy), colours fixed per verb.
Human keypoints are drawn when the dataset has them (the synthetic one).
"""

import rmlr  # noqa: F401  isort: skip  (first: registers the datasets, quiets a torch warning)

import importlib
import os

import cv2
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image

from rmlr.utils import HOIVisualizer
from rmlr.utils.cli import positive_float, positive_int, tool_parser
from rmlr.utils.progress import Progress


def get_parser():
    p = tool_parser(__doc__, __file__)
    p.add_argument("--dataset", required=True, help="a registered dataset name, e.g. hico_det_test")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--num",
        type=positive_int,
        default=10,
        metavar="N",
        help="draw the first N images (default: %(default)s; ignored with --image-ids)",
    )
    p.add_argument(
        "--image-ids", type=int, nargs="+", metavar="ID", help="draw only these image ids"
    )
    p.add_argument(
        "--scale",
        type=positive_float,
        default=1.0,
        help="draw on a canvas this many times larger, for small images (default: %(default)s)",
    )
    p.add_argument(
        "--labels",
        choices=("auto", "inline", "panel"),
        default="auto",
        help="labels next to their pairs, numbered in a side panel, or inline unless busy "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first (one that registers your dataset); repeatable",
    )
    return p


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    for module in args.imports:
        importlib.import_module(module)
    if args.dataset not in DatasetCatalog.list():
        parser.error(f"--dataset {args.dataset!r} is not registered (--import your module?)")
    dicts = DatasetCatalog.get(args.dataset)
    metadata = MetadataCatalog.get(args.dataset)
    if args.image_ids:
        wanted = set(args.image_ids)
        dicts = [d for d in dicts if d["image_id"] in wanted]
        missing = wanted - {d["image_id"] for d in dicts}
        if missing:
            parser.error(f"--image-ids not in {args.dataset}: {sorted(missing)}")
    else:
        dicts = dicts[: args.num]
    os.makedirs(args.output, exist_ok=True)
    written = []
    progress = Progress(len(dicts), "visualize", unit="images", interval=2.0)
    for d in dicts:
        image = read_image(d["file_name"], format="RGB")
        vis = HOIVisualizer(image, metadata, scale=args.scale, label_mode=args.labels)
        drawn = vis.draw_hoi_ground_truth(d).get_image()
        name = os.path.splitext(os.path.basename(d["file_name"]))[0] + ".png"
        cv2.imwrite(os.path.join(args.output, name), drawn[:, :, ::-1])
        written.append(name)
        count = len(d.get("interactions", [])) + len(d.get("agent_only", []))
        progress.update(note=f"{d['file_name']}: {count} interaction(s) -> {name}")
    return written


if __name__ == "__main__":
    main()
