"""Tiny RmLR with the pose-guided IRE on the synthetic dataset (CPU): ``rmlr/rmlr_tiny_synthetic.py``
with the tiny keypoint model of ``common/models/pose_tiny.py``. ``model.ire.mode=replace`` (pose
instead of the IRE, default) or ``model.ire.mode=concat`` (both). ``benchmarks/pose_synthetic.py``
trains the keypoint model first and compares IRE / pose / both."""

from ..common.models.pose_tiny import pose_estimator, pose_ire
from ..rmlr.rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

pose_ire.ire = model.ire
model.ire = pose_ire
model.pose_estimator = pose_estimator
train.output_dir = "./output/rmlr_pose_tiny_synthetic"
