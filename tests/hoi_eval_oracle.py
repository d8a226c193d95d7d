"""Reference ("oracle") HOI evaluation: straightforward per-detection loops that follow the
official code line by line, used by the tests to check the vectorized evaluators.

* :func:`hico_det_oracle` follows ywchao/ho-rcnn ``evaluation/eval_one.m`` (format ``'obj'``,
  modes ``'def'`` and ``'ko'``) and ``evaluation/VOCevaldet_bboxpair.m``
  (https://github.com/ywchao/ho-rcnn/tree/master/evaluation). Its inputs are what MATLAB loads:
  GT cells of 1-based boxes and the exported zero-based detection cells.
* :func:`vcoco_oracle` follows s-gupta/v-coco ``vsrl_eval.py`` (``_do_role_eval``,
  ``_do_agent_eval``, ``get_overlap``, ``voc_ap``; https://github.com/s-gupta/v-coco). Its
  detections are the exported ``vsrl_eval`` dicts.

Only two deliberate departures, both documented in the evaluators: sorts are stable (MATLAB's
``sort`` is; ``vsrl_eval.py``'s ``argsort()[::-1]`` leaves ties to the NumPy build), and an
action-role without detections gets AP 0 instead of raising. Slow by design.
"""

import numpy as np

# MATLAB's 0:0.1:1, written out from its symmetric colon construction: the first half is
# k * 0.1 (k = 0..4, so the fourth value is 0.30000000000000004), the middle (0 + 1) / 2, the
# second half 1 - k * 0.1 (0.6 .. 0.9 come out exact).
MATLAB_RECALL_STEPS = (
    [k * 0.1 for k in range(5)] + [0.5] + [1.0 - k * 0.1 for k in range(4, -1, -1)]
)


def _matlab_overlap(bb, bbgt):
    iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0]) + 1
    ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1]) + 1
    if iw > 0 and ih > 0:
        ua = (
            (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
            + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1)
            - iw * ih
        )
        return iw * ih / ua
    return 0.0


def voc_evaldet_bboxpair(det_id, det_bb, det_conf, gt_bbox, min_overlap=0.5):
    """``VOCevaldet_bboxpair.m``: returns ``(rec, prec, ap)`` (Python lists, 0-based image ids)."""
    npos = sum(len(boxes) for boxes in gt_bbox if boxes is not None)
    covered = set()  # gt(i).det(j) == true, as (i, j)
    si = sorted(range(len(det_conf)), key=lambda k: -det_conf[k])  # MATLAB sort is stable
    tp, fp = [], []
    for d in si:
        i = det_id[d]
        bb_1, bb_2 = det_bb[d][0:4], det_bb[d][4:8]
        ov_max, j_max = -np.inf, None
        for j, bbgt in enumerate(gt_bbox[i] if gt_bbox[i] is not None else []):
            min_ov = min(_matlab_overlap(bb_1, bbgt[0:4]), _matlab_overlap(bb_2, bbgt[4:8]))
            if min_ov > ov_max:
                ov_max, j_max = min_ov, j
        if ov_max >= min_overlap:
            if (i, j_max) not in covered:
                tp.append(1), fp.append(0)
                covered.add((i, j_max))
            else:
                tp.append(0), fp.append(1)
        else:
            tp.append(0), fp.append(1)
    rec, prec, ctp, cfp = [], [], 0, 0
    for t_, f_ in zip(tp, fp):
        ctp, cfp = ctp + t_, cfp + f_
        rec.append(ctp / npos if npos else float("nan"))
        prec.append(ctp / (cfp + ctp))
    ap = 0.0
    for t in MATLAB_RECALL_STEPS:
        p = [pr for r, pr in zip(rec, prec) if r >= t]
        ap = ap + (max(p) if p else 0.0) / 11
    return rec, prec, ap


def hico_det_oracle(gt_all, det_all, hoi_objects, image_objects=None):
    """``eval_one.m`` over all classes.

    Args:
        gt_all: ``gt_all[hoi][image]``: ``(n, 8)`` 1-based GT boxes or None.
        det_all: ``det_all[hoi][image]``: ``(n, 9)`` exported zero-based rows or None.
        hoi_objects: object id of each HOI (for Known-Object).
        image_objects: ``(I, O)`` bool KO image sets; None for the Default setting.

    Returns:
        ``(AP, REC)`` lists per class.
    """
    aps, recs = [], []
    for i in range(len(gt_all)):
        det_id, det_bb, det_conf = [], [], []
        for j, cell in enumerate(det_all[i]):
            if cell is not None and len(cell):
                for row in cell:
                    det_id.append(j)
                    det_bb.append([float(v) + 1 for v in row[:8]])  # det_bb = det_bb + 1
                    det_conf.append(float(row[8]))
        if image_objects is not None:
            keep = [k for k, j in enumerate(det_id) if image_objects[j][hoi_objects[i]]]
            det_id = [det_id[k] for k in keep]
            det_bb = [det_bb[k] for k in keep]
            det_conf = [det_conf[k] for k in keep]
        rec, _, ap = voc_evaldet_bboxpair(det_id, det_bb, det_conf, gt_all[i])
        aps.append(ap)
        recs.append(rec[-1] if rec and not np.isnan(rec[-1]) else 0.0)
    return aps, recs


def get_overlap(boxes, ref_box):
    """``vsrl_eval.py``'s ``get_overlap`` (float32 inputs give float32 arithmetic)."""
    ixmin = np.maximum(boxes[:, 0], ref_box[0])
    iymin = np.maximum(boxes[:, 1], ref_box[1])
    ixmax = np.minimum(boxes[:, 2], ref_box[2])
    iymax = np.minimum(boxes[:, 3], ref_box[3])
    iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
    ih = np.maximum(iymax - iymin + 1.0, 0.0)
    inters = iw * ih
    uni = (
        (ref_box[2] - ref_box[0] + 1.0) * (ref_box[3] - ref_box[1] + 1.0)
        + (boxes[:, 2] - boxes[:, 0] + 1.0) * (boxes[:, 3] - boxes[:, 1] + 1.0)
        - inters
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return inters / uni


def voc_ap(rec, prec):
    """``vsrl_eval.py``'s ``voc_ap``."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def _ap(tp, fp, sc, npos):
    if npos == 0:
        return float("nan")
    if not sc:
        return 0.0  # vsrl_eval.py raises here
    idx = sorted(range(len(sc)), key=lambda k: -sc[k])
    a_tp = np.cumsum(np.asarray(tp, np.float64)[idx])
    a_fp = np.cumsum(np.asarray(fp, np.float64)[idx])
    rec = a_tp / float(npos)
    assert np.amax(rec) <= 1
    prec = a_tp / np.maximum(a_tp + a_fp, np.finfo(np.float64).eps)
    return float(voc_ap(rec, prec))


def vcoco_oracle(vcocodb, dets, action_roles, eval_type):
    """Role AP of each action-role (``_do_role_eval``) for one scenario.

    Args:
        vcocodb: per image ``{"id", "boxes" (P, 4) float32 persons, "gt_actions" (P, T) int 0/1,
            "gt_roles" {(action, role): (P, 4) float32, -1 rows when missing}}``.
        dets: ``vsrl_eval`` detection dicts (see ``rmlr.evaluation.official_export``).
        action_roles: ``[(action, role, action_index)]`` in class order.
        eval_type: ``"scenario_1"`` or ``"scenario_2"``.
    """
    by_image = {}
    for det in dets:
        by_image.setdefault(det["image_id"], []).append(det)
    out = []
    for action, role, aid in action_roles:
        tp, fp, sc, npos = [], [], [], 0
        for entry in vcocodb:
            gt_boxes, gt_actions = entry["boxes"], entry["gt_actions"]
            npos += int(np.sum(gt_actions[:, aid] == 1))
            image_dets = by_image.get(entry["id"], [])
            agent_boxes = np.array([d["person_box"] for d in image_dets], np.float32).reshape(-1, 4)
            roles = np.array([d[f"{action}_{role}"] for d in image_dets], np.float32).reshape(-1, 5)
            valid = np.where(~np.isnan(roles[:, 4]))[0]
            scores, agent_boxes, role_boxes = roles[valid, 4], agent_boxes[valid], roles[valid, :4]
            covered = np.zeros(len(gt_boxes), dtype=bool)
            gt_roles = entry["gt_roles"][(action, role)]
            for j in sorted(range(len(scores)), key=lambda k: -scores[k]):
                sc.append(scores[j])
                if len(gt_boxes) == 0:
                    tp.append(0), fp.append(1)  # vsrl_eval.py raises here
                    continue
                overlaps = get_overlap(gt_boxes, agent_boxes[j])
                jmax, ovmax = overlaps.argmax(), overlaps.max()
                if np.all(gt_roles[jmax] == -1):
                    if eval_type == "scenario_1":
                        empty = np.all(role_boxes[j] == 0.0) or np.all(np.isnan(role_boxes[j]))
                        ov_role = 1.0 if empty else 0.0
                    else:
                        ov_role = 1.0
                else:
                    ov_role = get_overlap(gt_roles[jmax].reshape((1, 4)), role_boxes[j])[0]
                if gt_actions[jmax, aid] == 1 and ovmax >= 0.5 and ov_role >= 0.5:
                    if covered[jmax]:
                        tp.append(0), fp.append(1)
                    else:
                        tp.append(1), fp.append(0)
                        covered[jmax] = True
                else:
                    tp.append(0), fp.append(1)
        out.append(_ap(tp, fp, sc, npos))
    return out


def vcoco_agent_oracle(vcocodb, dets, actions):
    """Agent AP of each action (``_do_agent_eval``)."""
    by_image = {}
    for det in dets:
        by_image.setdefault(det["image_id"], []).append(det)
    out = []
    for aid, action in enumerate(actions):
        tp, fp, sc, npos = [], [], [], 0
        for entry in vcocodb:
            gt_boxes, gt_actions = entry["boxes"], entry["gt_actions"]
            npos += int(np.sum(gt_actions[:, aid] == 1))
            image_dets = by_image.get(entry["id"], [])
            boxes = np.array([d["person_box"] for d in image_dets], np.float32).reshape(-1, 4)
            scores = np.array([d[f"{action}_agent"] for d in image_dets], np.float32)
            valid = np.where(~np.isnan(scores))[0]
            scores, boxes = scores[valid], boxes[valid]
            covered = np.zeros(len(gt_boxes), dtype=bool)
            for j in sorted(range(len(scores)), key=lambda k: -scores[k]):
                sc.append(scores[j])
                if len(gt_boxes) == 0:
                    tp.append(0), fp.append(1)
                    continue
                overlaps = get_overlap(gt_boxes, boxes[j])
                jmax, ovmax = overlaps.argmax(), overlaps.max()
                if gt_actions[jmax, aid] == 1 and ovmax >= 0.5:
                    if covered[jmax]:
                        tp.append(0), fp.append(1)
                    else:
                        tp.append(1), fp.append(0)
                        covered[jmax] = True
                else:
                    tp.append(0), fp.append(1)
        out.append(_ap(tp, fp, sc, npos))
    return out
