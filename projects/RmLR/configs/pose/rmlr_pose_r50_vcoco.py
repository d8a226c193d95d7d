"""RmLR-R50 with the pose-guided IRE on V-COCO (Table 9, "ResNet-50, CrowdPose"). The model
zoo's Keypoint R-CNN was trained on COCO train2017, which contains V-COCO test images (COCO 2014
val); for a clean V-COCO number use a pose model trained without them (CrowdPose, as the paper)."""

from ..common.models.pose import pose_estimator, pose_ire
from ..rmlr.rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

pose_ire.ire = model.ire
model.ire = pose_ire
model.pose_estimator = pose_estimator
train.output_dir = "./output/rmlr_pose_r50_vcoco"
