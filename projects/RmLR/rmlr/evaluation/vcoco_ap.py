"""V-COCO role AP (scenarios 1 and 2) and agent AP, identical to the official ``vsrl_eval.py``.

Reference protocol (read, not copied): s-gupta/v-coco ``vsrl_eval.py``,
https://github.com/s-gupta/v-coco/blob/master/vsrl_eval.py.

Shape shorthand: I images, A GT agents (annotated persons), D detections, R action-role classes
(24 in the UPT-style files: ``"hold obj"``, ``"eat instr"``, ...), T actions (their distinct
first words, 21), K candidate (detection, agent) couples.

Conventions reproduced from ``vsrl_eval.py``:

* Box arithmetic: GT boxes ``[x, y, x + max(0, w - 1), y + max(0, h - 1)]`` clipped to
  ``[0, W - 1] x [0, H - 1]`` (``_add_gt_annotations``, which also drops boxes with ``x2 <= x1``
  or ``y2 <= y1``); predictions are compared as given in the detections pickle, here the
  continuous box as ``(x1, y1, x2 - 1, y2 - 1)`` (:func:`to_vsrl_boxes`, what
  :mod:`.official_export` writes); "+1" IoU (``get_overlap``); everything in float32, as the
  official arrays are (NumPy >= 2 semantics; under NumPy 1.x ``get_overlap`` computes the
  predicted box's scalar area in float64 before rounding it, which can move an IoU by one float32
  step, i.e. only matters within 1e-7 of the 0.5 threshold).
* Role AP, per action-role: detections ranked by descending score; each is matched to the GT agent
  with the highest IoU of the **agent box alone** (the first on ties, whether covered or not). It
  is a true positive when that agent has the action, the IoU is ``>= 0.5``, the role passes and
  the agent is not yet covered for this action-role; otherwise a false positive. The role passes
  when the role-box IoU with that agent's GT role is ``>= 0.5``; when the agent's GT role is
  missing, scenario 1 requires an empty predicted role (all zeros or all NaN, a ``null`` object
  box) and scenario 2 accepts any prediction.
* The denominator of an action-role is the number of agents with the **action** (``npos[aid]``):
  an agent whose role object is not annotated still counts, with a missing role.
* All-point VOC AP (``voc_ap``: precision envelope, sum over recall changes).
* Agent AP, per action: the same matching on agent boxes only.

Choices where ``vsrl_eval.py`` is silent or fails (documented in the project README):

* Ties in score keep the input order (image order, then the order within an image);
  ``vsrl_eval.py`` uses ``argsort()[::-1]``, whose order among equal scores depends on the NumPy
  build.
* An action-role (or action) without any detection gets AP 0 (``vsrl_eval.py`` raises on
  ``np.amax`` of an empty array); one without GT gets NaN and is left out of the means.
* A detection on an image without GT agents is a false positive (``vsrl_eval.py`` raises on
  ``argmax`` of an empty array; official V-COCO images always have annotated persons).
* Persons that COCO annotates but V-COCO does not (``gt_actions == -1``, whose detections
  ``vsrl_eval.py`` skips) cannot be expressed by the project's dataset dicts: every GT agent is
  annotated.
* Rates (recall, precision) and AP sums are float64; ``vsrl_eval.py`` keeps them in float32,
  which moves an AP by less than 1e-6.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .hico_det_ap import expand_candidates, first_max_per_segment

IOU_THRESHOLD = 0.5


def to_vsrl_boxes(boxes) -> np.ndarray:
    """Continuous XYXY_ABS predictions ``(N, 4)`` -> float32 ``(x1, y1, x2 - 1, y2 - 1)``.

    Computed in float64 then rounded to float32: what ``vsrl_eval.py`` holds after reading the
    exported pickle into its float32 arrays. NaN rows (no object) stay NaN.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] -= 1.0
    return boxes.astype(np.float32)


def gt_to_vsrl_boxes(
    boxes, width: Optional[int], height: Optional[int]
) -> Tuple[np.ndarray, np.ndarray]:
    """Continuous GT boxes ``[x, y, x + w, y + h]`` ``(N, 4)`` -> vsrl_eval's float32 GT boxes.

    Returns:
        boxes: ``(N, 4)`` float32 ``[x, y, x + max(0, w - 1), y + max(0, h - 1)]`` clipped to
            ``[0, width - 1] x [0, height - 1]`` (to ``[0, inf)`` when the image size is unknown:
            the UPT-style files carry none; COCO boxes lie inside their image, so this only
            matters for boxes that overflow it).
        valid: ``(N,)`` bool, ``x2 > x1 and y2 > y1`` (``vsrl_eval.py`` drops the others).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1 = b[:, 0], b[:, 1]
    x2 = x1 + np.maximum(0.0, (b[:, 2] - b[:, 0]) - 1.0)
    y2 = y1 + np.maximum(0.0, (b[:, 3] - b[:, 1]) - 1.0)
    xmax = np.inf if width is None else width - 1.0
    ymax = np.inf if height is None else height - 1.0
    out = np.stack(
        [
            np.minimum(xmax, np.maximum(0.0, x1)),
            np.minimum(ymax, np.maximum(0.0, y1)),
            np.minimum(xmax, np.maximum(0.0, x2)),
            np.minimum(ymax, np.maximum(0.0, y2)),
        ],
        axis=1,
    )
    valid = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out.astype(np.float32), valid


def vsrl_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise "+1" IoU of float32 boxes ``a`` (GT), ``b`` (predictions) ``(K, 4)`` -> ``(K,)``
    float32, with ``get_overlap``'s operations in its order."""
    one = np.float32(1.0)
    iw = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + one, 0)
    ih = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + one, 0)
    inter = iw * ih
    union = (
        (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
        + (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
        - inter
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return (inter / union).astype(np.float32)


def parse_action_roles(names: List[str]) -> Tuple[List[str], np.ndarray]:
    """``"action role"`` class names (R) -> (T distinct actions in order, ``(R,)`` action index)."""
    actions: List[str] = []
    index = []
    for name in names:
        parts = name.split()
        if len(parts) != 2:
            raise ValueError(f"V-COCO class {name!r} is not of the form 'action role'")
        if parts[0] not in actions:
            actions.append(parts[0])
        index.append(actions.index(parts[0]))
    return actions, np.asarray(index, dtype=np.int64)


@dataclass(frozen=True)
class VCOCOGroundTruth:
    """GT agents of a V-COCO split in vsrl_eval's float32 coordinates.

    Attributes:
        image_index: ``(A,)`` int64 image position in the dataset.
        boxes: ``(A, 4)`` float32 agent boxes.
        actions: ``(A, T)`` bool, the agent performs the action.
        role_boxes: ``(A, R, 4)`` float32 GT role box of each agent and action-role, NaN rows when
            missing (not annotated, or the agent lacks the action).
        role_action: ``(R,)`` int64 action index of each action-role.
        num_images: I.
    """

    image_index: np.ndarray
    boxes: np.ndarray
    actions: np.ndarray
    role_boxes: np.ndarray
    role_action: np.ndarray
    num_images: int


@dataclass(frozen=True)
class VCOCODetections:
    """Detections in their input order (ties in score keep it), vsrl_eval coordinates.

    Attributes:
        image_index: ``(D,)`` int64. action_role: ``(D,)`` int64.
        agent_boxes: ``(D, 4)`` float32. role_boxes: ``(D, 4)`` float32, NaN rows = no object.
        scores: ``(D,)`` float32.
    """

    image_index: np.ndarray
    action_role: np.ndarray
    agent_boxes: np.ndarray
    role_boxes: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class VCOCOAP:
    """``role_ap_s1, role_ap_s2 (R,)``, ``agent_ap (T,)`` float64 in [0, 1] (NaN without GT);
    ``num_gt_role (R,)`` and ``num_gt_agent (T,)`` int64 denominators."""

    role_ap_s1: np.ndarray
    role_ap_s2: np.ndarray
    agent_ap: np.ndarray
    num_gt_role: np.ndarray
    num_gt_agent: np.ndarray


def voc_ap(is_tp: np.ndarray, num_gt: int) -> float:
    """All-point VOC AP of ranked true-positive flags (``voc_ap`` of ``vsrl_eval.py``)."""
    if num_gt == 0:
        return float("nan")
    if len(is_tp) == 0:
        return 0.0
    tp = np.cumsum(is_tp, dtype=np.float64)
    fp = np.cumsum(~is_tp, dtype=np.float64)
    rec = np.concatenate(([0.0], tp / num_gt, [1.0]))
    prec = np.concatenate(([0.0], tp / np.maximum(tp + fp, np.finfo(np.float64).eps), [0.0]))
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    change = np.flatnonzero(rec[1:] != rec[:-1])
    return float(np.sum((rec[change + 1] - rec[change]) * prec[change + 1]))


def match_agents(gt: VCOCOGroundTruth, image_index: np.ndarray, boxes: np.ndarray):
    """Best GT agent of each detection by agent-box IoU (first on ties), covered or not.

    Returns ``(matched (D,) int64, -1 without agents in the image; overlap (D,) float32)``.
    """
    order = np.argsort(gt.image_index, kind="stable")
    start = np.searchsorted(gt.image_index[order], image_index, side="left")
    counts = np.searchsorted(gt.image_index[order], image_index, side="right") - start
    matched = np.full(len(image_index), -1, dtype=np.int64)
    overlap = np.zeros(len(image_index), dtype=np.float32)
    has = np.flatnonzero(counts > 0)
    if len(has) == 0:
        return matched, overlap
    cand_det, cand_gt, seg_starts, seg_counts = expand_candidates(has, start, counts, order)
    ov = vsrl_iou(gt.boxes[cand_gt], boxes[cand_det])
    # np.argmax semantics: the first maximum; a NaN is a maximum.
    key = np.where(np.isnan(ov), np.inf, ov)
    first = first_max_per_segment(key, cand_det, seg_starts, seg_counts)
    matched[cand_det[first]] = cand_gt[first]
    overlap[cand_det[first]] = ov[first]
    return matched, overlap


def _first_per_key(order: np.ndarray, candidate: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Ranked true-positive flags: the first candidate (in ``order``) of each key."""
    cand_ranked = candidate[order]
    first = np.unique(key[order][cand_ranked], return_index=True)[1]
    tp = np.zeros(len(order), dtype=bool)
    tp[np.flatnonzero(cand_ranked)[first]] = True
    return tp


def _ranked_aps(class_ranked: np.ndarray, tp_ranked: np.ndarray, num_gt: np.ndarray):
    starts = np.searchsorted(class_ranked, np.arange(len(num_gt)), side="left")
    ends = np.searchsorted(class_ranked, np.arange(len(num_gt)), side="right")
    return np.array(
        [voc_ap(tp_ranked[s:e], int(n)) for s, e, n in zip(starts, ends, num_gt)], dtype=np.float64
    )


def _agent_detections(det: VCOCODetections, role_action: np.ndarray):
    """One agent detection per (image, action, agent box): the highest score of its entries.

    Returns ``(image_index, action, boxes, scores)`` ordered by first occurrence.
    """
    action = role_action[det.action_role]
    rows = np.concatenate(
        [det.image_index[:, None], action[:, None], det.agent_boxes.view(np.int32)], axis=1
    )
    _, first, group = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    best = np.full(len(first), -np.inf, dtype=np.float32)
    np.maximum.at(best, group, det.scores)
    keep = np.argsort(first, kind="stable")
    idx = first[keep]
    return det.image_index[idx], action[idx], det.agent_boxes[idx], best[keep]


def vcoco_average_precision(gt: VCOCOGroundTruth, det: VCOCODetections) -> VCOCOAP:
    """Role AP (scenarios 1 and 2) of every action-role and agent AP of every action."""
    num_roles, num_actions = len(gt.role_action), gt.actions.shape[1]
    num_gt_agent = gt.actions.sum(axis=0).astype(np.int64)
    num_gt_role = num_gt_agent[gt.role_action]

    # One dummy agent appended (index A, no action, no role) stands for "no agent in the image".
    actions = np.concatenate([gt.actions, np.zeros((1, num_actions), bool)])
    gt_roles = np.concatenate([gt.role_boxes, np.full((1, num_roles, 4), np.nan, np.float32)])
    matched, overlap = match_agents(gt, det.image_index, det.agent_boxes)
    found = matched >= 0
    safe = np.where(found, matched, len(gt.boxes))
    true_action = actions[safe, gt.role_action[det.action_role]]
    agent_ok = true_action & (overlap >= IOU_THRESHOLD)
    gt_role = gt_roles[safe, det.action_role]
    gt_role_missing = np.isnan(gt_role).all(axis=1)
    pred_empty = (det.role_boxes == 0).all(axis=1) | np.isnan(det.role_boxes).all(axis=1)
    role_ov = vsrl_iou(np.where(gt_role_missing[:, None], 0, gt_role), det.role_boxes)
    role_hit = ~gt_role_missing & (role_ov >= IOU_THRESHOLD)
    s1 = agent_ok & (role_hit | (gt_role_missing & pred_empty))
    s2 = agent_ok & (role_hit | gt_role_missing)

    order = np.lexsort((np.arange(len(det.scores)), -det.scores, det.action_role))
    cover_key = safe * num_roles + det.action_role
    role_ranked = det.action_role[order]
    ap_s1 = _ranked_aps(role_ranked, _first_per_key(order, s1, cover_key), num_gt_role)
    ap_s2 = _ranked_aps(role_ranked, _first_per_key(order, s2, cover_key), num_gt_role)

    a_img, a_action, a_boxes, a_scores = _agent_detections(det, gt.role_action)
    a_matched, a_overlap = match_agents(gt, a_img, a_boxes)
    a_safe = np.where(a_matched >= 0, a_matched, len(gt.boxes))
    a_ok = actions[a_safe, a_action] & (a_overlap >= IOU_THRESHOLD)
    a_order = np.lexsort((np.arange(len(a_scores)), -a_scores, a_action))
    a_tp = _first_per_key(a_order, a_ok, a_safe * num_actions + a_action)
    ap_agent = _ranked_aps(a_action[a_order], a_tp, num_gt_agent)
    return VCOCOAP(ap_s1, ap_s2, ap_agent, num_gt_role, num_gt_agent)
