"""Table 2, "w/o CL": the plain model plus the IRE; no cross-modal learning."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_r50_vcoco_wo_cl"
