"""Pose-guided Interactive Relation Encoder (paper Appendix G, Table 9): the union interaction
feature m^v of each pair from a frozen human-pose model, instead of or beside the learned IRE.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections` and
:mod:`rmlr.modeling.pose_estimation.pose_estimator`):
    G: pose-map side     A: channels of the pose model's FPN map (256)     O: output width of m^v, g^v

The paper says only that the IRE is replaced by "an explicit human posture recognition model"
pre-trained on CrowdPose and frozen, giving the union interaction feature of each human-object
candidate. The design here (ours):

1. **Keypoint evidence** (:func:`~rmlr.modeling.interactive_relation_encoder.pose_maps.union_pose_maps`):
   the frozen keypoint head's J heatmaps of the pair's human, pasted into a G x G grid over the
   union box, plus a human-box and an object-box channel: (P, J + 2, G, G). A small CNN (per
   ``pose_conv_dims`` entry: 3x3 conv, ReLU, 2x2 max-pool) keeps the layout (flattened, not
   averaged: where the wrist is relative to the object is the cue) and a linear layer maps it to
   O: ``f_pose`` (P, O). Spatial-pose streams of this kind: PMFNet
   (https://github.com/bobwan1995/PMFNet) and TIN
   (https://github.com/DirtyHarryLYL/Transferable-Interactiveness-Network).
2. **Masked union region**: the IRE's masked union pooling
   (:func:`~rmlr.modeling.interactive_relation_encoder.masked_pooling.masked_union_pool`: union box,
   samples outside both boxes zeroed, averaged) over the pose model's own FPN map
   ``feature_level`` (frozen features trained to localise joints), LayerNorm, linear to O:
   ``f_union`` (P, O).
3. ``m_pose = FC(ReLU(cat(f_pose, f_union)))`` (P, O).

Modes (``mode``):

* ``"replace"`` (the paper's Table 9 wording): m^v = m_pose; g^v = FC(mean of the valid C5 cells)
  as the IRE's Eq. 6 (the entity stage's map; the learned encoder over C5 is not built).
* ``"concat"`` (alias ``"ire+pose"``): the learned IRE runs as well; m^v = FC(cat(m_ire, m_pose)),
  g^v = the IRE's. Its cross-modal alignment (the IRE side) then aligns the fused m^v.

Without a pair in the batch m^v is empty and no pose is needed (``poses=None``).
"""

from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from ..pose_estimation.pose_estimator import PoseEstimates
from .encoder import InteractiveRelationEncoder
from .masked_pooling import masked_union_pool
from .pose_maps import union_pose_maps

__all__ = ["PoseGuidedRelationEncoder", "POSE_MODES"]

#: mode name -> canonical mode
POSE_MODES = {"replace": "replace", "concat": "concat", "ire+pose": "concat"}


class PoseGuidedRelationEncoder(nn.Module):
    """m^v from the frozen pose model's keypoint maps and features (see the module docstring)."""

    #: RmLR passes ``poses`` / ``pose_index`` to encoders that set this.
    needs_pose = True

    def __init__(
        self,
        *,
        mode: str,
        ire: Optional[InteractiveRelationEncoder] = None,
        num_keypoints: int = 17,
        pose_channels: int = 256,
        feature_level: str = "p3",
        in_channels: int = 2048,
        output_dim: int = 512,
        map_size: int = 32,
        pose_conv_dims: Sequence[int] = (32, 64, 128),
        pool_size: int = 7,
        sampling_ratio: int = 2,
    ):
        """
        Args:
            mode: ``"replace"``, ``"concat"`` or ``"ire+pose"`` (= ``"concat"``).
            ire: the learned IRE; required by ``"concat"``, not kept by ``"replace"`` (so that
                ``mode`` alone selects the variant in a config).
            num_keypoints: J of the pose model's head.
            pose_channels: A, channels of the pose model's FPN map ``feature_level``.
            feature_level: FPN map pooled over the union box (``"p2"`` .. ``"p5"``).
            in_channels: C, channels of the entity stage's C5 map (g^v in ``"replace"``).
            output_dim: O (the IRE's output width in ``"concat"``).
            map_size: G; divisible by ``2 ** len(pose_conv_dims)``.
            pose_conv_dims: output channels of the pose-map CNN's conv layers.
            pool_size, sampling_ratio: masked union pooling grid (``pool_size * sampling_ratio``
                samples per side), as the IRE's.
        """
        super().__init__()
        if mode not in POSE_MODES:
            raise ValueError(f"pose-guided IRE: mode {mode!r} is not one of {sorted(POSE_MODES)}")
        self.mode = POSE_MODES[mode]
        if self.mode == "concat" and ire is None:
            raise ValueError("pose-guided IRE: mode 'concat' (IRE + pose) needs the ire module")
        if self.mode == "replace":
            ire = None  # not used: one config key (mode) switches between the two variants
        if ire is not None and ire.output_dim != output_dim:
            raise ValueError(f"pose-guided IRE: ire.output_dim={ire.output_dim} != {output_dim}")
        reduction = 2 ** len(pose_conv_dims)
        if not pose_conv_dims or map_size % reduction:
            raise ValueError(
                f"pose-guided IRE: map_size={map_size} must be divisible by {reduction} "
                f"(2 ** len(pose_conv_dims={list(pose_conv_dims)}))"
            )
        self.ire = ire
        self.num_keypoints = num_keypoints
        self.feature_level = feature_level
        self.map_size = map_size
        self.grid_size = pool_size * sampling_ratio
        self.output_dim = output_dim

        layers, channels = [], num_keypoints + 2
        for dim in pose_conv_dims:
            layers += [nn.Conv2d(channels, dim, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = dim
        side = map_size // reduction
        layers += [nn.Flatten(), nn.Linear(channels * side * side, output_dim)]
        self.pose_net = nn.Sequential(*layers)
        self.union_norm = nn.LayerNorm(pose_channels)
        self.union_fc = nn.Linear(pose_channels, output_dim)
        self.pose_fc = nn.Linear(2 * output_dim, output_dim)
        if self.mode == "concat":
            self.fuse_fc = nn.Linear(2 * output_dim, output_dim)
        else:
            self.global_fc = nn.Linear(in_channels, output_dim)

    def global_context(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """Eq. 6 in ``"replace"``: (N, C, h, w), (N, h, w) -> (N, O) over the valid cells."""
        valid = (~padding_mask).to(features.dtype)
        pooled = torch.einsum("nchw,nhw->nc", features, valid)
        return self.global_fc(pooled / valid.sum(dim=(1, 2)).clamp(min=1)[:, None])

    def pose_features(
        self,
        poses: PoseEstimates,
        pose_index: torch.Tensor,
        boxes_h: torch.Tensor,
        boxes_o: torch.Tensor,
        image_index: torch.Tensor,
    ) -> torch.Tensor:
        """m_pose (P, O) (steps 1-3 of the module docstring)."""
        if poses.heatmaps.shape[1] != self.num_keypoints:
            raise ValueError(
                f"pose-guided IRE: the pose model gives {poses.heatmaps.shape[1]} keypoints, the "
                f"encoder expects num_keypoints={self.num_keypoints}"
            )
        maps = union_pose_maps(poses.heatmaps[pose_index], boxes_h, boxes_o, self.map_size)
        f_pose = self.pose_net(maps.to(self.union_fc.weight.dtype))
        level = self.feature_level
        pooled = masked_union_pool(
            poses.features[level],
            boxes_h,
            boxes_o,
            image_index,
            spatial_scale=1.0 / poses.strides[level],
            grid_size=self.grid_size,
            valid_hw=poses.valid_cells(level),
        )
        f_union = self.union_fc(self.union_norm(pooled.to(self.union_fc.weight.dtype)))
        return self.pose_fc(torch.relu(torch.cat([f_pose, f_union], dim=1)))

    def forward(
        self,
        features: torch.Tensor,
        padding_mask: torch.Tensor,
        boxes_h: torch.Tensor,
        boxes_o: torch.Tensor,
        image_index: torch.Tensor,
        *,
        poses: Optional[PoseEstimates],
        pose_index: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            features: (N, C, h, w) entity-stage C5 map X^v.
            padding_mask: (N, h, w) bool, True on padding.
            boxes_h, boxes_o: (P, 4) pair boxes in input-image pixels.
            image_index: (P,) int64.
            poses: the pose model's output for the pairs' humans (None only when P = 0).
            pose_index: (P,) int64 row of each pair's human in ``poses``.

        Returns:
            m: (P, O) m^v.   g: (N, O) g^v.
        """
        if self.mode == "concat":
            m_ire, g = self.ire(features, padding_mask, boxes_h, boxes_o, image_index)
        else:
            g = self.global_context(features, padding_mask)
        if boxes_h.shape[0] == 0:
            return g.new_zeros(0, self.output_dim), g
        if poses is None or pose_index is None:
            raise ValueError("pose-guided IRE: pairs without pose estimates")
        m_pose = self.pose_features(poses, pose_index, boxes_h, boxes_o, image_index)
        if self.mode == "concat":
            return self.fuse_fc(torch.cat([m_ire, m_pose], dim=1)), g
        return m_pose, g
