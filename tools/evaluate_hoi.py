#!/usr/bin/env python
"""Evaluate a HOI predictions file against a registered dataset, without running a model.

examples:
  python tools/evaluate_hoi.py --dataset hico_det_test \\
      --predictions output/rmlr_r50_hico_det/hoi_predictions.json.gz --output metrics.json
  python tools/evaluate_hoi.py --import my_hoi --dataset my_hoi_test --predictions p.json.gz
  python tools/evaluate_hoi.py --dataset mine --json-file my_test.json --format hico_det \\
      --train-json-file my_train.json --predictions p.json
  python tools/evaluate_hoi.py --dataset hico_det_test --zero-shot uv --predictions p.json.gz

Prints the table and, with --output, writes JSON: HICO-DET
{"default": {"full", "rare", "non_rare"}, "known_object": {...}} (mAP in percent; with
--zero-shot also "unseen" and "seen" in both); V-COCO
{"AP_role_S1", "AP_role_S2", "AP_agent", "per_class": {...}, "per_action_agent": {...}}.
The predictions file format is described in rmlr.evaluation.predictions and the project README.

Datasets: `import rmlr` registers the built-in ones; --import MODULE imports your module that
registers yours (README, "Your own dataset"); or register an annotation file on the fly with
--json-file FILE --format {hico_det,vcoco} (a HICO-DET-style file's own verbs and HOI classes
are used; images are not read).

Zero-shot (HICO-DET-style datasets): --zero-shot SETTING adds the mAP over the setting's unseen
and seen classes (rf_uc, nf_uc, uo, uv for HICO-DET; synthetic_uc, synthetic_uv), --zero-shot
FILE.json takes the unseen HOI ids from a file (a list, or {"unseen_hoi_ids": [...]}).

Images of the dataset without an entry count as images without detections; the tool reports how
many there are and refuses to score a file that covers fewer than half of the images (a wrong or
truncated file) unless --allow-partial is given.
"""

import rmlr  # noqa: F401  isort: skip  (first: registers the datasets, quiets a torch warning)

import importlib
import json
import logging
import os
import sys

from detectron2.data import DatasetCatalog, MetadataCatalog

from rmlr.data import read_unseen_hoi_ids, register_hico_det, register_vcoco
from rmlr.data.metadata import object_order_to_coco80
from rmlr.data.parsing import check_id, read_json
from rmlr.evaluation import (
    PredictionSpec,
    entries_to_records,
    evaluate_hico_det,
    evaluate_vcoco,
    export_hico_det_matlab,
    export_vcoco_pickle,
    load_predictions,
)
from rmlr.utils.cli import tool_parser

#: below this fraction of the dataset's images with an entry, the file is refused
MIN_COVERAGE = 0.5


def get_parser():
    parser = tool_parser(__doc__, __file__)
    parser.add_argument("--dataset", required=True, help="registered dataset name")
    parser.add_argument("--predictions", required=True, help="predictions file (.json / .json.gz)")
    parser.add_argument("--output", help="write the metrics as JSON here")
    parser.add_argument("--per-class-csv", help="write the per-class APs as CSV here")
    parser.add_argument(
        "--export-official",
        metavar="DIR",
        help="also write the official tool's input (HICO-DET detections_XX.mat / V-COCO pickle)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first (one that registers your dataset); repeatable",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help=f"score a file covering fewer than {100 * MIN_COVERAGE:.0f}%% of the dataset's images "
        "(with a warning) instead of refusing it",
    )
    parser.add_argument(
        "--zero-shot",
        metavar="SETTING|FILE.json",
        help="also report unseen / seen mAP for this zero-shot setting (rf_uc, nf_uc, uo, uv, "
        "synthetic_uc, synthetic_uv) or a JSON file of unseen HOI ids",
    )
    adhoc = parser.add_argument_group("register an ad-hoc dataset under --dataset")
    adhoc.add_argument("--json-file", help="annotation file (UPT-style; HICO-DET or V-COCO)")
    adhoc.add_argument("--image-root", default="", help="image folder (not read)")
    adhoc.add_argument("--format", choices=["hico_det", "vcoco"], help="annotation format")
    adhoc.add_argument(
        "--train-json-file",
        help="HICO-DET: the training annotations, for the rare / non-rare split (default: the "
        "file's own 'rare' list, if any)",
    )
    return parser


def classes_from_annotation_file(json_file: str):
    """``(verbs, hoi_classes)`` of a UPT-style HICO-DET file (its ``verbs`` and its
    ``correspondence`` mapped to COCO-80 object ids), or None for a file without them (PPDM
    style: HICO-DET's own classes)."""
    data = read_json(json_file)
    if not (isinstance(data, dict) and {"verbs", "correspondence", "objects"} <= set(data)):
        return None
    verbs, rows = data["verbs"], data["correspondence"]
    if not (isinstance(verbs, list) and all(isinstance(v, str) for v in verbs)):
        raise ValueError(f"{json_file}: 'verbs' must be a list of names")
    if not isinstance(rows, list):
        raise ValueError(f"{json_file}: 'correspondence' must be a list of [hoi, object, verb]")
    object_map, _ = object_order_to_coco80(data["objects"], source=json_file)
    hoi_classes = [None] * len(rows)
    for i, row in enumerate(rows):
        where = f"{json_file}: correspondence row {i}"
        if not (isinstance(row, (list, tuple)) and len(row) == 3):
            raise ValueError(f"{where}: expected [hoi, object, verb], got {row!r}")
        hoi = check_id(row[0], len(rows), "hoi", where)
        obj = object_map[check_id(row[1], len(object_map), "object", where)]
        hoi_classes[hoi] = (obj, check_id(row[2], len(verbs), "verb", where))
    if any(h is None for h in hoi_classes):
        raise ValueError(f"{json_file}: 'correspondence' does not list every HOI id once")
    return verbs, hoi_classes


def register_adhoc(args) -> None:
    if args.format is None:
        raise ValueError("--json-file needs --format hico_det or --format vcoco")
    if args.dataset in DatasetCatalog.list():
        raise ValueError(f"dataset {args.dataset!r} is already registered; pick another name")
    if args.format == "hico_det":
        classes = classes_from_annotation_file(args.json_file)
        kwargs = {}
        if classes is not None:
            kwargs = dict(verb_classes=classes[0], hoi_classes=classes[1])
        register_hico_det(
            args.dataset, args.json_file, args.image_root, args.train_json_file, **kwargs
        )
    else:
        register_vcoco(args.dataset, args.json_file, args.image_root)


def check_coverage(records, dataset_dicts, args) -> str:
    """A line saying how many dataset images have no entry; ``ValueError`` below
    ``MIN_COVERAGE`` unless ``--allow-partial`` (then a loud warning on stderr)."""
    total, covered = len(dataset_dicts), len(records)
    line = (
        f"{covered} of {total} dataset images have predictions; {total - covered} have none "
        "(they count as images without detections)"
    )
    if total and covered < MIN_COVERAGE * total:
        problem = (
            f"{args.predictions} covers only {covered} of the {total} images of {args.dataset} "
            f"({covered / total:.0%} < {MIN_COVERAGE:.0%}): a wrong, partial or truncated file?"
        )
        if not args.allow_partial:
            raise ValueError(problem + " Give --allow-partial to score it anyway.")
        banner = "!" * 78
        print(
            f"{banner}\nWARNING: {problem}\nThe mAP below is NOT comparable to a full evaluation."
            f"\n{banner}",
            file=sys.stderr,
        )
    return line


def evaluate(args):
    """Returns ``(result, metrics, coverage line)``; raises ``ValueError`` / ``KeyError`` for bad
    input."""
    for module in args.imports:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"--import {module}: {e}") from e
    if args.json_file:
        register_adhoc(args)
    if args.dataset not in DatasetCatalog.list():
        raise ValueError(
            f"dataset {args.dataset!r} is not registered: --import the module that registers it, "
            "or give --json-file/--format"
        )
    dataset_dicts = DatasetCatalog.get(args.dataset)
    metadata = MetadataCatalog.get(args.dataset)
    spec = PredictionSpec.from_metadata(metadata)
    entries = load_predictions(args.predictions)
    records = entries_to_records(entries, dataset_dicts, spec, source=args.predictions)
    coverage = check_coverage(records, dataset_dicts, args)
    if args.zero_shot and metadata.evaluator_type != "hico_det":
        raise ValueError(f"--zero-shot needs a HICO-DET-style dataset, not {args.dataset!r}")
    if metadata.evaluator_type == "hico_det":
        unseen = None
        if args.zero_shot:
            unseen = read_unseen_hoi_ids(args.zero_shot, len(metadata.hoi_classes))
        result = evaluate_hico_det(dataset_dicts, metadata, records, unseen)
        if args.export_official:
            export_hico_det_matlab(records, dataset_dicts, metadata, args.export_official)
    else:
        result = evaluate_vcoco(dataset_dicts, metadata, records)
        if args.export_official:
            path = os.path.join(args.export_official, "vcoco_detections.pkl")
            export_vcoco_pickle(records, dataset_dicts, metadata, path)
    return result, result.summary(), coverage


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = get_parser().parse_args(argv)
    try:
        result, metrics, coverage = evaluate(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"evaluate_hoi.py: error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: {args.predictions}")
    print(coverage)
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
