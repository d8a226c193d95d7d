"""RmLR-R101 with the pose-guided IRE on V-COCO (Table 9, "ResNet-101, CrowdPose"); see
``rmlr_pose_r50_vcoco.py`` about the pose model's training images."""

from ..common.models.pose import pose_estimator, pose_ire
from ..rmlr.rmlr_r101_vcoco import dataloader, lr_multiplier, model, optimizer, train

pose_ire.ire = model.ire
model.ire = pose_ire
model.pose_estimator = pose_estimator
train.output_dir = "./output/rmlr_pose_r101_vcoco"
