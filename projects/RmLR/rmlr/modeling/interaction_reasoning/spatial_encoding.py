"""UPT's box-pair spatial encoding, the spatial input of the IRM's cooperative layer and pair tokens.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    *: any leading shape (pairs, or an entity-by-entity grid)     S: spatial encoding width (512)

For a first box ``b1`` (the human) and a second box ``b2`` (the object) in an image of size
``(height, width)`` the 18 features are (UPT, ``compute_spatial_encodings`` in
https://github.com/fredzzhang/upt/blob/main/ops.py):

* box centres ``c1x / w, c1y / h, c2x / w, c2y / h``;
* box sizes ``w1 / w, h1 / h, w2 / w, h2 / h``;
* areas ``a1 / (h w), a2 / (h w)`` and the ratio ``a2 / (a1 + eps)``;
* aspect ratios ``w1 / (h1 + eps), w2 / (h2 + eps)``;
* ``IoU(b1, b2)``;
* the centre offset relative to the first box size, ``|c2x - c1x| / (w1 + eps)`` and
  ``|c2y - c1y| / (h1 + eps)``, each split by sign into two features (right / left, below / above).

They are concatenated with ``log(f + eps)`` (36 features) and mapped by an MLP
36 -> 128 -> 256 -> 512 with a ReLU after every layer.

Mixed precision: the features span ``log(1e-10) = -23`` to area ratios of ~5e4 between real
boxes (and ~1e16 for a zero box), beyond or near float16's 65504, so :class:`BoxPairSpatialEncoder`
computes the features and its MLP in float32 with autocast disabled; its output is float32.
Callers encode real box pairs only (never padding slots).
"""

from typing import Sequence

import torch
from torch import nn

__all__ = ["NUM_SPATIAL_FEATURES", "box_pair_spatial_features", "BoxPairSpatialEncoder"]

#: 18 geometric features and their logarithms.
NUM_SPATIAL_FEATURES = 36


def _pairwise_aligned_iou(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """IoU of ``b1[..., k]`` with ``b2[..., k]`` (elementwise, not all pairs)."""
    lt = torch.maximum(b1[..., :2], b2[..., :2])
    rb = torch.minimum(b1[..., 2:], b2[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area1 = (b1[..., 2:] - b1[..., :2]).clamp(min=0).prod(dim=-1)
    area2 = (b2[..., 2:] - b2[..., :2]).clamp(min=0).prod(dim=-1)
    union = area1 + area2 - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def box_pair_spatial_features(
    boxes_1: torch.Tensor, boxes_2: torch.Tensor, image_hw: torch.Tensor, eps: float = 1e-10
) -> torch.Tensor:
    """The 36 UPT features of each box pair (see the module docstring).

    Args:
        boxes_1: (*, 4) xyxy first boxes (humans).
        boxes_2: (*, 4) xyxy second boxes (objects).
        image_hw: (*, 2) image height and width of each pair (broadcastable).
        eps: UPT's numerical-stability constant.

    Returns:
        (*, 36).
    """
    h, w = image_hw[..., 0].to(boxes_1.dtype), image_hw[..., 1].to(boxes_1.dtype)
    c1x, c1y = (boxes_1[..., 0] + boxes_1[..., 2]) / 2, (boxes_1[..., 1] + boxes_1[..., 3]) / 2
    c2x, c2y = (boxes_2[..., 0] + boxes_2[..., 2]) / 2, (boxes_2[..., 1] + boxes_2[..., 3]) / 2
    w1, h1 = boxes_1[..., 2] - boxes_1[..., 0], boxes_1[..., 3] - boxes_1[..., 1]
    w2, h2 = boxes_2[..., 2] - boxes_2[..., 0], boxes_2[..., 3] - boxes_2[..., 1]
    dx = (c2x - c1x).abs() / (w1 + eps)
    dy = (c2y - c1y).abs() / (h1 + eps)
    f = torch.stack(
        [
            c1x / w,
            c1y / h,
            c2x / w,
            c2y / h,
            w1 / w,
            h1 / h,
            w2 / w,
            h2 / h,
            w1 * h1 / (h * w),
            w2 * h2 / (h * w),
            w2 * h2 / (w1 * h1 + eps),
            w1 / (h1 + eps),
            w2 / (h2 + eps),
            _pairwise_aligned_iou(boxes_1, boxes_2),
            (c2x > c1x).to(dx.dtype) * dx,
            (c2x < c1x).to(dx.dtype) * dx,
            (c2y > c1y).to(dy.dtype) * dy,
            (c2y < c1y).to(dy.dtype) * dy,
        ],
        dim=-1,
    )
    return torch.cat([f, torch.log(f + eps)], dim=-1)


class BoxPairSpatialEncoder(nn.Module):
    """The 36 features followed by UPT's MLP (36 -> 128 -> 256 -> S, ReLU after each layer)."""

    def __init__(
        self,
        *,
        hidden_dims: Sequence[int] = (128, 256),
        output_dim: int = 512,
        eps: float = 1e-10,
    ):
        """
        Args:
            hidden_dims: widths of the hidden layers.
            output_dim: S.
            eps: see :func:`box_pair_spatial_features`.
        """
        super().__init__()
        dims = [NUM_SPATIAL_FEATURES, *hidden_dims, output_dim]
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)
        self.output_dim = output_dim
        self.eps = eps

    def forward(
        self, boxes_1: torch.Tensor, boxes_2: torch.Tensor, image_hw: torch.Tensor
    ) -> torch.Tensor:
        """(*, 4), (*, 4), (*, 2) -> (*, S), float32 (also under autocast)."""
        with torch.autocast(device_type=boxes_1.device.type, enabled=False):
            features = box_pair_spatial_features(
                boxes_1.float(), boxes_2.float(), image_hw.float(), self.eps
            )
            return self.mlp(features)
