"""Table 2, "w/o WA": no word-level alignment; sentence-level alignment for IRE and IRM."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch.word_alignment = False
model.cross_modal.irm_branch.word_alignment = False
train.output_dir = "./output/rmlr_r50_vcoco_wo_wa"
