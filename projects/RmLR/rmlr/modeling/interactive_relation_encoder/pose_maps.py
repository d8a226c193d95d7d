"""Pose maps of a human-object pair: the human's keypoint heatmaps and both boxes drawn in the
frame of the pair's union box.

Shape shorthand (extends :mod:`rmlr.modeling.pose_estimation.pose_estimator`):
    P: human-object pairs      G: side of the pose map (cells over the union box)

The keypoint head gives, per human, J heatmaps of M x M logits covering the human's box. For each
pair, a G x G grid is laid over the union box (cell centres, as ROIAlign's ``aligned=True``
samples); each cell reads:

* channels 0..J-1: the human's keypoint maps, ``exp(logit - max logit)`` per keypoint (the spatial
  softmax of Keypoint R-CNN's loss divided by its peak: 1 at the predicted joint, independent of
  M), bilinearly sampled at the cell centre in the human box's frame, 0 outside the human box;
* channel J: 1 inside the human box; channel J + 1: 1 inside the object box.

The pasting is ``grid_sample`` over the heatmaps, as Detectron2 pastes mask-head outputs into the
image (https://github.com/facebookresearch/detectron2/blob/main/detectron2/layers/mask_ops.py,
``_do_paste_mask``). Pose maps + box channels in the union box follow the spatial-pose streams of
PMFNet (Wan et al., ICCV 2019, https://github.com/bobwan1995/PMFNet) and TIN (Li et al., CVPR 2019,
https://github.com/DirtyHarryLYL/Transferable-Interactiveness-Network), which draw keypoints and
the two boxes in the union box; here the maps are the pose model's own heatmaps, not drawn joints.
"""

import torch
import torch.nn.functional as F

from .masked_pooling import union_boxes

__all__ = ["normalized_heatmaps", "union_pose_maps"]


def normalized_heatmaps(heatmaps: torch.Tensor) -> torch.Tensor:
    """(R, J, M, M) logits -> (R, J, M, M) in (0, 1], the peak of each map = 1."""
    peak = heatmaps.flatten(2).amax(dim=2)[:, :, None, None]
    return torch.exp(heatmaps - peak)


def _cell_centres(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
    """(P,), (P,) -> (P, G) pixel coordinates of the G cell centres between lo and hi."""
    k = (torch.arange(size, device=lo.device, dtype=lo.dtype) + 0.5) / size
    return lo[:, None] + k[None] * (hi - lo)[:, None]


def union_pose_maps(
    heatmaps: torch.Tensor, boxes_h: torch.Tensor, boxes_o: torch.Tensor, size: int
) -> torch.Tensor:
    """
    Args:
        heatmaps: (P, J, M, M) keypoint logits of each pair's human (over ``boxes_h``).
        boxes_h, boxes_o: (P, 4) xyxy in input-image pixels.
        size: G.

    Returns:
        (P, J + 2, G, G) pose maps (see the module docstring), float32.
    """
    boxes_h, boxes_o = boxes_h.float(), boxes_o.float()
    union = union_boxes(boxes_h, boxes_o)
    xs = _cell_centres(union[:, 0], union[:, 2], size)  # (P, G)
    ys = _cell_centres(union[:, 1], union[:, 3], size)
    # the same points in the human box's frame, [-1, 1] = the heatmap's outer edges
    w = (boxes_h[:, 2] - boxes_h[:, 0]).clamp(min=1e-3)[:, None]
    h = (boxes_h[:, 3] - boxes_h[:, 1]).clamp(min=1e-3)[:, None]
    gx = (xs - boxes_h[:, 0:1]) / w * 2 - 1
    gy = (ys - boxes_h[:, 1:2]) / h * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    maps = normalized_heatmaps(heatmaps.float())
    pose = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = []
    for box in (boxes_h, boxes_o):
        in_x = (xs >= box[:, 0:1]) & (xs <= box[:, 2:3])
        in_y = (ys >= box[:, 1:2]) & (ys <= box[:, 3:4])
        inside.append((in_y[:, :, None] & in_x[:, None, :]).float())
    return torch.cat([pose, torch.stack(inside, dim=1)], dim=1)
