"""V-COCO evaluation of prediction records against a registered dataset, and its Detectron2
``DatasetEvaluator``.

The protocol is the official ``vsrl_eval.py`` one (see :mod:`.vcoco_ap`). Ground truth comes from
the dataset dicts as the project README's contracts define them:

* GT agents are the annotations that are the subject of an ``interactions`` triplet or of an
  ``agent_only`` pair; an agent has an action when any of its action-roles is positive.
* ``interactions`` ``[s, o, v]`` give agent ``s`` the role box of annotation ``o`` for action-role
  ``v``; ``agent_only`` ``[s, v]`` are positives whose role object is not annotated (missing role:
  scenario 1 then demands an empty predicted role, scenario 2 ignores it).
* UPT-style files have no ``agent_only``: positives whose role object is missing and actions
  annotated without any role object are absent, so the denominators (``npos``) are smaller than in
  the official annotation, and V-COCO persons without any action (or unannotated COCO persons,
  whose detections ``vsrl_eval.py`` skips) are no GT agents. Numbers on such files are close to,
  not equal to, the official ones; with ``agent_only`` from the official files they are equal.
"""

import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping

import numpy as np
from detectron2.utils.logger import create_small_table

from .hoi_evaluator import HOIEvaluator
from .official_export import export_vcoco_pickle
from .records import annotation_xyxy
from .vcoco_ap import (
    VCOCOAP,
    VCOCODetections,
    VCOCOGroundTruth,
    gt_to_vsrl_boxes,
    parse_action_roles,
    to_vsrl_boxes,
    vcoco_average_precision,
)


def vcoco_ground_truth(dataset_dicts, metadata) -> VCOCOGroundTruth:
    """GT agents, their actions and role boxes (vsrl_eval's float32 boxes) from dataset dicts.

    Agents whose box ``vsrl_eval.py`` would drop (``x2 <= x1`` or ``y2 <= y1`` after its
    conversion) are dropped with their positives; a role object with such a box (on which
    ``vsrl_eval.py`` fails an assertion) keeps it.
    """
    actions, role_action = parse_action_roles(list(metadata.verb_classes))
    num_actions, num_roles = len(actions), len(role_action)
    image_index = [np.zeros(0, np.int64)]
    boxes = [np.zeros((0, 4), np.float32)]
    agent_actions = [np.zeros((0, num_actions), bool)]
    role_boxes = [np.zeros((0, num_roles, 4), np.float32)]
    for i, d in enumerate(dataset_dicts):
        anns = d.get("annotations", [])
        interactions = d.get("interactions", [])
        agent_only = d.get("agent_only", [])
        subjects = sorted({s for s, _, _ in interactions} | {s for s, _ in agent_only})
        if not subjects:
            continue
        xyxy = np.asarray([annotation_xyxy(a) for a in anns]).reshape(-1, 4)
        vsrl, valid = gt_to_vsrl_boxes(xyxy, d.get("width"), d.get("height"))
        row = {s: k for k, s in enumerate(s for s in subjects if valid[s])}
        acts = np.zeros((len(row), num_actions), dtype=bool)
        roles = np.full((len(row), num_roles, 4), np.nan, dtype=np.float32)
        for s, o, v in interactions:
            if s not in row:
                continue
            a = row[s]
            acts[a, role_action[v]] = True
            if not np.isnan(roles[a, v]).all() and not np.array_equal(roles[a, v], vsrl[o]):
                raise ValueError(
                    f"image_id {d['image_id']}: agent {s} has two role objects for "
                    f"{metadata.verb_classes[v]!r}; V-COCO has at most one"
                )
            roles[a, v] = vsrl[o]
        for s, v in agent_only:
            if s in row:
                acts[row[s], role_action[v]] = True
        image_index.append(np.full(len(row), i, dtype=np.int64))
        boxes.append(vsrl[list(row)].reshape(-1, 4))
        agent_actions.append(acts)
        role_boxes.append(roles)
    return VCOCOGroundTruth(
        image_index=np.concatenate(image_index),
        boxes=np.concatenate(boxes),
        actions=np.concatenate(agent_actions),
        role_boxes=np.concatenate(role_boxes),
        role_action=role_action,
        num_images=len(dataset_dicts),
    )


def vcoco_detections(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts
) -> VCOCODetections:
    """Detections of validated records, in dataset order then each record's order."""
    parts = [
        (i, records[d["image_id"]]) for i, d in enumerate(dataset_dicts) if d["image_id"] in records
    ]

    def cat(key, dtype, shape):
        arrays = [np.asarray(r[key], dtype=dtype).reshape(shape) for _, r in parts]
        return np.concatenate(arrays) if arrays else np.zeros((0,) + shape[1:], dtype)

    return VCOCODetections(
        image_index=_image_index(parts),
        action_role=cat("verbs", np.int64, (-1,)),
        agent_boxes=to_vsrl_boxes(cat("subject_boxes", np.float64, (-1, 4))),
        role_boxes=to_vsrl_boxes(cat("object_boxes", np.float64, (-1, 4))),
        scores=cat("scores", np.float64, (-1,)).astype(np.float32),
    )


def _image_index(parts) -> np.ndarray:
    arrays = [np.full(len(r["scores"]), i, dtype=np.int64) for i, r in parts]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.int64)


@dataclass(frozen=True)
class VCOCOResult:
    """Per-class APs with the action-role and action names."""

    ap: VCOCOAP
    role_names: List[str]
    action_names: List[str]
    role_action: np.ndarray

    @staticmethod
    def _mean(ap: np.ndarray) -> float:
        return 100.0 * float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")

    def flat(self) -> Dict[str, float]:
        """``{"AP_role_S1", "AP_role_S2", "AP_agent"}`` in percent, for ``print_csv_format``."""
        return {
            "AP_role_S1": self._mean(self.ap.role_ap_s1),
            "AP_role_S2": self._mean(self.ap.role_ap_s2),
            "AP_agent": self._mean(self.ap.agent_ap),
        }

    def summary(self) -> Dict[str, object]:
        """:meth:`flat` plus ``per_class`` (action-role) and ``per_action_agent`` APs in percent."""
        a = self.ap
        out: Dict[str, object] = dict(self.flat())
        out["per_class"] = {
            name: {
                "AP_role_S1": 100.0 * float(a.role_ap_s1[r]),
                "AP_role_S2": 100.0 * float(a.role_ap_s2[r]),
                "num_gt": int(a.num_gt_role[r]),
            }
            for r, name in enumerate(self.role_names)
        }
        out["per_action_agent"] = {
            name: {"AP_agent": 100.0 * float(a.agent_ap[t]), "num_gt": int(a.num_gt_agent[t])}
            for t, name in enumerate(self.action_names)
        }
        return out

    def table(self) -> str:
        return create_small_table(self.flat())

    def write_csv(self, path: str) -> None:
        """One row per action-role: name, #GT, role AP S1 / S2 and the agent AP of its action
        (percent)."""
        a = self.ap
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["action_role", "num_gt", "ap_role_s1", "ap_role_s2", "ap_agent"])
            for r, name in enumerate(self.role_names):
                w.writerow(
                    [name, int(a.num_gt_role[r])]
                    + [
                        f"{100.0 * float(v):.4f}"
                        for v in (a.role_ap_s1[r], a.role_ap_s2[r], a.agent_ap[self.role_action[r]])
                    ]
                )


def evaluate_vcoco(
    dataset_dicts, metadata, records: Mapping[int, Mapping[str, np.ndarray]]
) -> VCOCOResult:
    """Official V-COCO role AP (S1, S2) and agent AP of validated records (image_id -> record)."""
    gt = vcoco_ground_truth(dataset_dicts, metadata)
    det = vcoco_detections(records, dataset_dicts)
    actions, role_action = parse_action_roles(list(metadata.verb_classes))
    ap = vcoco_average_precision(gt, det)
    return VCOCOResult(ap, list(metadata.verb_classes), actions, role_action)


class VCOCOEvaluator(HOIEvaluator):
    """Official V-COCO evaluation (role AP scenarios 1 and 2, agent AP) of ``hoi_instances``.

    ``evaluate()`` returns ``{"vcoco": {"AP_role_S1", "AP_role_S2", "AP_agent"}}`` (percent) on
    the main process and writes to ``output_dir``: ``hoi_predictions.json.gz``,
    ``vcoco_per_class_ap.csv`` / ``.png`` and, with ``export_official=True``,
    ``vcoco_detections.pkl`` for ``vsrl_eval.py``. Constructor arguments: see
    :class:`~rmlr.evaluation.hoi_evaluator.HOIEvaluator`. The model always predicts an object box,
    so under scenario 1 a positive whose GT role object is missing cannot be matched.
    """

    task = "vcoco"

    def _evaluate_records(self, dataset_dicts, metadata, records):
        return evaluate_vcoco(dataset_dicts, metadata, records)

    def _export(self, records, dataset_dicts, metadata, output_dir):
        export_vcoco_pickle(
            records, dataset_dicts, metadata, os.path.join(output_dir, "vcoco_detections.pkl")
        )
