"""Extension (not in the paper): the tiny RmLR whose IRE reads res3 (stride 8, 64 channels) of the
frozen tiny DETR instead of C5 (stride 16 with DC5; the tiny DETR's res4 is also stride 16), so
thin interaction cues (limbs between person and object) keep more cells on ~190 px images."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.entity_detector.detector.detr.backbone.out_features = ["res3", "res5"]
model.ire_in_feature = "res3"
model.ire.update(in_channels=64, feature_stride=8)
train.output_dir = "./output/rmlr_tiny_synthetic_ire_res3"
