"""Human-object pairs (Sec. 3.2) and their association with ground-truth interactions.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    R: entities of the whole batch (sum of R_i)     P: human-object pairs of the whole batch
    M: ground-truth interactions of the whole batch K: (pair, GT interaction) matches

Pairs follow the paper and UPT: every detected human (label ``person``) with every *other* kept
entity, humans included (h != o), ordered image by image, then by human, then by object, in the
entity stage's order. An image with no human or fewer than two entities has no pair.

A pair is associated with a GT interaction when ``min(IoU(h, gt_h), IoU(o, gt_o)) >= 0.5``
(UPT's rule, https://github.com/fredzzhang/upt/blob/main/upt.py ``associate_with_ground_truth``;
the object class is not compared). A pair may match several GT interactions (multi-label).
"""

from dataclasses import dataclass
from typing import List

import torch
from torchvision.ops import box_iou

from .entity_detection.entity_detections import EntityDetections

__all__ = ["HOIPairs", "build_pairs", "PairMatches", "associate_pairs"]


@dataclass
class HOIPairs:
    """All human-object pairs of a batch and the entities they index.

    Attributes:
        num_images: N.
        entity_image: (R,) int64, image of each entity (non-decreasing).
        entity_boxes: (R, 4) xyxy, input-image pixels.
        entity_scores: (R,) detection scores.
        entity_labels: (R,) int64 COCO-80 ids.
        entity_embeddings: (R, D) DETR decoder states.
        image_index: (P,) int64, image of each pair (non-decreasing).
        human_index: (P,) int64 index into the entities of the batch.
        object_index: (P,) int64 index into the entities of the batch.
    """

    num_images: int
    entity_image: torch.Tensor
    entity_boxes: torch.Tensor
    entity_scores: torch.Tensor
    entity_labels: torch.Tensor
    entity_embeddings: torch.Tensor
    image_index: torch.Tensor
    human_index: torch.Tensor
    object_index: torch.Tensor

    def __len__(self) -> int:
        return self.image_index.shape[0]

    @property
    def boxes_h(self) -> torch.Tensor:
        """(P, 4) human boxes."""
        return self.entity_boxes[self.human_index]

    @property
    def boxes_o(self) -> torch.Tensor:
        """(P, 4) object boxes."""
        return self.entity_boxes[self.object_index]

    @property
    def boxes(self) -> torch.Tensor:
        """(P, 8) B~ of the paper: human box then object box."""
        return torch.cat([self.boxes_h, self.boxes_o], dim=1)

    @property
    def tokens(self) -> torch.Tensor:
        """(P, 2D) S~ of the paper: human token then object token (DETR decoder states)."""
        emb = self.entity_embeddings
        return torch.cat([emb[self.human_index], emb[self.object_index]], dim=1)

    @property
    def scores_h(self) -> torch.Tensor:
        return self.entity_scores[self.human_index]

    @property
    def scores_o(self) -> torch.Tensor:
        return self.entity_scores[self.object_index]

    @property
    def object_labels(self) -> torch.Tensor:
        """(P,) int64 object class of each pair."""
        return self.entity_labels[self.object_index]

    def pairs_per_image(self) -> List[int]:
        return torch.bincount(self.image_index, minlength=self.num_images).tolist()


def build_pairs(detections: EntityDetections, *, person_label: int) -> HOIPairs:
    """Every detected human with every other entity of the same image.

    Args:
        detections: the entity stage's output for N images.
        person_label: class id of ``person`` (0 in COCO-80).
    """
    device = detections.features.device
    counts = torch.as_tensor([b.shape[0] for b in detections.boxes], device=device)
    n = len(detections)
    entity_image = torch.repeat_interleave(torch.arange(n, device=device), counts)
    labels = torch.cat(detections.labels).to(device=device, dtype=torch.int64)
    is_human = labels == person_label
    same_image = entity_image[:, None] == entity_image[None, :]
    not_self = ~torch.eye(labels.shape[0], dtype=torch.bool, device=device)
    human_index, object_index = torch.nonzero(
        same_image & not_self & is_human[:, None], as_tuple=True
    )
    return HOIPairs(
        num_images=n,
        entity_image=entity_image,
        entity_boxes=torch.cat(detections.boxes).to(device),
        entity_scores=torch.cat(detections.scores).to(device),
        entity_labels=labels,
        entity_embeddings=torch.cat(detections.embeddings).to(device),
        image_index=entity_image[human_index],
        human_index=human_index,
        object_index=object_index,
    )


@dataclass
class PairMatches:
    """Matches between pairs and GT interactions (all images of a batch).

    Attributes:
        pair_index: (K,) int64 index into the pairs.
        gt_index: (K,) int64 index into the batch's GT interactions (concatenated per image).
        labels: (P, V) float, 1 where the pair matches a GT interaction with that verb.
    """

    pair_index: torch.Tensor
    gt_index: torch.Tensor
    labels: torch.Tensor


def associate_pairs(
    pairs: HOIPairs,
    gt_boxes_h: List[torch.Tensor],
    gt_boxes_o: List[torch.Tensor],
    gt_verbs: List[torch.Tensor],
    *,
    num_verbs: int,
    iou_threshold: float,
) -> PairMatches:
    """Match every pair with the GT interactions of its image (UPT's rule, see module doc).

    Args:
        pairs: P pairs of N images.
        gt_boxes_h, gt_boxes_o: N tensors (M_i, 4), GT subject / object boxes, same coordinates
            as the detections.
        gt_verbs: N int64 tensors (M_i,).
        num_verbs: V.
        iou_threshold: minimum of the two IoUs for a match (0.5).
    """
    device = pairs.entity_boxes.device
    counts = torch.as_tensor([b.shape[0] for b in gt_boxes_h], device=device)
    gt_image = torch.repeat_interleave(torch.arange(len(gt_boxes_h), device=device), counts)
    gt_h = torch.cat(gt_boxes_h).to(device=device, dtype=pairs.entity_boxes.dtype).view(-1, 4)
    gt_o = torch.cat(gt_boxes_o).to(device=device, dtype=pairs.entity_boxes.dtype).view(-1, 4)
    verbs = torch.cat(gt_verbs).to(device=device, dtype=torch.int64).view(-1)

    iou = torch.minimum(box_iou(pairs.boxes_h, gt_h), box_iou(pairs.boxes_o, gt_o))
    match = (iou >= iou_threshold) & (pairs.image_index[:, None] == gt_image[None, :])
    pair_index, gt_index = torch.nonzero(match, as_tuple=True)
    labels = torch.zeros(len(pairs), num_verbs, device=device)
    labels[pair_index, verbs[gt_index]] = 1.0
    return PairMatches(pair_index=pair_index, gt_index=gt_index, labels=labels)
