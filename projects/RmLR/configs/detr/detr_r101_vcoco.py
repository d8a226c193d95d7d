"""Stage 1 with DETR-R101 on V-COCO; see detr_r50_hico_det.py."""

from .detr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.detr.backbone.depth = 101
train.init_checkpoint = "checkpoints/detr-r101-coco.pth"
train.output_dir = "./output/detr_r101_vcoco"
