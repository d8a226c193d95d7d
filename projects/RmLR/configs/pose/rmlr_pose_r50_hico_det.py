"""RmLR-R50 with the pose-guided IRE on HICO-DET (Table 9, "ResNet-50, CrowdPose"): the
``rmlr/rmlr_r50_hico_det.py`` recipe, m^v from a frozen Detectron2 Keypoint R-CNN
(``common/models/pose.py``; ``model.ire.mode=concat`` keeps the learned IRE beside it)."""

from ..common.models.pose import pose_estimator, pose_ire
from ..rmlr.rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

pose_ire.ire = model.ire
model.ire = pose_ire
model.pose_estimator = pose_estimator
train.output_dir = "./output/rmlr_pose_r50_hico_det"
