#!/usr/bin/env python
"""Convert DETR weights to RmLR's Detectron2 ``DETRDetector`` layout.

    python tools/convert_detr_weights.py --format official detr-r50-e632da11.pth checkpoints/detr-r50-coco.pth
    python tools/convert_detr_weights.py --format upt detr-r50-hicodet.pth checkpoints/detr-r50-hicodet.pth
    python tools/convert_detr_weights.py --format hf path/to/detr-resnet-50 checkpoints/detr-r50-hf.pth

Formats: ``official`` (facebookresearch/detr, ``{"model": ...}``, 91 COCO ids + no-object),
``upt`` (UPT's fine-tuned DETR, ``{"model_state_dict": ...}``, 80 classes + no-object), ``hf``
(Hugging Face ``DetrForObjectDetection``: a ``.safetensors`` / ``.bin`` file or a folder holding
one). Every key rename is logged; an unmapped, missing or wrongly shaped key, a wrong class count
or a missing file stops the conversion with an error naming it. Inputs are read with
``weights_only=True``. The output ``{"model": state_dict}`` loads with exact key matching through
Detectron2's ``DetectionCheckpointer`` (e.g. ``train.init_checkpoint=OUTPUT``) or
``FrozenEntityDetector(checkpoint=OUTPUT)``. The logic lives in ``rmlr.modeling.entity_detection.detr_weights``.
"""

import argparse
import logging
import sys

from rmlr.modeling.entity_detection.detr_weights import (
    FORMATS,
    WeightConversionError,
    convert_checkpoint,
    save_checkpoint,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout of INPUT")
    parser.add_argument("input", metavar="INPUT", help="checkpoint file (or HF model folder)")
    parser.add_argument("output", metavar="OUTPUT", help="converted checkpoint to write (.pth)")
    parser.add_argument("--quiet", action="store_true", help="log errors only, not each rename")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        state = convert_checkpoint(args.input, args.format)
    except (WeightConversionError, FileNotFoundError) as e:
        logging.getLogger("convert_detr_weights").error(str(e))
        return 1
    save_checkpoint(state, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
