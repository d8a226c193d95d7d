"""Table 2, "w/o IRM-KT": knowledge transfer (SA + WA) to the IRE only."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.irm_branch = None
train.output_dir = "./output/rmlr_r50_vcoco_wo_irm_kt"
