"""Stage-1 data: an HOI dataset's entity boxes as a Detectron2 detection dataset.

Input: HOI dataset dicts (``projects/RmLR/README.md``, "Dataset dicts"). Output: per image
``{"file_name", "height", "width", "image_id", "annotations": [{"bbox", "bbox_mode",
"category_id"}]}`` (boxes ``XYXY_ABS``, COCO-80 contiguous ids), the interactions dropped.

UPT fine-tunes DETR on every human and object box of an image after a per-class NMS at IoU 0.7
(HICO-DET lists the same person or object once per interaction, with slightly different boxes).
The NMS runs with equal scores, so the earlier annotation wins; UPT's equal scores leave the
order to the NMS implementation, here it is the annotation order (deterministic).
Idea from https://github.com/fredzzhang/hicodet/blob/main/detections/main_detr.py (HICODetObject)

:func:`register_entity_dataset` registers ``<hoi_name>_entities`` lazily (the HOI dataset is read
when the entity dataset is) and returns its name, so a LazyConfig can write
``names=L(register_entity_dataset)(hoi_name="hico_det_train")``. Its metadata has no
``json_file``: Detectron2's ``COCOEvaluator`` then converts the dicts to a COCO json itself
(under its ``output_dir``) and reports box AP.
"""

import functools
import logging
from typing import Dict, List, Sequence

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from detectron2.structures import BoxMode
from torchvision.ops import batched_nms

__all__ = ["ENTITY_SUFFIX", "hoi_to_detection_dicts", "register_entity_dataset"]

logger = logging.getLogger(__name__)

ENTITY_SUFFIX = "_entities"
_COCO_80_NAMES = [c["name"] for c in COCO_CATEGORIES if c["isthing"]]


def _deduplicate(annotations: Sequence[Dict], nms_thresh: float) -> List[Dict]:
    if not annotations:
        return []
    boxes = torch.tensor(
        [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations],
        dtype=torch.float64,
    ).view(-1, 4)
    labels = torch.tensor([int(a["category_id"]) for a in annotations])
    # Decreasing scores make the NMS keep the earlier of two overlapping boxes.
    scores = torch.arange(len(annotations), 0, -1, dtype=torch.float64)
    keep = batched_nms(boxes, scores, labels, nms_thresh).sort().values
    return [
        {
            "bbox": boxes[i].tolist(),
            "bbox_mode": BoxMode.XYXY_ABS,
            "category_id": int(labels[i]),
        }
        for i in keep.tolist()
    ]


def hoi_to_detection_dicts(dataset_dicts: Sequence[Dict], *, nms_thresh: float = 0.7) -> List[Dict]:
    """HOI dataset dicts -> detection dicts of their entities, de-duplicated per class by NMS.

    Args:
        dataset_dicts: HOI dataset dicts (the README contract).
        nms_thresh: IoU above which the later of two same-class boxes is dropped (UPT: 0.7).

    Returns:
        One detection dict per image, in the same order; images keep their fields
        ``file_name``, ``height``, ``width``, ``image_id``.
    """
    out = []
    for d in dataset_dicts:
        record = {k: d[k] for k in ("file_name", "height", "width", "image_id") if k in d}
        record["annotations"] = _deduplicate(d.get("annotations", []), nms_thresh)
        out.append(record)
    return out


def _load_entities(hoi_name: str, nms_thresh: float) -> List[Dict]:
    dicts = hoi_to_detection_dicts(DatasetCatalog.get(hoi_name), nms_thresh=nms_thresh)
    num_boxes = sum(len(d["annotations"]) for d in dicts)
    logger.info(f"{hoi_name}{ENTITY_SUFFIX}: {len(dicts)} images, {num_boxes} entity boxes")
    return dicts


def register_entity_dataset(hoi_name: str, *, nms_thresh: float = 0.7) -> str:
    """Register ``<hoi_name>_entities`` (idempotent) and return that name.

    The HOI dataset need not be registered yet; it is read when the entity dataset is loaded.
    Metadata: ``thing_classes`` (the HOI dataset's when registered, else COCO-80),
    ``evaluator_type="coco"``, ``hoi_dataset``, ``entity_nms_thresh`` and ``image_root`` when the
    HOI dataset has one. No ``json_file`` (see the module docstring).
    """
    name = hoi_name + ENTITY_SUFFIX
    if name in DatasetCatalog.list():
        meta = MetadataCatalog.get(name)
        if meta.get("hoi_dataset") != hoi_name or meta.get("entity_nms_thresh") != nms_thresh:
            raise ValueError(
                f"'{name}' is already registered with hoi_dataset={meta.get('hoi_dataset')!r}, "
                f"entity_nms_thresh={meta.get('entity_nms_thresh')!r}"
            )
        return name

    DatasetCatalog.register(name, functools.partial(_load_entities, hoi_name, nms_thresh))
    extra = {}
    if hoi_name in MetadataCatalog.list():
        hoi_meta = MetadataCatalog.get(hoi_name)
        extra = {k: hoi_meta.get(k) for k in ("image_root",) if hoi_meta.get(k) is not None}
        thing_classes = list(hoi_meta.get("thing_classes", _COCO_80_NAMES))
    else:
        thing_classes = list(_COCO_80_NAMES)
    MetadataCatalog.get(name).set(
        thing_classes=thing_classes,
        evaluator_type="coco",
        hoi_dataset=hoi_name,
        entity_nms_thresh=nms_thresh,
        **extra,
    )
    return name
