"""RmLR-R101 with the pose-guided IRE on HICO-DET (Table 9, "ResNet-101, CrowdPose"): the R50
pose recipe with the ResNet-101 DETR (the pose model stays Keypoint R-CNN R50-FPN; see
``common/models/pose.py`` for an R101 one)."""

from ..common.models.pose import pose_estimator, pose_ire
from ..rmlr.rmlr_r101_hico_det import dataloader, lr_multiplier, model, optimizer, train

pose_ire.ire = model.ire
model.ire = pose_ire
model.pose_estimator = pose_estimator
train.output_dir = "./output/rmlr_pose_r101_hico_det"
