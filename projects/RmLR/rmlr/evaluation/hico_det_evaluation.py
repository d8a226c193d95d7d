"""HICO-DET evaluation of prediction records against a registered dataset, and its
Detectron2 ``DatasetEvaluator``.

The protocol is the official one (see :mod:`.hico_det_ap`). Ground truth comes from the dataset
dicts (``DatasetCatalog.get(name)``: ``annotations`` + ``interactions``) and the metadata
(``hoi_classes``, ``rare_hoi_ids``, ``non_rare_hoi_ids``), as the project README's contracts
define them. Detections and ties keep the dataset's image order, then each image's prediction order.
"""

import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from detectron2.utils.logger import create_small_table

from .hico_det_ap import (
    HICODetAP,
    HICODetDetections,
    HICODetGroundTruth,
    hico_det_average_precision,
    to_official_boxes,
)
from .hoi_evaluator import HOIEvaluator
from .official_export import export_hico_det_matlab
from .predictions import hoi_lookup
from .records import annotation_xyxy


def hico_det_ground_truth(dataset_dicts, metadata) -> HICODetGroundTruth:
    """GT pairs (in ``interactions`` order) and Known-Object image sets from dataset dicts."""
    num_objects, num_verbs = len(metadata.thing_classes), len(metadata.verb_classes)
    lookup = hoi_lookup(metadata.hoi_classes, num_objects, num_verbs)
    image_index, hoi, boxes_h, boxes_o = [], [], [], []
    image_objects = np.zeros((len(dataset_dicts), num_objects), dtype=bool)
    for i, d in enumerate(dataset_dicts):
        anns = d.get("annotations", [])
        for s, o, v in d.get("interactions", []):
            obj = anns[o]["category_id"]
            hoi_id = lookup[obj, v]
            if hoi_id < 0:
                raise ValueError(
                    f"image_id {d['image_id']}: GT (object {obj}, verb {v}) is no HOI class"
                )
            image_index.append(i)
            hoi.append(hoi_id)
            boxes_h.append(annotation_xyxy(anns[s]))
            boxes_o.append(annotation_xyxy(anns[o]))
            image_objects[i, obj] = True
    return HICODetGroundTruth(
        image_index=np.asarray(image_index, dtype=np.int64),
        hoi=np.asarray(hoi, dtype=np.int64),
        boxes_h=to_official_boxes(np.asarray(boxes_h).reshape(-1, 4)),
        boxes_o=to_official_boxes(np.asarray(boxes_o).reshape(-1, 4)),
        hoi_objects=np.asarray([obj for obj, _ in metadata.hoi_classes], dtype=np.int64),
        image_objects=image_objects,
    )


def hico_det_detections(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts, metadata
) -> HICODetDetections:
    """Detections of validated records, in dataset order then each record's order."""
    lookup = hoi_lookup(
        metadata.hoi_classes, len(metadata.thing_classes), len(metadata.verb_classes)
    )
    parts = [
        (i, records[d["image_id"]]) for i, d in enumerate(dataset_dicts) if d["image_id"] in records
    ]
    if not parts:
        empty = np.zeros((0, 4))
        return HICODetDetections(
            np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, np.zeros(0)
        )

    def cat(key, dtype):
        return np.concatenate([np.asarray(r[key], dtype=dtype) for _, r in parts])

    hoi = lookup[cat("object_classes", np.int64), cat("verbs", np.int64)]
    if (hoi < 0).any():
        raise ValueError(
            "a prediction's (object_category, verb) is not an HOI class; validate first"
        )
    return HICODetDetections(
        image_index=np.concatenate(
            [np.full(len(r["scores"]), i, dtype=np.int64) for i, r in parts]
        ),
        hoi=hoi,
        boxes_h=to_official_boxes(cat("subject_boxes", np.float64)),
        boxes_o=to_official_boxes(cat("object_boxes", np.float64)),
        scores=cat("scores", np.float64),
    )


@dataclass(frozen=True)
class HICODetResult:
    """Per-class APs of both settings with the class names, the rare / non-rare split and, for a
    zero-shot evaluation, the unseen classes (the others are "seen")."""

    ap: HICODetAP
    class_names: List[str]
    rare_ids: Optional[np.ndarray]
    non_rare_ids: Optional[np.ndarray]
    unseen_ids: Optional[np.ndarray] = None

    @property
    def seen_ids(self) -> Optional[np.ndarray]:
        if self.unseen_ids is None:
            return None
        return np.setdiff1d(np.arange(len(self.class_names)), self.unseen_ids)

    def _means(self, ap: np.ndarray) -> Dict[str, float]:
        """Full mean and, when defined (non-empty), rare / non-rare and unseen / seen means."""
        out = {"full": 100.0 * float(np.mean(ap))}
        splits = (
            ("rare", self.rare_ids),
            ("non_rare", self.non_rare_ids),
            ("unseen", self.unseen_ids),
            ("seen", self.seen_ids),
        )
        for key, ids in splits:
            if ids is not None and len(ids):
                out[key] = 100.0 * float(np.mean(ap[ids]))
        return out

    def summary(self) -> Dict[str, Dict[str, float]]:
        """``{"default": {"full", "rare", "non_rare"}, "known_object": {...}}``, mAP in percent;
        a zero-shot evaluation adds ``"unseen"`` / ``"seen"`` to both."""
        return {
            "default": self._means(self.ap.ap_default),
            "known_object": self._means(self.ap.ap_known_object),
        }

    def flat(self) -> Dict[str, float]:
        """``{"full", "rare", "non_rare", "ko_full", "ko_rare", "ko_non_rare"}`` (percent), for
        Detectron2's ``print_csv_format``."""
        s = self.summary()
        return {**s["default"], **{f"ko_{k}": v for k, v in s["known_object"].items()}}

    def table(self) -> str:
        s = self.summary()
        rows = {
            f"{setting} {split}": v
            for setting, m in (("Default", s["default"]), ("Known-Object", s["known_object"]))
            for split, v in m.items()
        }
        return create_small_table(rows)

    def write_csv(self, path: str) -> None:
        """One row per HOI class: id, name, #GT, rare flag, (zero-shot: unseen flag,) AP and final
        recall of both settings (percent)."""
        rare = set(self.rare_ids.tolist()) if self.rare_ids is not None else set()
        unseen = None if self.unseen_ids is None else set(self.unseen_ids.tolist())
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(
                ["hoi_id", "name", "num_gt", "rare"]
                + ([] if unseen is None else ["unseen"])
                + ["ap_default", "recall_default", "ap_known_object", "recall_known_object"]
            )
            a = self.ap
            for c, name in enumerate(self.class_names):
                w.writerow(
                    [c, name, int(a.num_gt[c]), int(c in rare)]
                    + ([] if unseen is None else [int(c in unseen)])
                    + [
                        f"{100.0 * float(v[c]):.4f}"
                        for v in (
                            a.ap_default,
                            a.recall_default,
                            a.ap_known_object,
                            a.recall_known_object,
                        )
                    ]
                )


def evaluate_hico_det(
    dataset_dicts,
    metadata,
    records: Mapping[int, Mapping[str, np.ndarray]],
    unseen_hoi_ids: Optional[Sequence[int]] = None,
) -> HICODetResult:
    """Official HICO-DET Default and Known-Object APs of validated records (image_id -> record);
    with ``unseen_hoi_ids`` (a zero-shot setting, :mod:`rmlr.data.zero_shot`) also the means over
    unseen and seen classes."""
    gt = hico_det_ground_truth(dataset_dicts, metadata)
    det = hico_det_detections(records, dataset_dicts, metadata)
    names = [
        f"{metadata.verb_classes[v]} {metadata.thing_classes[o]}" for o, v in metadata.hoi_classes
    ]
    rare = getattr(metadata, "rare_hoi_ids", None)
    non_rare = getattr(metadata, "non_rare_hoi_ids", None)
    return HICODetResult(
        ap=hico_det_average_precision(gt, det),
        class_names=names,
        rare_ids=None if rare is None else np.asarray(rare, dtype=np.int64),
        non_rare_ids=None if non_rare is None else np.asarray(non_rare, dtype=np.int64),
        unseen_ids=_checked_unseen(unseen_hoi_ids, len(names)),
    )


def _checked_unseen(unseen_hoi_ids, num_classes: int) -> Optional[np.ndarray]:
    if unseen_hoi_ids is None:
        return None
    ids = np.unique(np.asarray(list(unseen_hoi_ids), dtype=np.int64))
    if len(ids) == 0 or ids[0] < 0 or ids[-1] >= num_classes:
        raise ValueError(
            f"unseen_hoi_ids must be non-empty ids in [0, {num_classes}), got {ids.tolist()[:10]}"
        )
    return ids


class HICODetEvaluator(HOIEvaluator):
    """Official HICO-DET evaluation (Default and Known-Object) of the model's ``hoi_instances``.

    ``evaluate()`` returns ``{"hico_det": {"full", "rare", "non_rare", "ko_full", "ko_rare",
    "ko_non_rare"}}`` (mAP in percent; with ``unseen_hoi_ids``, a zero-shot setting, also
    ``unseen``, ``seen``, ``ko_unseen``, ``ko_seen``) on the main process and writes to ``output_dir``:
    ``hoi_predictions.json.gz`` (the predictions file), ``hico_det_per_class_ap.csv`` / ``.png``
    and, with ``export_official=True``, ``hico_det_matlab/detections_XX.mat`` for the MATLAB toolkit.
    Constructor arguments: see :class:`~rmlr.evaluation.hoi_evaluator.HOIEvaluator`.
    """

    task = "hico_det"

    def __init__(
        self,
        dataset_name: str,
        output_dir: Optional[str] = None,
        *,
        unseen_hoi_ids: Optional[Sequence[int]] = None,
        **kwargs,
    ):
        """
        Args:
            unseen_hoi_ids: the unseen classes of a zero-shot setting (configs:
                ``L(unseen_hoi_ids_from_metadata)(dataset_name=<the zero-shot training set>)``).
            dataset_name, output_dir, kwargs: see :class:`~rmlr.evaluation.hoi_evaluator.HOIEvaluator`.
        """
        super().__init__(dataset_name, output_dir, **kwargs)
        self._unseen_hoi_ids = None if unseen_hoi_ids is None else list(unseen_hoi_ids)

    def _evaluate_records(self, dataset_dicts, metadata, records):
        return evaluate_hico_det(dataset_dicts, metadata, records, self._unseen_hoi_ids)

    def _export(self, records, dataset_dicts, metadata, output_dir):
        export_hico_det_matlab(
            records, dataset_dicts, metadata, os.path.join(output_dir, "hico_det_matlab")
        )
