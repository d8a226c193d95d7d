"""RmLR-R101 on V-COCO: the R50 recipe with a ResNet-101 DETR."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.entity_detector.detector.detr.backbone.depth = 101
model.entity_detector.checkpoint = "checkpoints/detr-r101-vcoco.pth"
train.output_dir = "./output/rmlr_r101_vcoco"
