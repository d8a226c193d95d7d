"""RmLR-R101 on HICO-DET: the R50 recipe with a ResNet-101 DETR fine-tuned on HICO-DET."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

model.entity_detector.detector.detr.backbone.depth = 101
model.entity_detector.checkpoint = "checkpoints/detr-r101-hicodet.pth"
train.output_dir = "./output/rmlr_r101_hico_det"
