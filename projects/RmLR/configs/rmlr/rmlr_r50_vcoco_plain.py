"""Table 2, "Plain model": the typical two-stage detector (UPT-like): entity tokens and their
spatial encodings only. No IRE, no text teacher, no cross-modal learning."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.global_dim = 0
model.irm.cue_dim = 0
model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_r50_vcoco_plain"
