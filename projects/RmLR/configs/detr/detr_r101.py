"""DETR-R101 on COCO 2017 (official DETR-R101: 43.5 box AP on val2017); see detr_r50.py."""

from .detr_r50 import dataloader, lr_multiplier, model, optimizer, train

model.detr.backbone.depth = 101
train.init_checkpoint = "checkpoints/detr-r101-coco.pth"
train.output_dir = "./output/detr_r101_coco"
