"""PPDM/CDN-style HICO-DET files (``trainval_hico.json`` / ``test_hico.json``) -> dataset dicts.

The format (PPDM, used by QPIC, CDN, GEN-VLKT, HOICLIP): a list of images with ``file_name``,
``annotations`` (``bbox`` = HICO 1-based inclusive pixel indices, ``category_id`` = COCO-91
category id) and ``hoi_annotation`` (``subject_id`` / ``object_id`` = indices into
``annotations``, ``category_id`` = verb 1-117, optional ``hoi_category_id`` = HOI 1-600). The files
carry no image size: it is read from the image header (after EXIF orientation, as
``detection_utils.read_image`` applies it), unless an entry has ``width`` / ``height``. A
``corre_hico.npy`` (verbs x objects) next to the file is compared with the HOI table.

Used through :func:`rmlr.data.hico_det.load_hico_det_json`, which documents the bad-input policy;
pairs whose subject/object index is out of range are skipped and counted here (the public
``trainval_hico.json`` has some; QPIC/CDN drop them as well).
"""

import logging
import os
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from .box_pairs import PairRecordBuilder, PairStats
from .metadata import COCO_THING_CLASSES, COCO_THING_DATASET_IDS, PERSON_CATEGORY_ID
from .parsing import check_image_size, check_one_based_id, hico_box, image_ids_from_names

__all__ = ["PPDM_KEYS", "load_ppdm", "count_ppdm_hoi_instances"]

logger = logging.getLogger(__name__)

PPDM_KEYS = ("file_name", "annotations", "hoi_annotation")


def _header_size(path: str, where: str) -> Tuple[int, int]:
    """(width, height) from the image header, after EXIF orientation (as ``read_image`` does)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{where}: PPDM-style files have no image size and the image {path} is missing"
        ) from e
    except OSError as e:
        raise OSError(f"{where}: cannot read the image header of {path}: {e}") from e
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _check_corre_npy(json_file: str, hoi_classes: Sequence[Tuple[int, int]], num_verbs: int):
    path = os.path.join(os.path.dirname(json_file), "corre_hico.npy")
    if not os.path.isfile(path):
        return
    try:
        table = np.asarray(np.load(path), dtype=bool)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npy (verbs x objects) table: {e}") from e
    expected = np.zeros((num_verbs, len(COCO_THING_CLASSES)), dtype=bool)
    for obj, verb in hoi_classes:
        expected[verb, obj] = True
    if table.shape != expected.shape:
        raise ValueError(f"{path}: shape {table.shape}, expected (verbs, objects) {expected.shape}")
    if (table != expected).any():
        logger.warning(
            f"{path}: differs from the HOI table at {int((table != expected).sum())} (verb, object) "
            "entries; the dataset's HOI table (metadata 'hoi_classes') is used"
        )


def load_ppdm(
    data: List[Dict],
    json_file: str,
    image_root: str,
    verb_classes: Sequence[str],
    hoi_classes: Sequence[Tuple[int, int]],
    stats: PairStats,
) -> List[Dict]:
    """Dataset dicts of a parsed PPDM-style file (before ``filter_empty``), see the module."""
    coco91 = {cid: i for i, cid in enumerate(COCO_THING_DATASET_IDS)}
    hoi_index = {tuple(h): i for i, h in enumerate(hoi_classes)}
    _check_corre_npy(json_file, hoi_classes, len(verb_classes))
    logger.info(f"{json_file}: PPDM/CDN-style HICO-DET file (COCO-91 object ids)")
    names = []
    for i, image in enumerate(data):
        if not isinstance(image, dict) or any(k not in image for k in PPDM_KEYS):
            raise ValueError(f"{json_file}: image {i}: expected a dict with keys {list(PPDM_KEYS)}")
        names.append(image["file_name"])
    image_ids = image_ids_from_names(names)
    out_of_range, first_out_of_range = 0, ""
    dicts = []
    for i, image in enumerate(data):
        file_name = os.path.join(image_root, image["file_name"])
        where = f"{json_file}: image {i} ({image['file_name']})"
        if "width" in image and "height" in image:
            width, height = check_image_size([image["width"], image["height"]], where)
        else:
            width, height = _header_size(file_name, where)
        entities = []
        for j, ann in enumerate(image["annotations"]):
            entry = f"{where}, annotation {j}"
            if not isinstance(ann, dict) or "bbox" not in ann or "category_id" not in ann:
                raise ValueError(f"{entry}: expected a dict with keys ['bbox', 'category_id']")
            if ann["category_id"] not in coco91:
                raise ValueError(f"{entry}: category_id {ann['category_id']!r} is no COCO category")
            entities.append((hico_box(ann["bbox"], "bbox", entry), coco91[ann["category_id"]]))
        builder = PairRecordBuilder(width=width, height=height, stats=stats, where=where)
        for k, hoi in enumerate(image["hoi_annotation"]):
            pair = f"{where}, hoi_annotation {k}"
            if not isinstance(hoi, dict) or any(
                key not in hoi for key in ("subject_id", "object_id", "category_id")
            ):
                raise ValueError(
                    f"{pair}: expected keys ['subject_id', 'object_id', 'category_id']"
                )
            s, o = hoi["subject_id"], hoi["object_id"]
            if not all(isinstance(x, int) and 0 <= x < len(entities) for x in (s, o)):
                if not out_of_range:
                    first_out_of_range = f"{pair}: ({s}, {o}) of {len(entities)} annotations"
                out_of_range += 1
                continue
            verb = check_one_based_id(
                hoi["category_id"], len(verb_classes), "verb category_id", pair
            )
            (box_h, subject_cls), (box_o, obj) = entities[s], entities[o]
            if subject_cls != PERSON_CATEGORY_ID:
                raise ValueError(f"{pair}: subject {s} is category {subject_cls}, not a person")
            hoi_id = hoi_index.get((obj, verb))
            if hoi_id is None:
                raise ValueError(
                    f"{pair}: (object {obj} '{COCO_THING_CLASSES[obj]}', verb {verb} "
                    f"'{verb_classes[verb]}') is not in the HOI correspondence table"
                )
            if (
                "hoi_category_id" in hoi
                and check_one_based_id(
                    hoi["hoi_category_id"], len(hoi_classes), "hoi_category_id", pair
                )
                != hoi_id
            ):
                raise ValueError(
                    f"{pair}: hoi_category_id {hoi['hoi_category_id']} disagrees with (object "
                    f"{obj}, verb {verb}), which is HOI {hoi_id + 1} (1-based)"
                )
            builder.add_pair(box_h, box_o, obj, verb, pair_name=f"hoi_annotation {k}")
        dicts.append(
            {
                "file_name": file_name,
                "height": height,
                "width": width,
                "image_id": image_ids[i],
                "annotations": builder.annotations,
                "interactions": builder.interactions,
            }
        )
    if out_of_range:
        logger.warning(
            f"{json_file}: skipped {out_of_range} hoi_annotation(s) whose subject/object index is "
            f"out of range, first {first_out_of_range[len(json_file) + 2 :]}"
        )
    return dicts


def count_ppdm_hoi_instances(data: List[Dict], hoi_classes: Sequence[Tuple[int, int]]) -> Counter:
    """GT pairs per HOI class of a PPDM-style file (unusable entries are not counted)."""
    coco91 = {cid: i for i, cid in enumerate(COCO_THING_DATASET_IDS)}
    hoi_index = {tuple(h): i for i, h in enumerate(hoi_classes)}
    counts: Counter = Counter()
    for image in data:
        categories = [coco91.get(a.get("category_id")) for a in image.get("annotations", [])]
        for hoi in image.get("hoi_annotation", []):
            o, verb = hoi.get("object_id"), hoi.get("category_id")
            if isinstance(o, int) and 0 <= o < len(categories) and isinstance(verb, int):
                hoi_id = hoi_index.get((categories[o], verb - 1))
                if hoi_id is not None:
                    counts[hoi_id] += 1
    return counts
