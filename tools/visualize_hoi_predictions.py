#!/usr/bin/env python
"""Draw a saved HOI predictions file on its images (Detectron2's visualize_json_results.py for HOI).

examples:
  python tools/visualize_hoi_predictions.py --dataset hico_det_test --output vis/ \\
      --predictions output/rmlr_r50_hico_det/hoi_predictions.json.gz --num 20 --with-gt
  python tools/visualize_hoi_predictions.py --dataset hico_det_test --output vis/ \\
      --predictions hoi_predictions.json.gz --image HICO_test2015_00000001.jpg --top-k 5
  python tools/visualize_hoi_predictions.py --dataset synthetic_hoi_test --output vis/ \\
      --predictions demo_out/predictions.json --scale 3

The file is the evaluator's hoi_predictions.json.gz (entries with image_id: images and ground
truth come from --dataset) or the demo's predictions.json (entries with the image's path). Class
and verb names always come from --dataset. Every entry is validated first (errors name the entry).
Writes <output>/<image name>.png per image, drawn like the demo; with --with-gt the ground truth is
drawn to the right of the predictions.
"""

import rmlr  # noqa: F401  isort: skip  (first: registers the datasets, quiets a torch warning)

import importlib
import os
import sys

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image

from rmlr.evaluation import PredictionSpec, entries_to_records, load_predictions
from rmlr.utils import HOIVisualizer, instances_from_record
from rmlr.utils.cli import (
    positive_float,
    positive_int,
    run_tool,
    tool_parser,
    unique_output_names,
    unit_interval,
)
from rmlr.utils.progress import Progress


def get_parser():
    p = tool_parser(__doc__, __file__)
    p.add_argument(
        "--predictions",
        required=True,
        metavar="FILE",
        help="predictions file (.json or .json.gz): the evaluator's or the demo's",
    )
    p.add_argument(
        "--dataset", required=True, help="registered dataset: class names, images, ground truth"
    )
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--image",
        metavar="NAME_OR_ID",
        help="draw only this image (its file name, base name or image id)",
    )
    p.add_argument(
        "--num", type=positive_int, metavar="N", help="draw the first N images (default: all)"
    )
    p.add_argument(
        "--score-thresh",
        type=unit_interval,
        default=0.2,
        metavar="S",
        help="show triplets with score >= S, in [0, 1] (default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        default=10,
        metavar="K",
        help="show at most K triplets per image, the best first (default: %(default)s)",
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
        "--with-gt",
        action="store_true",
        help="draw the dataset's ground truth to the right (evaluator files only)",
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


def _images(entries, dataset_dicts):
    """(dataset dicts the records refer to, records, ground truth available?) for the two kinds
    of file: entries with ``image_id`` (the dataset's images) or with image paths (the demo's)."""
    if all(isinstance(e, dict) and "image_id" in e for e in entries):
        return dataset_dicts, True
    # demo output: a video entry has frames, not an image
    images = [e for e in entries if not (isinstance(e, dict) and "frames" in e)]
    dicts = [{"image_id": k, "file_name": str(e.get("file_name"))} for k, e in enumerate(images)]
    for k, e in enumerate(images):
        e["image_id"] = k
    entries[:] = images
    return dicts, False


def _select(dicts, records, args, parser):
    chosen = [d for d in dicts if d["image_id"] in records]
    if args.image is not None:
        key = args.image
        chosen = [
            d
            for d in chosen
            if key in (str(d["image_id"]), d["file_name"], os.path.basename(d["file_name"]))
        ]
        if not chosen:
            parser.error(f"--image {key!r}: no entry of {args.predictions} for this image")
    return chosen[: args.num] if args.num else chosen


def _side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    h = max(left.shape[0], right.shape[0])
    pad = [
        np.pad(x, ((0, h - x.shape[0]), (0, 0), (0, 0)), constant_values=255) for x in (left, right)
    ]
    return np.concatenate(pad, axis=1)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    for module in args.imports:
        importlib.import_module(module)
    if args.dataset not in DatasetCatalog.list():
        parser.error(f"--dataset {args.dataset!r} is not registered (--import your module?)")
    metadata = MetadataCatalog.get(args.dataset)
    try:
        entries = load_predictions(args.predictions)
        dicts, has_gt = _images(entries, DatasetCatalog.get(args.dataset))
        records = entries_to_records(entries, dicts, PredictionSpec.from_metadata(metadata))
    except (OSError, ValueError) as e:
        print(f"visualize_hoi_predictions.py: error: {e}", file=sys.stderr)
        return None
    if args.with_gt and not has_gt:
        parser.error("--with-gt needs an evaluator file (entries with image_id)")
    chosen = _select(dicts, records, args, parser)
    os.makedirs(args.output, exist_ok=True)
    names = unique_output_names([d["file_name"] for d in chosen])
    progress = Progress(len(chosen), "visualize", unit="images", interval=2.0)
    for d, name in zip(chosen, names):
        image = read_image(d["file_name"], format="RGB")
        instances = instances_from_record(image.shape[:2], records[d["image_id"]])
        vis = HOIVisualizer(image, metadata, scale=args.scale, label_mode=args.labels)
        drawn = vis.draw_hoi_predictions(
            instances, score_thresh=args.score_thresh, top_k=args.top_k
        ).get_image()
        if args.with_gt:
            gt = HOIVisualizer(image, metadata, scale=args.scale, label_mode=args.labels)
            drawn = _side_by_side(drawn, gt.draw_hoi_ground_truth(d).get_image())
        cv2.imwrite(os.path.join(args.output, name), drawn[:, :, ::-1])
        progress.update(note=f"{d['file_name']} -> {name}")
    return names


if __name__ == "__main__":
    run_tool(main, __file__)
