"""Extension (not in the paper): RmLR-R50 whose IRE reads C4 (res4: stride 16, 1024 channels) of
the frozen DETR backbone instead of C5 (stride 32), for interaction cues too thin for C5. The
frozen DETR itself is unchanged (it still reads C5); only its backbone also returns res4."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.entity_detector.detector.detr.backbone.out_features = ["res4", "res5"]
model.ire_in_feature = "res4"
model.ire.update(in_channels=1024, feature_stride=16)
train.output_dir = "./output/rmlr_r50_vcoco_ire_res4"
