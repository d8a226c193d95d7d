"""HICO-DET average precision, identical to the official MATLAB evaluation (vectorized).

Reference protocol (read, not copied): ywchao/ho-rcnn ``evaluation/eval_one.m`` and
``evaluation/VOCevaldet_bboxpair.m``, https://github.com/ywchao/ho-rcnn/tree/master/evaluation.

Shape shorthand: I images, G ground-truth (GT) pairs, D detections, C HOI classes (600),
O object categories (80), K candidate (detection, GT pair) couples.

Conventions reproduced from the official code:

* Boxes are compared as the MATLAB code sees them: 1-based inclusive pixel indices with "+1"
  widths and heights. :func:`to_official_boxes` maps the project's continuous XYXY_ABS boxes to
  that form with the arithmetic MATLAB performs on an exported ``detections_XX.mat`` file
  (export ``[x1, y1, x2 - 1, y2 - 1]``, then ``det_bb + 1`` in ``eval_one.m``), so this module and
  the MATLAB toolkit see bit-identical coordinates.
* Per HOI class, detections are ranked by descending score with a **stable** sort (MATLAB's
  ``sort(-det_conf)``): equal scores keep their input order, which is image order (the dataset's
  order) and then the order of the predictions within an image (``eval_one.m`` concatenates the
  per-image cells in image order).
* A detection takes the GT pair of its class and image with the highest ``min(IoU_h, IoU_o)``
  (the first such pair on ties, ``min_ov > ov_max``); it is a true positive when that value is
  ``>= 0.5`` and the pair is not covered yet, a false positive otherwise: a duplicate of a covered
  pair is a false positive even when another, uncovered pair overlaps it less.
* Because the chosen pair does not depend on coverage, the greedy loop is equivalent to: a
  detection is a true positive iff its best overlap is ``>= 0.5`` and it is the first such
  detection (in ranked order) that chose that pair. This is what makes full vectorization exact.
* 11-point interpolated AP, ``mean_t max(prec[rec >= t])`` over the eleven doubles MATLAB's
  ``0:0.1:1`` produces, accumulated as ``ap = ap + p / 11`` in that order. MATLAB's colon
  operator builds the vector symmetrically (``a + k*d`` up to the middle, ``b - k*d`` after it),
  so its fourth value is ``3 * 0.1 = 0.30000000000000004``, not 0.3: a class whose recall is
  exactly 3/10 does not pass t = 0.3 in MATLAB. Neither ``k / 10`` (0.3 exactly) nor
  ``numpy.arange(0, 1.1, 0.1)`` (0.6000000000000001, 0.7000000000000001) gives these values.
* Every image counts; detections on images without a GT pair of the class are false positives;
  the denominator is the number of GT pairs of the class. A class without GT pairs gets AP 0
  (MATLAB: ``rec = 0 / 0 = NaN``, no recall passes any threshold) and stays in the means.
* Known-Object: for class c, only detections on images whose GT contains c's object category
  count (the official code uses ``anno.mat`` image labels, not public; the GT pairs are the
  closest information the annotation files give).
"""

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLD = 0.5


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """The doubles of MATLAB's ``start:step:stop`` (its documented symmetric construction).

    ``n = round((stop - start) / step)`` intervals; element ``k`` is ``start + k * step`` for
    ``k < n / 2`` and ``stop - (n - k) * step`` for ``k > n / 2``; an exact middle element is
    ``(start + stop) / 2``. See MathWorks' technical note on the colon operator's floating-point
    behaviour ("Why is 0.3 not in 0:0.1:1?").
    """
    n = int(round((stop - start) / step))
    out = np.empty(n + 1, dtype=np.float64)
    for k in range(n // 2 + 1):
        out[k] = start + k * step
        out[n - k] = stop - k * step
    if n % 2 == 0:
        out[n // 2] = (start + stop) / 2
    return out


# MATLAB's 0:0.1:1 (eval_one.m): 0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, ..., 1.
RECALL_THRESHOLDS = matlab_colon(0.0, 0.1, 1.0)


def to_official_boxes(boxes) -> np.ndarray:
    """Continuous XYXY_ABS boxes ``(N, 4)`` -> 1-based inclusive float64 boxes ``(N, 4)``.

    Computed as ``(x1 + 1, y1 + 1, (x2 - 1) + 1, (y2 - 1) + 1)``: the value MATLAB obtains from the
    exported zero-based box ``(x1, y1, x2 - 1, y2 - 1)`` after ``det_bb + 1``. For integer
    coordinates (all HICO-DET GT boxes) this is exactly ``(x1 + 1, y1 + 1, x2, y2)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = boxes + 1.0
    out[:, 2:] = (boxes[:, 2:] - 1.0) + 1.0
    return out


def official_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise "+1" IoU of 1-based inclusive boxes ``a, b (K, 4)`` -> ``(K,)``.

    Same operations in the same order as ``VOCevaldet_bboxpair.m`` (0 when the intersection is
    empty), so results are bit-identical to MATLAB's doubles.
    """
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1.0
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1.0
    inter = iw * ih
    union = (
        (a[:, 2] - a[:, 0] + 1.0) * (a[:, 3] - a[:, 1] + 1.0)
        + (b[:, 2] - b[:, 0] + 1.0) * (b[:, 3] - b[:, 1] + 1.0)
        - inter
    )
    positive = (iw > 0) & (ih > 0)
    out = np.zeros(len(a), dtype=np.float64)
    np.divide(inter, union, out=out, where=positive)
    return out


@dataclass(frozen=True)
class HICODetGroundTruth:
    """GT pairs of a HICO-DET split in official (1-based inclusive) coordinates.

    Attributes:
        image_index: ``(G,)`` int64, position of the pair's image in the dataset (0..I-1).
        hoi: ``(G,)`` int64 HOI class of the pair (0..C-1).
        boxes_h, boxes_o: ``(G, 4)`` float64 subject and object boxes.
        hoi_objects: ``(C,)`` int64 object category of each HOI class.
        image_objects: ``(I, O)`` bool, object categories present in each image's GT pairs
            (the Known-Object image sets).
    """

    image_index: np.ndarray
    hoi: np.ndarray
    boxes_h: np.ndarray
    boxes_o: np.ndarray
    hoi_objects: np.ndarray
    image_objects: np.ndarray

    @property
    def num_images(self) -> int:
        return self.image_objects.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.hoi_objects)

    def num_gt_per_class(self) -> np.ndarray:
        """``(C,)`` int64 number of GT pairs of each HOI class (the AP denominators)."""
        return np.bincount(self.hoi, minlength=self.num_classes).astype(np.int64)


@dataclass(frozen=True)
class HICODetDetections:
    """Detections in their input order (ties in score keep it), official coordinates.

    Attributes:
        image_index: ``(D,)`` int64 image position in the dataset.
        hoi: ``(D,)`` int64 HOI class.
        boxes_h, boxes_o: ``(D, 4)`` float64 subject and object boxes.
        scores: ``(D,)`` float64.
    """

    image_index: np.ndarray
    hoi: np.ndarray
    boxes_h: np.ndarray
    boxes_o: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class HICODetAP:
    """Per-class results of both settings.

    Attributes:
        ap_default, ap_known_object: ``(C,)`` float64 AP in [0, 1].
        recall_default, recall_known_object: ``(C,)`` float64 final recall (``REC`` in
            ``eval_one.m``; 0 for a class without detections or without GT).
        num_gt: ``(C,)`` int64 GT pairs per class.
    """

    ap_default: np.ndarray
    ap_known_object: np.ndarray
    recall_default: np.ndarray
    recall_known_object: np.ndarray
    num_gt: np.ndarray


def _segment_ranges(sorted_keys: np.ndarray, queries: np.ndarray):
    return (
        np.searchsorted(sorted_keys, queries, side="left"),
        np.searchsorted(sorted_keys, queries, side="right"),
    )


def expand_candidates(dets: np.ndarray, start: np.ndarray, counts: np.ndarray, order: np.ndarray):
    """All (detection, GT) candidate couples of the detections ``dets``, grouped by detection:
    detection ``d`` meets the GT entries ``order[start[d] : start[d] + counts[d]]`` (its image's).
    Returns ``(cand_det, cand_gt, seg_starts, seg_counts)``: the couples' detection and GT
    indices, and where each detection's segment of couples starts and how long it is."""
    seg_counts = counts[dets]
    seg_starts = np.cumsum(seg_counts) - seg_counts
    cand_det = np.repeat(dets, seg_counts)
    within = np.arange(seg_counts.sum()) - np.repeat(seg_starts, seg_counts)
    cand_gt = order[np.repeat(start[dets], seg_counts) + within]
    return cand_det, cand_gt, seg_starts, seg_counts


def first_max_per_segment(
    key: np.ndarray, cand_det: np.ndarray, seg_starts: np.ndarray, seg_counts: np.ndarray
) -> np.ndarray:
    """Index of the first couple reaching its detection's maximum ``key``, one per detection
    segment of :func:`expand_candidates` (MATLAB updates the best only on a strict increase,
    ``np.argmax`` returns the first maximum: both keep the first)."""
    seg_max = np.maximum.reduceat(key, seg_starts)
    is_max = np.flatnonzero(key == np.repeat(seg_max, seg_counts))
    return is_max[np.r_[True, cand_det[is_max][1:] != cand_det[is_max][:-1]]]


def match_detections(gt: HICODetGroundTruth, det: HICODetDetections):
    """Best GT pair of each detection, independent of ranking and coverage.

    Returns:
        matched: ``(D,)`` int64 index into the GT arrays of the pair with the highest
            ``min(IoU_h, IoU_o)`` among the pairs of the detection's class and image (first on
            ties), ``-1`` when there is none.
        overlap: ``(D,)`` float64 that value (``-inf`` when there is no pair).
    """
    num_classes = gt.num_classes
    gt_keys = gt.image_index * num_classes + gt.hoi
    gt_order = np.argsort(gt_keys, kind="stable")  # keeps the dataset's pair order on ties
    sorted_keys = gt_keys[gt_order]
    det_keys = det.image_index * num_classes + det.hoi
    start, end = _segment_ranges(sorted_keys, det_keys)
    counts = end - start

    matched = np.full(len(det), -1, dtype=np.int64)
    overlap = np.full(len(det), -np.inf, dtype=np.float64)
    has_gt = np.flatnonzero(counts > 0)
    if len(has_gt) == 0:
        return matched, overlap
    # Expand the K candidate couples, grouped by detection, GT pairs in dataset order.
    cand_det, cand_gt, seg_starts, seg_counts = expand_candidates(has_gt, start, counts, gt_order)
    min_ov = np.minimum(
        official_iou(det.boxes_h[cand_det], gt.boxes_h[cand_gt]),
        official_iou(det.boxes_o[cand_det], gt.boxes_o[cand_gt]),
    )
    first = first_max_per_segment(min_ov, cand_det, seg_starts, seg_counts)
    matched[cand_det[first]] = cand_gt[first]
    overlap[cand_det[first]] = min_ov[first]
    return matched, overlap


def eleven_point_ap(is_tp: np.ndarray, num_gt: int):
    """Official 11-point AP of one class from its ranked true-positive flags.

    Args:
        is_tp: ``(n,)`` bool, detections in ranked order.
        num_gt: number of GT pairs of the class.

    Returns:
        ``(ap, final_recall)`` as floats.
    """
    if len(is_tp) == 0 or num_gt == 0:
        return 0.0, 0.0
    tp = np.cumsum(is_tp, dtype=np.float64)
    fp = np.cumsum(~is_tp, dtype=np.float64)
    rec = tp / num_gt
    prec = tp / (fp + tp)
    best_after = np.maximum.accumulate(prec[::-1])[::-1]  # max(prec[j:]) for each j
    first_at = np.searchsorted(rec, RECALL_THRESHOLDS, side="left")  # rec is non-decreasing
    ap = 0.0
    for j in first_at:
        ap = ap + (best_after[j] if j < len(rec) else 0.0) / 11
    return float(ap), float(rec[-1])


def _ranked_class_aps(hoi_ranked: np.ndarray, tp_ranked: np.ndarray, num_gt: np.ndarray):
    num_classes = len(num_gt)
    starts, ends = _segment_ranges(hoi_ranked, np.arange(num_classes))
    ap = np.zeros(num_classes, dtype=np.float64)
    rec = np.zeros(num_classes, dtype=np.float64)
    for c in range(num_classes):
        ap[c], rec[c] = eleven_point_ap(tp_ranked[starts[c] : ends[c]], int(num_gt[c]))
    return ap, rec


def hico_det_average_precision(gt: HICODetGroundTruth, det: HICODetDetections) -> HICODetAP:
    """Default and Known-Object AP of every HOI class.

    Detections must be in their input order (image order, then the order within an image);
    that order breaks ties in score, as in the official stable sort.
    """
    matched, overlap = match_detections(gt, det)
    # Ranking: by class, then descending score, ties by input position (a stable ordering).
    order = np.lexsort((np.arange(len(det)), -det.scores, det.hoi))
    hoi_ranked = det.hoi[order]
    candidate = overlap[order] >= IOU_THRESHOLD
    first_pos = np.unique(matched[order][candidate], return_index=True)[1]
    tp_ranked = np.zeros(len(det), dtype=bool)
    tp_ranked[np.flatnonzero(candidate)[first_pos]] = True

    num_gt = gt.num_gt_per_class()
    ap_def, rec_def = _ranked_class_aps(hoi_ranked, tp_ranked, num_gt)
    # Known-Object drops detections on images without the class's object: those have no GT pair
    # of the class, so dropping them changes no true positive; the ranking of the rest is kept.
    keep = gt.image_objects[det.image_index[order], gt.hoi_objects[hoi_ranked]]
    ap_ko, rec_ko = _ranked_class_aps(hoi_ranked[keep], tp_ranked[keep], num_gt)
    return HICODetAP(ap_def, ap_ko, rec_def, rec_ko, num_gt)
