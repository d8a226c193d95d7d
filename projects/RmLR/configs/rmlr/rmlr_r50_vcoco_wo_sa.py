"""Table 2, "w/o SA": no sentence-level alignment; word-level alignment for IRE and IRM."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch.sentence_alignment = False
model.cross_modal.irm_branch.sentence_alignment = False
train.output_dir = "./output/rmlr_r50_vcoco_wo_sa"
