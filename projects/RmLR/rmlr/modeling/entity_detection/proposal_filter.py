"""UPT's region-proposal filter: which DETR detections become entities of the HOI stage.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)

The steps are those of UPT's ``prepare_region_proposals`` (Zhang et al., CVPR 2022; RmLR follows
UPT for the two-stage paradigm), with UPT's values as defaults:

1. class-wise NMS (IoU 0.5) over all Q detections, which orders them by descending score;
2. detections with score >= 0.2 are "confident";
3. humans (label ``human_label``) and objects (every other label) are clamped separately: with
   fewer than ``min_per_type`` (3) confident ones, the best ``min_per_type`` post-NMS detections
   of that type are kept whatever their score; with more than ``max_per_type`` (15), the best 15;
   otherwise the confident ones;
4. kept humans come first, then kept objects, each in descending score order.

UPT sorts with an unstable ``argsort``; ties are broken here by the NMS order (stable sort), which
only matters for exactly equal scores.
Idea from https://github.com/fredzzhang/upt/blob/main/upt.py (prepare_region_proposals)
"""

import torch
from torchvision.ops import batched_nms

__all__ = ["ProposalFilter"]


class ProposalFilter:
    """Select the entities of one image from its Q detections (see the module docstring)."""

    def __init__(
        self,
        *,
        nms_thresh: float = 0.5,
        score_thresh: float = 0.2,
        min_per_type: int = 3,
        max_per_type: int = 15,
        human_label: int = 0,
    ):
        """
        Args:
            nms_thresh: IoU threshold of the class-wise NMS.
            score_thresh: detections scoring at least this are confident.
            min_per_type, max_per_type: bounds on the kept humans and, separately, objects.
            human_label: the person class (COCO-80 contiguous: 0).
        """
        if not 0 <= min_per_type <= max_per_type:
            raise ValueError(
                f"need 0 <= min_per_type <= max_per_type, got {min_per_type}, " f"{max_per_type}"
            )
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_per_type = min_per_type
        self.max_per_type = max_per_type
        self.human_label = human_label

    def _select(self, candidates: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
        """candidates: post-NMS indices of one type in descending score order; confident: bool
        mask over them. Returns the kept subset, still in descending score order."""
        n_confident = int(confident.sum())
        if n_confident < self.min_per_type:
            return candidates[: self.min_per_type]
        if n_confident > self.max_per_type:
            return candidates[: self.max_per_type]
        return candidates[confident]

    def __call__(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor):
        """
        Args:
            boxes: (Q, 4) xyxy.
            scores: (Q,) score of the label.
            labels: (Q,) int64 class ids.

        Returns:
            (R,) int64 indices into the Q detections: kept humans, then kept objects.
        """
        keep = batched_nms(boxes.float(), scores.float(), labels, self.nms_thresh)
        order = torch.sort(scores[keep], descending=True, stable=True).indices
        keep = keep[order]
        is_human = labels[keep] == self.human_label
        confident = scores[keep] >= self.score_thresh
        humans = self._select(keep[is_human], confident[is_human])
        objects = self._select(keep[~is_human], confident[~is_human])
        return torch.cat([humans, objects])

    def __repr__(self) -> str:
        return (
            f"ProposalFilter(nms_thresh={self.nms_thresh}, score_thresh={self.score_thresh}, "
            f"min_per_type={self.min_per_type}, max_per_type={self.max_per_type}, "
            f"human_label={self.human_label})"
        )
