"""The frozen keypoint stage of the pose-guided IRE (paper Appendix G): Detectron2 Keypoint R-CNN
parts on the DETR humans and strict loading of Detectron2 keypoint checkpoints."""

from .keypoint_weights import KeypointCheckpointError, load_keypoint_checkpoint, read_keypoint_state
from .pose_estimator import (
    POSE_CHECKPOINT_KEY,
    FrozenPoseEstimator,
    KeypointROIHeads,
    PoseEstimates,
)
from .resnet_stages import make_resnet_stages

__all__ = [
    "FrozenPoseEstimator",
    "KeypointCheckpointError",
    "KeypointROIHeads",
    "POSE_CHECKPOINT_KEY",
    "PoseEstimates",
    "load_keypoint_checkpoint",
    "make_resnet_stages",
    "read_keypoint_state",
]
