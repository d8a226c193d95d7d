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

from .box_pairs import PairRecordBuilder, PairStats
from .image_io import read_image_size
from .metadata import COCO_THING_CLASSES, COCO_THING_DATASET_IDS, PERSON_CATEGORY_ID
from .parsing import (
    check_file_name,
    check_image_size,
    check_list,
    check_one_based_id,
    hico_box,
    image_ids_from_names,
    naming_entry,
)

__all__ = ["PPDM_KEYS", "load_ppdm", "count_ppdm_hoi_instances"]

logger = logging.getLogger(__name__)

PPDM_KEYS = ("file_name", "annotations", "hoi_annotation")


def _header_size(path: str, where: str) -> Tuple[int, int]:
    try:
        return read_image_size(path, where)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{where}: PPDM-style files have no image size and the image {path} is missing"
        ) from e


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
        names.append(check_file_name(image["file_name"], f"{json_file}: image {i}"))
    image_ids = image_ids_from_names(names)
    skipped = _OutOfRange()
    dicts = []
    for i, image in enumerate(data):
        where = f"{json_file}: image {i} ({image['file_name']})"
        with naming_entry(where):
            record = _ppdm_image(
                image, image_root, coco91, hoi_index, verb_classes, stats, skipped, where
            )
        record["image_id"] = image_ids[i]
        dicts.append(record)
    if skipped.count:
        logger.warning(
            f"{json_file}: skipped {skipped.count} hoi_annotation(s) whose subject/object index is "
            f"out of range, first {skipped.first[len(json_file) + 2 :]}"
        )
    return dicts


class _OutOfRange:
    """Count of the pairs whose subject/object index is out of range, and the first one."""

    def __init__(self):
        self.count, self.first = 0, ""

    def add(self, text: str) -> None:
        self.first = self.first or text
        self.count += 1


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ppdm_image(image, image_root, coco91, hoi_index, verb_classes, stats, skipped, where) -> Dict:
    """The dataset dict (without ``image_id``) of one PPDM-style image."""
    file_name = os.path.join(image_root, image["file_name"])
    if "width" in image and "height" in image:
        width, height = check_image_size([image["width"], image["height"]], where)
    else:
        width, height = _header_size(file_name, where)
    entities = []
    for j, ann in enumerate(check_list(image["annotations"], "'annotations'", where)):
        entry = f"{where}, annotation {j}"
        if not isinstance(ann, dict) or "bbox" not in ann or "category_id" not in ann:
            raise ValueError(f"{entry}: expected a dict with keys ['bbox', 'category_id']")
        category = ann["category_id"]
        if not _index(category) or category not in coco91:
            raise ValueError(f"{entry}: category_id {category!r:.40} is no COCO category")
        entities.append((hico_box(ann["bbox"], "bbox", entry), coco91[category]))
    builder = PairRecordBuilder(width=width, height=height, stats=stats, where=where)
    for k, hoi in enumerate(check_list(image["hoi_annotation"], "'hoi_annotation'", where)):
        pair = f"{where}, hoi_annotation {k}"
        if not isinstance(hoi, dict) or any(
            key not in hoi for key in ("subject_id", "object_id", "category_id")
        ):
            raise ValueError(f"{pair}: expected keys ['subject_id', 'object_id', 'category_id']")
        s, o = hoi["subject_id"], hoi["object_id"]
        if not (_index(s) and _index(o)):
            raise ValueError(
                f"{pair}: subject_id / object_id must be integers, got {s!r:.20}, {o!r:.20}"
            )
        if not all(0 <= x < len(entities) for x in (s, o)):
            skipped.add(f"{pair}: ({s!r:.20}, {o!r:.20}) of {len(entities)} annotations")
            continue
        verb = check_one_based_id(hoi["category_id"], len(verb_classes), "verb category_id", pair)
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
            and check_one_based_id(hoi["hoi_category_id"], len(hoi_index), "hoi_category_id", pair)
            != hoi_id
        ):
            raise ValueError(
                f"{pair}: hoi_category_id {hoi['hoi_category_id']} disagrees with (object "
                f"{obj}, verb {verb}), which is HOI {hoi_id + 1} (1-based)"
            )
        builder.add_pair(box_h, box_o, obj, verb, pair_name=f"hoi_annotation {k}")
    return {
        "file_name": file_name,
        "height": height,
        "width": width,
        "annotations": builder.annotations,
        "interactions": builder.interactions,
    }


def count_ppdm_hoi_instances(data: List[Dict], hoi_classes: Sequence[Tuple[int, int]]) -> Counter:
    """GT pairs per HOI class of a PPDM-style file (unusable entries are not counted)."""
    coco91 = {cid: i for i, cid in enumerate(COCO_THING_DATASET_IDS)}
    hoi_index = {tuple(h): i for i, h in enumerate(hoi_classes)}
    counts: Counter = Counter()
    for image in data:
        if not isinstance(image, dict):
            continue
        annotations = image.get("annotations", [])
        categories = [
            (
                coco91.get(a.get("category_id"))
                if isinstance(a, dict) and _index(a.get("category_id"))
                else None
            )
            for a in (annotations if isinstance(annotations, list) else [])
        ]
        pairs = image.get("hoi_annotation", [])
        for hoi in pairs if isinstance(pairs, list) else []:
            if not isinstance(hoi, dict):
                continue
            o, verb = hoi.get("object_id"), hoi.get("category_id")
            if _index(o) and 0 <= o < len(categories) and _index(verb):
                hoi_id = hoi_index.get((categories[o], verb - 1))
                if hoi_id is not None:
                    counts[hoi_id] += 1
    return counts
