"""V-COCO annotation files (UPT style) -> Detectron2 dataset dicts and metadata.

The dicts and metadata follow ``projects/RmLR/README.md`` ("Dataset dicts", "Metadata").

File format (``instances_vcoco_{train,val,trainval,test}.json``, fredzzhang/vcoco, or written by
``datasets/prepare_vcoco.py``): a dict with

* ``annotations``: per image ``boxes_h``, ``boxes_o`` (COCO ``[x, y, x + w, y + h]``, continuous,
  used as they are), ``actions`` (0-23, indices into ``classes``), ``objects`` (1-80, COCO-80
  contiguous id + 1; 0 is background), ``file_name``; one element per (person, action-role)
  positive whose role object is annotated;
* ``classes``: the 24 action-role names; ``objects``: ``background`` + the 80 COCO names;
  ``images``: COCO image ids (the dicts' ``image_id``).

Optional fields written by ``datasets/prepare_vcoco.py`` (absent from the fredzzhang files):

* ``size``: ``[width, height]`` per image. Without it the dicts have no ``height`` / ``width``
  (V-COCO files carry no image size and loading must not open images); the mapper fills them in
  from the decoded image (``detectron2.data.detection_utils.check_image_size``), and boxes are not
  clipped.
* per image ``agent_only_boxes_h`` / ``agent_only_actions``: positives whose role object is not
  annotated. They become ``agent_only: [[subject_index, verb_id], ...]`` in the dict (the person is
  an entity of ``annotations``), which the V-COCO evaluator needs for scenarios 1 and 2.

Bad input: an unreadable file, a JSON that is not this format, missing keys, a value of the wrong
JSON type, lists of different lengths, a ``classes`` / ``objects`` list that is not V-COCO's, an
action or object id out of range, an image id used twice, a file name that is absolute or contains
``..`` (it would escape the image root) and an empty dataset raise ``ValueError`` naming the file
and the entry; boxes are handled as in
:mod:`rmlr.data.box_pairs` (clip when the size is known, or skip the pair; counted and logged).
``filter_empty=True`` (training) drops images without interactions and logs the count.
"""

import functools
import logging
import os
from typing import Dict, List

from detectron2.data import DatasetCatalog

from .box_pairs import PairRecordBuilder, PairStats
from .metadata import (
    COCO_THING_CLASSES,
    PERSON_CATEGORY_ID,
    VCOCO_ACTION_ROLES,
    HOIMetadata,
    normalize_class_name,
    register_metadata,
    vcoco_valid_verbs_per_object,
)
from .parsing import (
    check_box,
    check_file_name,
    check_id,
    check_image_size,
    check_list,
    check_one_based_id,
    finish_dicts,
    naming_entry,
    read_json,
)

__all__ = ["load_vcoco_json", "register_vcoco"]

logger = logging.getLogger(__name__)

_KEYS = ("annotations", "classes", "objects", "images")
_PAIR_KEYS = ("boxes_h", "boxes_o", "actions", "objects", "file_name")


def _check_header(data, json_file: str) -> None:
    if not isinstance(data, dict) or "annotations" not in data or "classes" not in data:
        raise ValueError(
            f"{json_file}: not a V-COCO annotation file; expected a UPT-style dict with keys "
            f"{list(_KEYS)}"
        )
    missing = [k for k in _KEYS if k not in data]
    if missing:
        raise ValueError(f"{json_file}: V-COCO file without keys {missing}")
    for key in _KEYS + ("size",):
        if key in data:
            check_list(data[key], f"'{key}'", json_file)
    classes = [normalize_class_name(c) for c in data["classes"]]
    if classes != [normalize_class_name(c) for c in VCOCO_ACTION_ROLES]:
        raise ValueError(
            f"{json_file}: 'classes' ({len(classes)} names) is not V-COCO's 24 action-roles "
            f"{list(VCOCO_ACTION_ROLES[:3])}..."
        )
    objects = [normalize_class_name(o) for o in data["objects"]]
    if objects != ["background"] + [normalize_class_name(o) for o in COCO_THING_CLASSES]:
        raise ValueError(f"{json_file}: 'objects' must be 'background' + the 80 COCO names")
    lengths = {k: len(data[k]) for k in ("annotations", "images", "size") if k in data}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{json_file}: lists of different lengths {lengths}")


def load_vcoco_json(json_file: str, image_root: str, *, filter_empty: bool = False) -> List[Dict]:
    """Load a UPT-style V-COCO file as dataset dicts (``projects/RmLR/README.md``).

    Args:
        json_file: ``instances_vcoco_<split>.json``.
        image_root: folder of the images (``coco/train2014`` or ``coco/val2014``); not opened.
        filter_empty: drop images without interactions (training); keep all when ``False``.
    """
    data = read_json(json_file)
    _check_header(data, json_file)
    image_root = os.path.abspath(image_root)
    sizes = data.get("size")
    stats = PairStats()
    dicts, seen_ids = [], {}
    for i, (ann, image_id) in enumerate(zip(data["annotations"], data["images"])):
        if not isinstance(ann, dict) or any(k not in ann for k in _PAIR_KEYS):
            raise ValueError(
                f"{json_file}: image {i}: annotation must be a dict with keys {list(_PAIR_KEYS)}"
            )
        file_name = check_file_name(ann["file_name"], f"{json_file}: image {i}")
        where = f"{json_file}: image {i} ({file_name})"
        image_id = check_id(image_id, 2**63, "image id", where)
        if image_id in seen_ids:
            raise ValueError(
                f"{where}: image id {image_id} is also the id of image {seen_ids[image_id]}: "
                "image ids must be unique (predictions and the evaluation find images by id)"
            )
        seen_ids[image_id] = i
        with naming_entry(where):
            record = _vcoco_image(ann, sizes[i] if sizes is not None else None, stats, where)
        record.update(file_name=os.path.join(image_root, file_name), image_id=image_id)
        dicts.append(record)
    stats.log(logger, json_file)
    return finish_dicts(dicts, json_file, filter_empty)


def _vcoco_image(ann: Dict, size, stats: PairStats, where: str) -> Dict:
    """The dataset dict (without ``file_name`` / ``image_id``) of one V-COCO image."""
    num_actions = len(VCOCO_ACTION_ROLES)
    lengths = {k: len(check_list(ann[k], f"'{k}'", where)) for k in _PAIR_KEYS[:4]}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: pair lists of different lengths {lengths}")
    width, height = check_image_size(size, where) if size is not None else (None, None)
    builder = PairRecordBuilder(width=width, height=height, stats=stats, where=where)
    for k in range(lengths["actions"]):
        pair = f"{where}, pair {k}"
        action = check_id(ann["actions"][k], num_actions, "action", pair)
        # 1-based in the file (0 is background)
        obj = check_one_based_id(ann["objects"][k], len(COCO_THING_CLASSES), "object", pair)
        box_h = check_box(ann["boxes_h"][k], "boxes_h", pair)
        box_o = check_box(ann["boxes_o"][k], "boxes_o", pair)
        builder.add_pair(box_h, box_o, obj, action, pair_name=f"pair {k}")
    agent_only = _agent_only(ann, builder, num_actions, where)
    record = {"annotations": builder.annotations, "interactions": builder.interactions}
    if width is not None:
        record.update(height=height, width=width)
    if agent_only is not None:
        record["agent_only"] = agent_only
    return record


def _agent_only(ann: Dict, builder: PairRecordBuilder, num_actions: int, where: str):
    """``[[subject_index, verb_id], ...]`` from the optional agent-only fields, else ``None``."""
    if "agent_only_boxes_h" not in ann and "agent_only_actions" not in ann:
        return None
    boxes = check_list(ann.get("agent_only_boxes_h", []), "'agent_only_boxes_h'", where)
    actions = check_list(ann.get("agent_only_actions", []), "'agent_only_actions'", where)
    if len(boxes) != len(actions):
        raise ValueError(f"{where}: agent_only_boxes_h and agent_only_actions differ in length")
    result = []
    for k, (box, action) in enumerate(zip(boxes, actions)):
        entry = f"{where}, agent-only {k}"
        subject = builder.entity(check_box(box, "agent_only_boxes_h", entry), PERSON_CATEGORY_ID)
        if subject is None:
            builder.stats.skipped_pairs += 1
            builder.stats.note(f"{entry}: box {box}")
            continue
        result.append([subject, check_id(action, num_actions, "action", entry)])
    return result


def _load_registered(json_file: str, image_root: str, filter_empty: bool) -> List[Dict]:
    return load_vcoco_json(json_file, image_root, filter_empty=filter_empty)


def register_vcoco(
    name: str, json_file: str, image_root: str, *, filter_empty: bool = False
) -> None:
    """Register a V-COCO split in ``DatasetCatalog`` / ``MetadataCatalog`` (nothing is read now).

    Args:
        name: dataset name, e.g. ``"vcoco_test"``.
        json_file: UPT-style ``instances_vcoco_<split>.json``.
        image_root: folder of the images.
        filter_empty: drop images without interactions (``True`` for training sets).
    """
    DatasetCatalog.register(
        name, functools.partial(_load_registered, json_file, image_root, filter_empty)
    )
    metadata = HOIMetadata(name=name).set(
        thing_classes=list(COCO_THING_CLASSES),
        verb_classes=list(VCOCO_ACTION_ROLES),
        valid_verbs_per_object=vcoco_valid_verbs_per_object(),
        person_category_id=PERSON_CATEGORY_ID,
        evaluator_type="vcoco",
        json_file=json_file,
        image_root=image_root,
    )
    register_metadata(name, metadata)
