"""The entity stage's output, as consumed by the HOI stage.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)
"""

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

__all__ = ["EntityDetections"]


@dataclass
class EntityDetections:
    """Per-batch output of :class:`~rmlr.modeling.entity_detection.entity_detector.FrozenEntityDetector`.

    Attributes:
        boxes: N tensors (R_i, 4), xyxy in input-image pixels (the resized, unpadded image).
        scores: N tensors (R_i,), softmax score of the label; the no-object class is dropped.
        labels: N int64 tensors (R_i,), COCO-80 contiguous ids (person = 0).
        embeddings: N tensors (R_i, D), the last decoder layer's state of each kept query
            (after DETR's final decoder LayerNorm).
        features: (N, C, h, w) backbone C5 map.
        feature_mask: (N, h, w) bool, True on padding.
        memory: (N, D, h, w) transformer encoder output.
        extra_features: other backbone maps the detector's backbone outputs (e.g. ``"res4"``),
            name -> ((N, C', h', w') map, (N, h', w') bool padding mask); empty by default.
    """

    boxes: List[torch.Tensor]
    scores: List[torch.Tensor]
    labels: List[torch.Tensor]
    embeddings: List[torch.Tensor]
    features: torch.Tensor
    feature_mask: torch.Tensor
    memory: torch.Tensor
    extra_features: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def __post_init__(self):
        n = self.features.shape[0]
        lists = (self.boxes, self.scores, self.labels, self.embeddings)
        if any(len(x) != n for x in lists):
            raise ValueError(f"EntityDetections: per-image lists must all have {n} entries")
        for i, (b, s, l, e) in enumerate(zip(*lists)):
            r = b.shape[0]
            if b.shape != (r, 4) or s.shape != (r,) or l.shape != (r,) or e.shape[0] != r:
                raise ValueError(
                    f"EntityDetections: image {i} has inconsistent shapes boxes {tuple(b.shape)}, "
                    f"scores {tuple(s.shape)}, labels {tuple(l.shape)}, embeddings {tuple(e.shape)}"
                )
