"""The frozen keypoint stage of the pose-guided IRE (paper Appendix G): Detectron2's Keypoint R-CNN
parts run on the humans the entity stage detected.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    R_h: humans whose pose is estimated (whole batch)     J: keypoints per human (17 on COCO,
    M: heatmap side of the keypoint head (56)                 14 on CrowdPose)
    F: channels of the pose backbone's FPN maps (256)     h_l, w_l: size of FPN level l

Built from Detectron2's own parts, as ``COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x`` configures them
(``detectron2/model_zoo/configs/common/models/keypoint_rcnn_fpn.py``): a ResNet + FPN backbone, a
``ROIPooler`` (14 x 14 ROIAlignV2 over p2-p5) and ``KRCNNConvDeconvUpsampleHead`` (8 convs, a
deconvolution and a 2x upsampling: J heatmap logits of M x M per box). Its state dict uses
Detectron2's ``GeneralizedRCNN`` names (``backbone.*``, ``roi_heads.keypoint_head.*``), so a
Detectron2 keypoint checkpoint (the model zoo's ``.pkl``, a ``.pth`` of a Detectron2 training run,
a CrowdPose model in that format) loads into it strictly
(:func:`~rmlr.modeling.pose_estimation.keypoint_weights.load_keypoint_checkpoint`).

Differences from Keypoint R-CNN, on purpose:

* No proposals and no box head: the boxes are the DETR humans (the HOI stage's pairs), so the
  checkpoint's ``proposal_generator.*`` and ``roi_heads.box_*`` weights are not used.
* Frozen like the entity stage: no parameter requires gradient, the forward runs under
  ``torch.no_grad()``, and the module stays in eval mode when the parent model trains.
* A model that never received weights refuses to run: its error names the config key
  (``model.pose_estimator.checkpoint``). Weights count as received when this module loads a
  checkpoint or when a parent's ``load_state_dict`` supplies all of its tensors (a full RmLR
  checkpoint holds them).

Input: the mapper's uint8 images (``image_format``, RGB in this project) are converted to the
pose model's ``input_format`` (BGR for the model zoo), normalised with its pixel mean / std and
zero-padded to the backbone's size divisibility. Boxes are xyxy in input-image pixels, the frame
the entity stage's boxes are in.
"""

from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import KRCNNConvDeconvUpsampleHead
from detectron2.structures import Boxes, ImageList, heatmaps_to_keypoints
from torch import nn

__all__ = ["FrozenPoseEstimator", "PoseEstimates", "KeypointROIHeads", "POSE_CHECKPOINT_KEY"]

#: The config key of the keypoint checkpoint, named by every error about missing pose weights.
POSE_CHECKPOINT_KEY = "model.pose_estimator.checkpoint"


@dataclass
class PoseEstimates:
    """Output of :class:`FrozenPoseEstimator`.

    Attributes:
        heatmaps: (R_h, J, M, M) keypoint logits of each human, over its box.
        boxes: (R_h, 4) the human boxes the heatmaps cover.
        features: FPN maps ``{"p2": (N, F, h_2, w_2), ...}`` of the pose backbone.
        strides: input pixels per cell of each FPN map.
        image_sizes: N (height, width) of the unpadded input images.
    """

    heatmaps: torch.Tensor
    boxes: torch.Tensor
    features: Dict[str, torch.Tensor]
    strides: Dict[str, int]
    image_sizes: List[Sequence[int]]

    def keypoints(self) -> torch.Tensor:
        """(R_h, J, 3) x, y (input-image pixels, continuous) and score of each keypoint, decoded
        by Detectron2's ``heatmaps_to_keypoints`` (a loop over the humans with a bicubic resize
        each: computed on request only, the HOI stage uses the heatmaps)."""
        if self.boxes.shape[0] == 0:
            return self.heatmaps.new_zeros(0, self.heatmaps.shape[1], 3)
        return heatmaps_to_keypoints(self.heatmaps, self.boxes)[:, :, (0, 1, 3)]

    def valid_cells(self, level: str) -> torch.Tensor:
        """(N, 2) int64 unpadded rows and columns of FPN map ``level`` of each image."""
        stride = self.strides[level]
        hw = torch.as_tensor([list(s) for s in self.image_sizes], dtype=torch.int64)
        return ((hw + stride - 1) // stride).clamp(min=1).to(self.features[level].device)


class KeypointROIHeads(nn.Module):
    """The keypoint part of Detectron2's ``StandardROIHeads``: pooler and head, under the same
    attribute names (so the weights are ``roi_heads.keypoint_head.*``)."""

    def __init__(self, *, keypoint_pooler: ROIPooler, keypoint_head: nn.Module):
        super().__init__()
        self.keypoint_pooler = keypoint_pooler
        self.keypoint_head = keypoint_head


class FrozenPoseEstimator(nn.Module):
    """Detectron2 Keypoint R-CNN's backbone, pooler and keypoint head on given boxes, frozen."""

    def __init__(
        self,
        *,
        backbone: Backbone,
        keypoint_in_features: Sequence[str],
        keypoint_pooler: ROIPooler,
        keypoint_head: KRCNNConvDeconvUpsampleHead,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "BGR",
        image_format: str = "RGB",
        checkpoint: str = "",
    ):
        """
        Args:
            backbone: Detectron2 backbone with the ``keypoint_in_features`` outputs (ResNet + FPN).
            keypoint_in_features: FPN levels the pooler reads (``["p2", "p3", "p4", "p5"]``).
            keypoint_pooler: Detectron2 ``ROIPooler`` over those levels.
            keypoint_head: Detectron2 ``KRCNNConvDeconvUpsampleHead`` (its ``layers`` give the
                heatmaps; its loss and inference helpers are not used).
            pixel_mean, pixel_std: the pose model's normalisation, in ``input_format`` order.
            input_format: channel order the pose model was trained on (``"BGR"`` / ``"RGB"``).
            image_format: channel order of ``x["image"]`` in the inputs (the mapper's).
            checkpoint: a Detectron2 keypoint checkpoint (local path or ``detectron2://`` /
                ``https://`` URL; ``.pkl`` of the model zoo or ``.pth``), loaded strictly here.
                Empty: no weights yet; they must come from a parent's checkpoint before the first
                forward.
        """
        super().__init__()
        for fmt in (input_format, image_format):
            if fmt not in ("BGR", "RGB"):
                raise ValueError(f"pose estimator: image format {fmt!r} is not 'BGR' or 'RGB'")
        shapes = backbone.output_shape()
        missing = [f for f in keypoint_in_features if f not in shapes]
        if missing:
            raise ValueError(
                f"pose estimator: keypoint_in_features {missing} are not backbone outputs "
                f"({sorted(shapes)})"
            )
        self.backbone = backbone
        self.roi_heads = KeypointROIHeads(
            keypoint_pooler=keypoint_pooler, keypoint_head=keypoint_head
        )
        self.keypoint_in_features = list(keypoint_in_features)
        self.strides = {name: int(s.stride) for name, s in shapes.items()}
        self.flip_channels = input_format != image_format
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.checkpoint = checkpoint
        self.weights_loaded = False
        self.requires_grad_(False)
        self.train(False)
        if checkpoint:
            from .keypoint_weights import load_keypoint_checkpoint

            load_keypoint_checkpoint(self, checkpoint)

    @property
    def num_keypoints(self) -> int:
        """J, read from the head's last layer."""
        return int(self.roi_heads.keypoint_head.score_lowres.out_channels)

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return self.backbone.output_shape()

    def train(self, mode: bool = True) -> "FrozenPoseEstimator":
        """Sets this module's flag only: the pose model stays in eval mode."""
        self.training = mode
        for child in self.children():
            child.train(False)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A parent's load_state_dict that supplies every tensor of the pose model counts as its
        # weights (a full RmLR checkpoint); a partial one does not.
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        own = [k for k in self.state_dict() if not k.endswith("num_batches_tracked")]
        if own and all(prefix + k in state_dict for k in own):
            self.weights_loaded = True

    def preprocess_image(self, batched_inputs: List[Mapping]) -> ImageList:
        """uint8 ``x["image"]`` (3, H_i, W_i) -> normalised, padded (N, 3, H, W) in the pose
        model's channel order."""
        images = []
        for x in batched_inputs:
            image = x["image"].to(self.pixel_mean.device)
            if self.flip_channels:
                image = image.flip(0)
            images.append((image.float() - self.pixel_mean) / self.pixel_std)
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def check_weights(self) -> None:
        if not self.weights_loaded:
            raise RuntimeError(
                f"the pose model has no weights: set {POSE_CHECKPOINT_KEY} to a Detectron2 keypoint "
                "checkpoint (e.g. detectron2://COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x/137849621/"
                "model_final_a6e10b.pkl) or load a full RmLR checkpoint that holds pose_estimator.* "
                "(it would otherwise run with random weights)"
            )

    @torch.no_grad()
    def forward(
        self, batched_inputs: List[Mapping], boxes: torch.Tensor, image_index: torch.Tensor
    ) -> PoseEstimates:
        """
        Args:
            batched_inputs: N mapper outputs (``x["image"]``: uint8 (3, H_i, W_i)).
            boxes: (R_h, 4) xyxy human boxes in input-image pixels.
            image_index: (R_h,) int64 image of each box.

        Returns:
            :class:`PoseEstimates` for the R_h boxes, in their order (R_h = 0 is fine).
        """
        self.check_weights()
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        boxes = boxes.to(images.tensor.device, torch.float32)
        image_index = image_index.to(boxes.device)
        order = torch.argsort(image_index, stable=True)
        box_lists = [Boxes(boxes[order][image_index[order] == i]) for i in range(len(images))]
        pooled = self.roi_heads.keypoint_pooler(
            [features[f] for f in self.keypoint_in_features], box_lists
        )
        sorted_maps = self.roi_heads.keypoint_head.layers(pooled)  # (R_h, J, M, M)
        heatmaps = torch.empty_like(sorted_maps)
        heatmaps[order] = sorted_maps
        return PoseEstimates(
            heatmaps=heatmaps,
            boxes=boxes,
            features=features,
            strides=self.strides,
            image_sizes=list(images.image_sizes),
        )
