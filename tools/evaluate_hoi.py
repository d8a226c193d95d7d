#!/usr/bin/env python
"""Evaluate a HOI predictions file against a registered dataset, without running a model.

    python tools/evaluate_hoi.py --dataset hico_det_test --predictions out/hoi_predictions.json.gz \
        --output metrics.json

Prints the table and, with ``--output``, writes JSON: HICO-DET
``{"default": {"full", "rare", "non_rare"}, "known_object": {...}}`` (mAP in percent); V-COCO
``{"AP_role_S1", "AP_role_S2", "AP_agent", "per_class": {...}, "per_action_agent": {...}}``.
The predictions file format is described in ``rmlr.evaluation.predictions`` and the project README.

``import rmlr`` registers the built-in datasets. To evaluate against another annotation file,
register it on the fly: ``--json-file FILE --format {hico_det,vcoco}`` (``--image-root`` is
optional: images are not read).
"""

import argparse
import json
import logging
import os
import sys
import warnings

# torch >= 2.10 warns when modules that use torch.jit.script are imported; not ours to fix.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402

import rmlr  # noqa: E402,F401  (registers the built-in datasets)
from rmlr.data import register_hico_det, register_vcoco  # noqa: E402
from rmlr.evaluation import (  # noqa: E402
    PredictionSpec,
    entries_to_records,
    evaluate_hico_det,
    evaluate_vcoco,
    export_hico_det_matlab,
    export_vcoco_pickle,
    load_predictions,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="registered dataset name")
    parser.add_argument("--predictions", required=True, help="predictions file (.json / .json.gz)")
    parser.add_argument("--output", help="write the metrics as JSON here")
    parser.add_argument("--per-class-csv", help="write the per-class APs as CSV here")
    parser.add_argument(
        "--export-official",
        metavar="DIR",
        help="also write the official tool's input (HICO-DET detections_XX.mat / V-COCO pickle)",
    )
    adhoc = parser.add_argument_group("register an ad-hoc dataset under --dataset")
    adhoc.add_argument("--json-file", help="annotation file (UPT-style; HICO-DET or V-COCO)")
    adhoc.add_argument("--image-root", default="", help="image folder (not read)")
    adhoc.add_argument("--format", choices=["hico_det", "vcoco"], help="annotation format")
    return parser.parse_args(argv)


def register_adhoc(args) -> None:
    if args.format is None:
        raise ValueError("--json-file needs --format hico_det or --format vcoco")
    if args.dataset in DatasetCatalog.list():
        raise ValueError(f"dataset {args.dataset!r} is already registered; pick another name")
    if args.format == "hico_det":
        register_hico_det(args.dataset, args.json_file, args.image_root)
    else:
        register_vcoco(args.dataset, args.json_file, args.image_root)


def evaluate(args):
    """Returns ``(result, metrics)``; raises ``ValueError`` / ``KeyError`` for bad input."""
    if args.json_file:
        register_adhoc(args)
    if args.dataset not in DatasetCatalog.list():
        raise ValueError(f"dataset {args.dataset!r} is not registered (use --json-file/--format)")
    dataset_dicts = DatasetCatalog.get(args.dataset)
    metadata = MetadataCatalog.get(args.dataset)
    spec = PredictionSpec.from_metadata(metadata)
    entries = load_predictions(args.predictions)
    records = entries_to_records(entries, dataset_dicts, spec, source=args.predictions)
    if metadata.evaluator_type == "hico_det":
        result = evaluate_hico_det(dataset_dicts, metadata, records)
        if args.export_official:
            export_hico_det_matlab(records, dataset_dicts, metadata, args.export_official)
    else:
        result = evaluate_vcoco(dataset_dicts, metadata, records)
        if args.export_official:
            path = os.path.join(args.export_official, "vcoco_detections.pkl")
            export_vcoco_pickle(records, dataset_dicts, metadata, path)
    return result, result.summary()


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        result, metrics = evaluate(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"evaluate_hoi.py: error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: {args.predictions}")
    print(result.table())
    if args.per_class_csv:
        result.write_csv(args.per_class_csv)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(metrics, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
