"""DETR's set prediction loss: Hungarian matching, then classification and box losses.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)
    M_i: ground-truth boxes of image i

Targets are per image ``{"labels": int64 (M_i,), "boxes": (M_i, 4)}`` with boxes as normalised
``(cx, cy, w, h)`` relative to the unpadded input image, as DETR's. Defaults are DETR's: matching
costs class 1, L1 5, GIoU 2; cross entropy with the no-object class weighted 0.1; loss weights
CE 1, L1 5, GIoU 2; the same losses on every auxiliary decoder layer (suffix ``_0`` .. ``_{L-2}``);
box losses divided by the number of target boxes averaged over all ranks.
Idea from https://github.com/facebookresearch/detr/blob/main/models/detr.py (SetCriterion) and
https://github.com/facebookresearch/detr/blob/main/models/matcher.py (HungarianMatcher).
"""

from typing import Dict, List, Mapping, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.utils.events import get_event_storage
from scipy.optimize import linear_sum_assignment
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou

__all__ = ["HungarianMatcher", "SetCriterion"]


def _paired_generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """GIoU of row-aligned xyxy boxes: (M, 4), (M, 4) -> (M,). Equals the diagonal of the
    pairwise GIoU that DETR takes, without the (M, M) matrix."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.max(boxes1[:, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, 2:], boxes2[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = area1 + area2 - inter
    iou = inter / union
    enclose = torch.max(boxes1[:, 2:], boxes2[:, 2:]) - torch.min(boxes1[:, :2], boxes2[:, :2])
    area_c = enclose.clamp(min=0).prod(1)
    return iou - (area_c - union) / area_c


def _log_class_error(logits, targets, indices, query_index) -> None:
    """Put DETR's ``class_error`` (top-1 error in % of the matched queries of the last layer)
    into the event storage when training under one; it is a metric, not a loss."""
    try:
        storage = get_event_storage()
    except AssertionError:  # no EventStorage context (e.g. a plain training loop)
        return
    labels = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)])
    if labels.numel():
        pred = logits[query_index].detach().argmax(-1)
        storage.put_scalar("detr/class_error", 100.0 * (pred != labels).float().mean().item())


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to targets minimising DETR's matching cost."""

    def __init__(self, *, cost_class: float = 1.0, cost_bbox: float = 5.0, cost_giou: float = 2.0):
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("all matching costs are 0")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    @torch.no_grad()
    def forward(
        self, outputs: Mapping[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]]
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            outputs: ``pred_logits`` (N, Q, K + 1), ``pred_boxes`` (N, Q, 4) sigmoid cxcywh.
            targets: N dicts with ``labels`` (M_i,) and ``boxes`` (M_i, 4).

        Returns:
            N pairs ``(query_indices, target_indices)``, int64 (min(Q, M_i),) each.
        """
        n, q = outputs["pred_logits"].shape[:2]
        prob = outputs["pred_logits"].flatten(0, 1).softmax(-1)
        boxes = outputs["pred_boxes"].flatten(0, 1)
        tgt_ids = torch.cat([t["labels"] for t in targets])
        tgt_boxes = torch.cat([t["boxes"] for t in targets])

        cost_class = -prob[:, tgt_ids]
        cost_bbox = torch.cdist(boxes, tgt_boxes, p=1)
        cost_giou = -generalized_box_iou(
            box_convert(boxes, "cxcywh", "xyxy"), box_convert(tgt_boxes, "cxcywh", "xyxy")
        )
        cost = (
            self.cost_bbox * cost_bbox + self.cost_class * cost_class + self.cost_giou * cost_giou
        )
        # scipy runs on host memory; the indices come back to the outputs' device.
        cost = cost.view(n, q, -1).cpu()
        sizes = [len(t["boxes"]) for t in targets]
        device = outputs["pred_logits"].device
        indices = []
        for i, c in enumerate(cost.split(sizes, -1)):
            rows, cols = linear_sum_assignment(c[i].numpy())
            indices.append(
                (
                    torch.as_tensor(rows, dtype=torch.int64, device=device),
                    torch.as_tensor(cols, dtype=torch.int64, device=device),
                )
            )
        return indices


class SetCriterion(nn.Module):
    """DETR's losses, already multiplied by their weights; keys are all ``loss_*``."""

    def __init__(
        self,
        *,
        num_classes: int,
        matcher: HungarianMatcher,
        eos_coef: float = 0.1,
        loss_ce: float = 1.0,
        loss_bbox: float = 5.0,
        loss_giou: float = 2.0,
    ):
        """
        Args:
            num_classes: K; the no-object class is index K.
            matcher: the query-target assignment.
            eos_coef: cross-entropy weight of the no-object class.
            loss_ce, loss_bbox, loss_giou: weights of the three losses.
        """
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.eos_coef = eos_coef
        self.weights = {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    @staticmethod
    def _query_index(indices):
        batch = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        return batch, torch.cat([src for src, _ in indices])

    def _losses(self, outputs, targets, indices, num_boxes: float) -> Dict[str, torch.Tensor]:
        logits = outputs["pred_logits"]
        batch_idx, query_idx = self._query_index(indices)
        target_classes = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device
        )
        target_classes[batch_idx, query_idx] = torch.cat(
            [t["labels"][j] for t, (_, j) in zip(targets, indices)]
        )
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)

        src_boxes = outputs["pred_boxes"][batch_idx, query_idx]
        tgt_boxes = torch.cat([t["boxes"][j] for t, (_, j) in zip(targets, indices)])
        loss_bbox = F.l1_loss(src_boxes, tgt_boxes, reduction="none").sum() / num_boxes
        giou = _paired_generalized_box_iou(
            box_convert(src_boxes, "cxcywh", "xyxy"), box_convert(tgt_boxes, "cxcywh", "xyxy")
        )
        loss_giou = (1 - giou).sum() / num_boxes
        losses = {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}
        return {k: v * self.weights[k] for k, v in losses.items()}

    def forward(
        self, outputs: Mapping, targets: List[Dict[str, torch.Tensor]]
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            outputs: ``pred_logits`` (N, Q, K + 1), ``pred_boxes`` (N, Q, 4) and optionally
                ``aux_outputs``: a list of L - 1 dicts with the same two entries.
            targets: N dicts with ``labels`` (M_i,) and ``boxes`` (M_i, 4) normalised cxcywh.

        Returns:
            Weighted losses ``loss_ce``, ``loss_bbox``, ``loss_giou`` and ``<name>_<i>`` for
            auxiliary layer i.
        """
        device = outputs["pred_logits"].device
        num_boxes = torch.as_tensor(
            [float(sum(len(t["labels"]) for t in targets))], dtype=torch.float32, device=device
        )
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(num_boxes)
            num_boxes = num_boxes / dist.get_world_size()
        num_boxes = num_boxes.clamp(min=1).item()

        indices = self.matcher(outputs, targets)
        losses = self._losses(outputs, targets, indices, num_boxes)
        _log_class_error(outputs["pred_logits"], targets, indices, self._query_index(indices))
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses = self._losses(aux, targets, self.matcher(aux, targets), num_boxes)
            losses.update({f"{k}_{i}": v for k, v in aux_losses.items()})
        return losses
