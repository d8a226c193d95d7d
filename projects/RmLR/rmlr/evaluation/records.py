"""Compact per-image prediction records shared by the evaluators, the predictions file and the CLI.

A record holds one image's HOI predictions as NumPy arrays in original-image continuous
XYXY_ABS coordinates (see "Contracts between the parts" in the project README). Shape shorthand:
N predictions of the image.

* ``subject_boxes``: ``(N, 4)`` float (float32 from a model, float64 from a file).
* ``object_boxes``: ``(N, 4)`` float, a NaN row for "no object" (V-COCO only).
* ``object_classes``: ``(N,)`` int64 index into ``thing_classes``, -1 for "no object".
* ``verbs``: ``(N,)`` int64 index into ``verb_classes``.
* ``scores``: ``(N,)`` float.

The order of a record's rows is kept everywhere: it breaks ties in score (see
:mod:`.hico_det_ap`).
"""

import logging
from typing import Dict, Iterable, List, Mapping, Optional

import numpy as np
from detectron2.structures import BoxMode
from detectron2.utils import comm

RECORD_KEYS = ("subject_boxes", "object_boxes", "object_classes", "verbs", "scores")

logger = logging.getLogger(__name__)


def annotation_xyxy(annotation: Mapping) -> List[float]:
    """The XYXY_ABS box of a dataset-dict annotation (converted when ``bbox_mode`` differs)."""
    mode = annotation.get("bbox_mode", BoxMode.XYXY_ABS)
    return list(BoxMode.convert(list(annotation["bbox"]), mode, BoxMode.XYXY_ABS))


def make_record(
    subject_boxes, object_boxes, object_classes, verbs, scores
) -> Dict[str, np.ndarray]:
    """Build a record from array-likes (copies nothing that is already a NumPy array)."""
    subject_boxes = np.asarray(subject_boxes)
    object_boxes = np.asarray(object_boxes)
    return {
        "subject_boxes": subject_boxes.reshape(-1, 4) if subject_boxes.size == 0 else subject_boxes,
        "object_boxes": object_boxes.reshape(-1, 4) if object_boxes.size == 0 else object_boxes,
        "object_classes": np.asarray(object_classes, dtype=np.int64).reshape(-1),
        "verbs": np.asarray(verbs, dtype=np.int64).reshape(-1),
        "scores": np.asarray(scores).reshape(-1),
    }


def record_from_instances(instances) -> Dict[str, np.ndarray]:
    """Record of the model's ``hoi_instances`` (an ``Instances`` in original image coordinates).

    Fields used: ``pred_subject_boxes``, ``pred_object_boxes`` (``Boxes``),
    ``pred_object_classes``, ``pred_verb_classes`` (int64), ``scores`` (float).
    """

    def numpy(x):
        return x.detach().to("cpu").numpy()

    return make_record(
        numpy(instances.pred_subject_boxes.tensor),
        numpy(instances.pred_object_boxes.tensor),
        numpy(instances.pred_object_classes),
        numpy(instances.pred_verb_classes),
        numpy(instances.scores),
    )


def num_predictions(record: Mapping[str, np.ndarray]) -> int:
    return len(record["scores"])


def check_record_shapes(record: Mapping[str, np.ndarray], where: str) -> None:
    """Raise ``ValueError`` naming ``where`` unless the record's arrays are consistent."""
    n = num_predictions(record)
    for key in RECORD_KEYS:
        if key not in record:
            raise ValueError(f"{where}: missing field {key!r}")
        expected = (n, 4) if key.endswith("boxes") else (n,)
        if tuple(np.shape(record[key])) != expected:
            raise ValueError(
                f"{where}: {key} has shape {tuple(np.shape(record[key]))}, expected {expected}"
            )


def gather_records(
    records: Dict[int, Dict[str, np.ndarray]], image_ids: Iterable[int], distributed: bool = True
) -> Optional[Dict[int, Dict[str, np.ndarray]]]:
    """Gather per-rank records on the main process, keyed by image id, in dataset order.

    The result does not depend on how images were split across ranks: it is ordered by the
    dataset's image order (``image_ids``), never by rank. Returns ``None`` on non-main ranks.

    Raises:
        ValueError: an image was processed twice or is not part of the dataset.
    """
    if distributed and comm.get_world_size() > 1:
        comm.synchronize()
        parts: List[Dict[int, Dict[str, np.ndarray]]] = comm.gather(records, dst=0)
        if not comm.is_main_process():
            return None
    else:
        parts = [records]
    merged: Dict[int, Dict[str, np.ndarray]] = {}
    for part in parts:
        for image_id, record in part.items():
            if image_id in merged:
                raise ValueError(f"image_id {image_id} was processed more than once")
            merged[image_id] = record
    order = list(image_ids)
    known = set(order)
    unknown = [i for i in merged if i not in known]
    if unknown:
        raise ValueError(f"predictions for image ids not in the dataset, e.g. {unknown[:5]}")
    missing = len(known) - len(merged)
    if missing:
        logger.warning(
            f"{missing} of {len(known)} dataset images have no prediction record; "
            "they count as images without detections (their GT still counts)."
        )
    return {i: merged[i] for i in order if i in merged}
