"""HICO-DET annotation files -> Detectron2 dataset dicts and metadata.

The dicts and metadata follow ``projects/RmLR/README.md`` ("Dataset dicts", "Metadata").

Two public formats are read (detected from the file's content, not its name):

* **UPT-style** (``instances_{train,test}2015.json``, fredzzhang/hicodet): a dict with
  ``filenames``, ``size`` (``[width, height]``), ``annotation`` (per image ``boxes_h``, ``boxes_o``,
  ``hoi``, ``object``, ``verb``, one element per GT pair and HOI), ``objects`` (80 names),
  ``verbs`` (117), ``correspondence`` (600 ``[hoi, object, verb]`` rows), optional ``rare`` /
  ``non_rare`` / ``empty``. The object order is COCO-80 (``person`` = 0) or HICO's alphabetical
  order (``person`` = 49): detected from ``objects`` and mapped to COCO-80; any other order is an
  error. Optional per image: ``keypoints_h``, one entry per pair like ``boxes_h``: the human's
  keypoints as a flat ``[X, Y, v] * K`` (the same ``K`` in the whole file; pixel indices 1-based
  like the boxes; ``v`` 0 absent, 1 occluded, 2 visible), returned as the human annotation's
  ``keypoints`` in Detectron2's convention ``[X - 0.5, Y - 0.5, v]`` (the synthetic dataset writes
  them; real HICO-DET files have none and load as before).
* **PPDM/CDN-style** (``trainval_hico.json`` / ``test_hico.json`` with ``corre_hico.npy``, used by
  QPIC, CDN, GEN-VLKT, HOICLIP): a list of images with ``file_name``, ``annotations``
  (``bbox``, ``category_id`` = COCO-91 category id) and ``hoi_annotation`` (``subject_id``,
  ``object_id`` = indices into ``annotations``, ``category_id`` = verb 1-117, optional
  ``hoi_category_id`` = HOI 1-600). These files carry no image size: the loader reads it from the
  image header (so this format needs the images; ``datasets/convert_hico_det.py`` writes a
  UPT-style file once). A ``corre_hico.npy`` next to the file is compared with the HOI table
  (:mod:`rmlr.data.hico_det_ppdm`).

Box convention: both formats store HICO's 1-based inclusive pixel indices ``[X1, Y1, X2, Y2]``;
the loader returns continuous ``XYXY_ABS`` ``[X1 - 1, Y1 - 1, X2, Y2]`` (the HICO-DET evaluator maps
back with ``(x1 + 1, y1 + 1, x2, y2)``).

``image_id`` is the number in the file name (``HICO_test2015_00000042.jpg`` -> 42), the same in
both formats; when some name has no number or two names share one, it is the image's index in the
file.

Bad input: an unreadable file, a JSON in neither format, missing keys, lists of different
lengths, an unknown object order, a verb list or HOI table that differs from the metadata, an
object / verb / HOI id out of range, a pair whose (object, verb) is not a HOI class (or whose
``hoi`` disagrees with it), and an empty dataset raise ``ValueError`` naming the file and the entry.
Boxes are handled as in :mod:`rmlr.data.box_pairs` (clip, or skip the pair; counted and logged).
PPDM-style pairs whose subject/object index is out of range are skipped and counted (the public
``trainval_hico.json`` has some; QPIC/CDN drop them as well).

``filter_empty=True`` (the training registrations) drops images without any interaction and logs
the count; otherwise every image is kept (the official evaluation counts detections on images
without GT pairs as false positives).
"""

import functools
import logging
import os
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from detectron2.data import DatasetCatalog

from .box_pairs import PairRecordBuilder, PairStats
from .hico_det_ppdm import PPDM_KEYS, count_ppdm_hoi_instances, load_ppdm
from .metadata import (
    COCO_THING_CLASSES,
    HICO_HOI_CLASSES,
    HICO_VERBS,
    PERSON_CATEGORY_ID,
    HOIMetadata,
    normalize_class_name,
    object_order_to_coco80,
    rare_split,
    register_metadata,
    valid_verbs_per_object,
)
from .parsing import (
    check_file_name,
    check_id,
    check_image_size,
    check_list,
    finish_dicts,
    hico_box,
    hico_keypoints,
    image_ids_from_names,
    naming_entry,
    read_json,
)

__all__ = [
    "load_hico_det_json",
    "count_hoi_instances",
    "hico_det_rare_split",
    "register_hico_det",
]

logger = logging.getLogger(__name__)

_UPT_KEYS = ("filenames", "size", "annotation", "objects", "verbs", "correspondence")
_UPT_PAIR_KEYS = ("boxes_h", "boxes_o", "hoi", "object", "verb")


def _num_keypoints(annotation, json_file: str) -> int:
    """``K`` of the file's optional ``keypoints_h`` (from its first entry; 0 when it has none)."""
    for i, ann in enumerate(annotation):
        entries = ann.get("keypoints_h") if isinstance(ann, dict) else None
        if entries and isinstance(entries, list):
            first = entries[0]
            if not isinstance(first, list) or not first or len(first) % 3:
                raise ValueError(
                    f"{json_file}: image {i}, pair 0: keypoints_h must be a flat list "
                    f"[x, y, v] * K, got {first!r}"
                )
            return len(first) // 3
    return 0


def _detect_format(data, json_file: str) -> str:
    if isinstance(data, dict) and "annotation" in data and "filenames" in data:
        missing = [k for k in _UPT_KEYS if k not in data]
        if missing:
            raise ValueError(f"{json_file}: UPT-style HICO-DET file without keys {missing}")
        return "upt"
    if (
        isinstance(data, list)
        and data
        and isinstance(data[0], dict)
        and "hoi_annotation" in data[0]
    ):
        return "ppdm"
    if isinstance(data, list) and not data:
        raise ValueError(f"{json_file}: empty dataset (the file is an empty list)")
    if isinstance(data, dict) and "classes" in data and "annotations" in data:
        hint = " (this looks like a V-COCO file: use register_vcoco)"
    elif isinstance(data, dict) and "categories" in data and "images" in data:
        hint = " (this looks like a COCO instances file)"
    else:
        hint = ""
    raise ValueError(
        f"{json_file}: not a HICO-DET annotation file{hint}. Expected a UPT-style dict with keys "
        f"{list(_UPT_KEYS)} or a PPDM/CDN-style list of images with keys {list(PPDM_KEYS)}"
    )


def _check_verbs(verbs: Sequence[str], verb_classes: Sequence[str], json_file: str) -> None:
    got = [normalize_class_name(v) for v in verbs]
    want = [normalize_class_name(v) for v in verb_classes]
    if got != want:
        first = next(
            (i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want))
        )
        raise ValueError(
            f"{json_file}: 'verbs' ({len(verbs)} names) differs from the dataset's "
            f"{len(verb_classes)} verb classes, first at index {first}"
        )


def _check_correspondence(
    rows,
    object_map: List[int],
    hoi_classes: Sequence[Tuple[int, int]],
    num_verbs: int,
    json_file: str,
) -> None:
    if not isinstance(rows, list) or len(rows) != len(hoi_classes):
        raise ValueError(
            f"{json_file}: 'correspondence' must have {len(hoi_classes)} [hoi, object, verb] rows"
        )
    for i, row in enumerate(rows):
        where = f"{json_file}: correspondence row {i}"
        if not (isinstance(row, (list, tuple)) and len(row) == 3):
            raise ValueError(f"{where}: expected [hoi, object, verb], got {row!r}")
        hoi = check_id(row[0], len(hoi_classes), "hoi", where)
        obj = object_map[check_id(row[1], len(object_map), "object", where)]
        verb = check_id(row[2], num_verbs, "verb", where)
        if tuple(hoi_classes[hoi]) != (obj, verb):
            raise ValueError(
                f"{where}: HOI {hoi} is (object {obj}, verb {verb}) in the file but "
                f"{tuple(hoi_classes[hoi])} in the dataset's HOI table"
            )


def _load_upt(data, json_file, image_root, verb_classes, hoi_classes, stats) -> List[Dict]:
    for key in _UPT_KEYS:
        check_list(data[key], f"'{key}'", json_file)
    file_names, sizes, annotation = data["filenames"], data["size"], data["annotation"]
    if not (len(file_names) == len(sizes) == len(annotation)):
        raise ValueError(
            f"{json_file}: 'filenames' ({len(file_names)}), 'size' ({len(sizes)}) and "
            f"'annotation' ({len(annotation)}) must have the same length"
        )
    object_map, order = object_order_to_coco80(data["objects"], source=json_file)
    _check_verbs(data["verbs"], verb_classes, json_file)
    _check_correspondence(
        data["correspondence"], object_map, hoi_classes, len(verb_classes), json_file
    )
    logger.info(f"{json_file}: UPT-style HICO-DET file, object order '{order}'")
    for i, file_name in enumerate(file_names):
        check_file_name(file_name, f"{json_file}: image {i}")
    image_ids = image_ids_from_names(file_names)
    classes = (object_map, len(verb_classes), [tuple(h) for h in hoi_classes])
    num_keypoints = _num_keypoints(annotation, json_file)
    dicts = []
    for i, (file_name, size, ann) in enumerate(zip(file_names, sizes, annotation)):
        where = f"{json_file}: image {i} ({file_name})"
        with naming_entry(where):
            record = _upt_image(size, ann, classes, num_keypoints, stats, where)
        record.update(file_name=os.path.join(image_root, file_name), image_id=image_ids[i])
        dicts.append(record)
    return dicts


def _upt_image(size, ann, classes, num_keypoints: int, stats: PairStats, where: str) -> Dict:
    """``height``, ``width``, ``annotations`` and ``interactions`` of one UPT-style image;
    ``classes`` = (file object index -> COCO-80 id, number of verbs, HOI table); the optional
    per-pair ``keypoints_h`` have ``num_keypoints`` points each."""
    object_map, num_verbs, hoi_lookup = classes
    width, height = check_image_size(size, where)
    if not isinstance(ann, dict) or any(k not in ann for k in _UPT_PAIR_KEYS):
        raise ValueError(f"{where}: annotation must be a dict with keys {list(_UPT_PAIR_KEYS)}")
    lengths = {k: len(check_list(ann[k], f"'{k}'", where)) for k in _UPT_PAIR_KEYS}
    if "keypoints_h" in ann:
        lengths["keypoints_h"] = len(check_list(ann["keypoints_h"], "'keypoints_h'", where))
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: pair lists of different lengths {lengths}")
    builder = PairRecordBuilder(width=width, height=height, stats=stats, where=where)
    for k in range(lengths["hoi"]):
        pair = f"{where}, pair {k}"
        obj = object_map[check_id(ann["object"][k], len(object_map), "object", pair)]
        verb = check_id(ann["verb"][k], num_verbs, "verb", pair)
        hoi = check_id(ann["hoi"][k], len(hoi_lookup), "hoi", pair)
        if hoi_lookup[hoi] != (obj, verb):
            raise ValueError(
                f"{pair}: HOI {hoi} is {hoi_lookup[hoi]} (object, verb) in the correspondence "
                f"table but the pair has object {obj}, verb {verb}"
            )
        keypoints = None
        if "keypoints_h" in ann:
            keypoints = hico_keypoints(ann["keypoints_h"][k], num_keypoints, "keypoints_h", pair)
        builder.add_pair(
            hico_box(ann["boxes_h"][k], "boxes_h", pair),
            hico_box(ann["boxes_o"][k], "boxes_o", pair),
            obj,
            verb,
            keypoints_h=keypoints,
            pair_name=f"pair {k}",
        )
    return {
        "height": height,
        "width": width,
        "annotations": builder.annotations,
        "interactions": builder.interactions,
    }


def load_hico_det_json(
    json_file: str,
    image_root: str,
    *,
    filter_empty: bool = False,
    verb_classes: Sequence[str] = HICO_VERBS,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
) -> List[Dict]:
    """Load a HICO-DET annotation file (either format) as dataset dicts.

    Args:
        json_file: UPT-style or PPDM/CDN-style annotation file.
        image_root: folder the file names are relative to (images are not opened, except for
            PPDM-style files, whose image sizes come from the image headers).
        filter_empty: drop images without interactions (training); keep all when ``False``.
        verb_classes, hoi_classes: the dataset's verbs and ``(object, verb)`` HOI table (HICO-DET's
            by default; the synthetic dataset passes its own). The file must agree with them.

    Returns:
        One dict per image as in ``projects/RmLR/README.md``.
    """
    data = read_json(json_file)
    fmt = _detect_format(data, json_file)
    stats = PairStats()
    load = _load_upt if fmt == "upt" else load_ppdm
    dicts = load(data, json_file, os.path.abspath(image_root), verb_classes, hoi_classes, stats)
    stats.log(logger, json_file)
    return finish_dicts(dicts, json_file, filter_empty)


def count_hoi_instances(
    json_file: str,
    *,
    verb_classes: Sequence[str] = HICO_VERBS,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
) -> List[int]:
    """Number of GT pairs per HOI class in an annotation file (one per pair and HOI, as the
    official ``eval_one.m`` counts training instances)."""
    data = read_json(json_file)
    counts: Counter = Counter()
    if _detect_format(data, json_file) == "upt":
        object_map, _ = object_order_to_coco80(data["objects"], source=json_file)
        _check_correspondence(
            data["correspondence"], object_map, hoi_classes, len(verb_classes), json_file
        )
        for i, ann in enumerate(check_list(data["annotation"], "'annotation'", json_file)):
            where = f"{json_file}: image {i}"
            with naming_entry(where):
                for k, hoi in enumerate(check_list(ann["hoi"], "'hoi'", where)):
                    counts[check_id(hoi, len(hoi_classes), "hoi", f"{where}, pair {k}")] += 1
    else:
        counts = count_ppdm_hoi_instances(data, hoi_classes)
    return [counts[i] for i in range(len(hoi_classes))]


def hico_det_rare_split(
    json_file: str,
    train_json_file: Optional[str] = None,
    *,
    verb_classes: Sequence[str] = HICO_VERBS,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
) -> Dict[str, List[int]]:
    """``{"rare_hoi_ids", "non_rare_hoi_ids"}``: computed from the training annotations when
    ``train_json_file`` exists (fewer than 10 instances = rare), else the ``rare`` / ``non_rare``
    lists of ``json_file`` (UPT-style test files carry them)."""
    if train_json_file and os.path.isfile(train_json_file):
        split = rare_split(
            count_hoi_instances(train_json_file, verb_classes=verb_classes, hoi_classes=hoi_classes)
        )
        source = f"training annotations {train_json_file}"
    else:
        data = read_json(json_file) if os.path.isfile(json_file) else None
        if not isinstance(data, dict) or "rare" not in data or "non_rare" not in data:
            raise AttributeError(
                f"rare / non-rare HOI classes unknown: the training annotations "
                f"({train_json_file}) are missing and {json_file} has no 'rare' / 'non_rare' lists"
            )
        ids = {}
        for key in ("rare", "non_rare"):
            values = check_list(data[key], f"'{key}'", json_file)
            ids[key] = sorted(
                check_id(v, len(hoi_classes), "HOI id", f"{json_file}: '{key}'") for v in values
            )
        split = {"rare_hoi_ids": ids["rare"], "non_rare_hoi_ids": ids["non_rare"]}
        if sorted(ids["rare"] + ids["non_rare"]) != list(range(len(hoi_classes))):
            raise ValueError(f"{json_file}: 'rare' + 'non_rare' must partition the HOI classes")
        source = f"the 'rare' list of {json_file}"
    logger.info(
        f"{len(split['rare_hoi_ids'])} rare / {len(split['non_rare_hoi_ids'])} non-rare HOI "
        f"classes from {source}"
    )
    return split


def _load_registered(json_file, image_root, filter_empty, verb_classes, hoi_classes, prepare):
    if prepare is not None:
        prepare()
    return load_hico_det_json(
        json_file,
        image_root,
        filter_empty=filter_empty,
        verb_classes=verb_classes,
        hoi_classes=hoi_classes,
    )


def _rare_provider(json_file, train_json_file, verb_classes, hoi_classes, prepare):
    if prepare is not None:
        prepare()
    return hico_det_rare_split(
        json_file, train_json_file, verb_classes=verb_classes, hoi_classes=hoi_classes
    )


def register_hico_det(
    name: str,
    json_file: str,
    image_root: str,
    train_json_file: Optional[str] = None,
    *,
    filter_empty: bool = False,
    verb_classes: Sequence[str] = HICO_VERBS,
    hoi_classes: Sequence[Tuple[int, int]] = HICO_HOI_CLASSES,
    prepare: Optional[Callable[[], None]] = None,
) -> None:
    """Register a HICO-DET-style dataset in ``DatasetCatalog`` / ``MetadataCatalog``.

    Nothing is read at registration: the dicts are loaded by ``DatasetCatalog.get(name)`` and the
    rare / non-rare split on first access to ``rare_hoi_ids`` / ``non_rare_hoi_ids``.

    Args:
        name: dataset name, e.g. ``"hico_det_test"``.
        json_file: annotation file (UPT-style or PPDM/CDN-style).
        image_root: folder of the images.
        train_json_file: training annotations, for the rare / non-rare split (used when the file
            exists; otherwise the split comes from ``json_file``'s ``rare`` list).
        filter_empty: drop images without interactions (``True`` for training sets).
        verb_classes, hoi_classes: the dataset's verbs and HOI table (default HICO-DET's).
        prepare: called before any annotation file is read (the synthetic dataset generates its
            files there).
    """
    verb_classes, hoi_classes = tuple(verb_classes), tuple(tuple(h) for h in hoi_classes)
    args = (json_file, image_root, filter_empty, verb_classes, hoi_classes, prepare)
    DatasetCatalog.register(name, functools.partial(_load_registered, *args))
    provider = functools.partial(
        _rare_provider, json_file, train_json_file, verb_classes, hoi_classes, prepare
    )
    metadata = HOIMetadata(
        name=name, lazy={"rare_hoi_ids": provider, "non_rare_hoi_ids": provider}
    ).set(
        thing_classes=list(COCO_THING_CLASSES),
        verb_classes=list(verb_classes),
        hoi_classes=list(hoi_classes),
        valid_verbs_per_object=valid_verbs_per_object(hoi_classes),
        person_category_id=PERSON_CATEGORY_ID,
        evaluator_type="hico_det",
        json_file=json_file,
        image_root=image_root,
        train_json_file=train_json_file,
    )
    register_metadata(name, metadata)
