"""Table 2, "w/o Rm": no re-mining (IRE); knowledge transfer for the IRM only (SA + WA)."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.global_dim = 0
model.irm.cue_dim = 0
model.cross_modal.ire_branch = None
train.output_dir = "./output/rmlr_r50_vcoco_wo_rm"
