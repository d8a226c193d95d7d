"""Oracle-pair diagnostics: how well a model reads the interaction, apart from detection and pair
ranking.

HOI detection mAP mixes three things: finding the entities, ranking the pairs (the detection
scores enter every score) and reading the verb. Here the GT entities of each test image replace
the detector's: every GT human is paired with every other GT entity (the model's own pairing,
:func:`~rmlr.modeling.pairs.build_pairs`), the model classifies these *oracle pairs* and

* **verb top-1 accuracy**: over the GT interacting pairs (a (human, object) couple with at least
  one GT verb), the fraction whose highest-scoring verb among the object's valid verbs is one of
  its GT verbs;
* **verb mAP**: per verb, the average precision of ``sigmoid(logit)`` over all oracle pairs whose
  object admits the verb (pairs without it, non-interacting pairs included, are negatives),
  averaged over the verbs with at least one positive. AP is the mean of the precisions at the
  ranks of the positives (no interpolation); ties are broken by pair order;
* **verb mAP on GT pairs**: the same over the GT interacting pairs only (the protocol of a linear
  probe on GT pairs, ``benchmarks/synthetic_cue_probe.py``: which verb, given that the pair
  interacts). ``ignore_verbs`` (e.g. ``no_interaction``) leaves verbs out of both mAPs.

Entity tokens: each GT box takes the last decoder state of the DETR query whose predicted box
overlaps it most (IoU), with the GT class and score 1, so the detection prior is 1 and only the
verb logits rank. The IRE and the global branch read the same maps as in normal inference.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    G_i: GT entities of image i      Q: DETR queries      P: oracle pairs      V: verbs
"""

from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from torchvision.ops import box_convert, box_iou

from ..modeling.entity_detection.entity_detections import EntityDetections

__all__ = [
    "oracle_detections",
    "oracle_pair_outputs",
    "oracle_pair_metrics",
    "evaluate_oracle_pairs",
    "average_precision",
]


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the precisions at the ranks of the positives (scores sorted descending, stable);
    NaN without positives."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


@torch.no_grad()
def oracle_detections(entity_detector, images, gt_boxes, gt_classes) -> EntityDetections:
    """The frozen DETR's maps with the GT entities in place of its detections.

    Args:
        entity_detector: a ``FrozenEntityDetector`` (its ``detector.detr`` is run).
        images: the ``ImageList`` of ``entity_detector.preprocess_image``.
        gt_boxes: N tensors (G_i, 4), xyxy in input-image pixels.
        gt_classes: N int64 tensors (G_i,).
    """
    out = entity_detector.detector.detr(images)
    embeddings = []
    for i, (h, w) in enumerate(images.image_sizes):
        boxes = box_convert(out["pred_boxes"][i].float(), "cxcywh", "xyxy")
        boxes = boxes * boxes.new_tensor([w, h, w, h])
        gt = gt_boxes[i].to(boxes)
        best = box_iou(gt, boxes).argmax(dim=1) if gt.shape[0] else gt.new_zeros(0).long()
        embeddings.append(out["embeddings"][i][best])
    return EntityDetections(
        boxes=[b.to(out["embeddings"].device).float() for b in gt_boxes],
        scores=[torch.ones(len(b), device=out["embeddings"].device) for b in gt_boxes],
        labels=[c.to(out["embeddings"].device).long() for c in gt_classes],
        embeddings=embeddings,
        features=out["features"],
        feature_mask=out["feature_mask"],
        memory=out["memory"],
        extra_features=out.get("extra_features", {}),
    )


@torch.no_grad()
def oracle_pair_outputs(model, batched_inputs: List[Dict]) -> Dict[str, torch.Tensor]:
    """Classify the oracle pairs of a batch of test inputs (with ``instances`` and
    ``interactions`` in input-image pixels, as the test mapper gives them).

    Returns:
        dict of ``logits`` (P, V), ``valid`` (P, V) bool (verbs valid for the object),
        ``labels`` (P, V) bool (GT verbs of the pair).
    """
    images = model.entity_detector.preprocess_image(batched_inputs)
    gt_boxes = [x["instances"].gt_boxes.tensor for x in batched_inputs]
    gt_classes = [x["instances"].gt_classes for x in batched_inputs]
    detections = oracle_detections(model.entity_detector, images, gt_boxes, gt_classes)
    pairs, _, logits, _ = model.reason(detections, images.image_sizes, batched_inputs)
    counts = torch.as_tensor([len(b) for b in gt_boxes], device=logits.device)
    offsets = counts.cumsum(0) - counts
    local_h = pairs.human_index - offsets[pairs.image_index]
    local_o = pairs.object_index - offsets[pairs.image_index]
    labels = torch.zeros_like(logits, dtype=torch.bool)
    for i, x in enumerate(batched_inputs):
        inter = torch.as_tensor(x["interactions"], dtype=torch.int64).view(-1, 3).to(logits.device)
        rows = torch.nonzero(pairs.image_index == i)[:, 0]
        for h, o, v in inter.tolist():
            hit = rows[(local_h[rows] == h) & (local_o[rows] == o)]
            labels[hit, v] = True
    valid = model.verb_mask[pairs.object_labels]
    return {"logits": logits.float(), "valid": valid, "labels": labels}


def oracle_pair_metrics(
    logits: torch.Tensor,
    valid: torch.Tensor,
    labels: torch.Tensor,
    ignore_verbs: Sequence[int] = (),
) -> Dict[str, float]:
    """Verb top-1 accuracy and verb mAP (in %) of classified oracle pairs (module docstring).

    Args:
        logits: (P, V) verb logits.
        valid: (P, V) bool, verbs valid for each pair's object.
        labels: (P, V) bool, GT verbs of each pair.
        ignore_verbs: verbs left out of the mAPs (not of the top-1 accuracy).

    Returns:
        ``verb_top1``, ``verb_map`` and ``verb_map_gt_pairs`` (%), ``num_interacting_pairs``,
        ``num_pairs``, ``num_verbs_evaluated``, ``verb_ap`` and ``verb_ap_gt_pairs`` (V entries,
        NaN for verbs without positives or ignored).
    """
    if not (logits.shape == valid.shape == labels.shape):
        raise ValueError(
            f"oracle_pair_metrics: shapes differ, logits {tuple(logits.shape)}, valid "
            f"{tuple(valid.shape)}, labels {tuple(labels.shape)}"
        )
    labels = labels & valid
    interacting = labels.any(dim=1)
    masked = logits.float().masked_fill(~valid, float("-inf"))
    top1 = masked.argmax(dim=1)
    correct = labels[torch.arange(len(top1)), top1] & interacting
    n_int = int(interacting.sum())
    scores = torch.sigmoid(logits.float()).cpu().numpy()
    valid_np, labels_np = valid.cpu().numpy(), labels.cpu().numpy()
    ignored = set(int(v) for v in ignore_verbs)

    def per_verb(rows):
        return [
            (
                float("nan")
                if v in ignored
                else average_precision(
                    scores[rows & valid_np[:, v], v], labels_np[rows & valid_np[:, v], v]
                )
            )
            for v in range(logits.shape[1])
        ]

    aps = per_verb(np.ones(len(scores), dtype=bool))
    aps_gt = per_verb(interacting.cpu().numpy())
    evaluated = [a for a in aps if not np.isnan(a)]
    evaluated_gt = [a for a in aps_gt if not np.isnan(a)]
    return {
        "verb_top1": 100.0 * float(correct.sum()) / n_int if n_int else float("nan"),
        "verb_map": 100.0 * float(np.mean(evaluated)) if evaluated else float("nan"),
        "verb_map_gt_pairs": 100.0 * float(np.mean(evaluated_gt)) if evaluated_gt else float("nan"),
        "num_interacting_pairs": n_int,
        "num_pairs": int(logits.shape[0]),
        "num_verbs_evaluated": len(evaluated),
        "verb_ap": [100.0 * a for a in aps],
        "verb_ap_gt_pairs": [100.0 * a for a in aps_gt],
    }


def evaluate_oracle_pairs(
    model,
    data_loader: Iterable[List[Dict]],
    max_batches: Optional[int] = None,
    ignore_verbs: Sequence[int] = (),
) -> Dict[str, float]:
    """:func:`oracle_pair_metrics` over a test loader (e.g. ``instantiate(cfg.dataloader.test)``);
    the model is put in eval mode and restored afterwards."""
    was_training = model.training
    model.eval()
    parts = {"logits": [], "valid": [], "labels": []}
    try:
        for k, batch in enumerate(data_loader):
            if max_batches is not None and k >= max_batches:
                break
            out = oracle_pair_outputs(model, batch)
            for key in parts:
                parts[key].append(out[key].cpu())
    finally:
        model.train(was_training)
    if not parts["logits"]:
        raise ValueError("evaluate_oracle_pairs: the data loader gave no batch")
    tensors = (torch.cat(parts[k]) for k in ("logits", "valid", "labels"))
    return oracle_pair_metrics(*tensors, ignore_verbs=ignore_verbs)
