"""Table 2, "w/o IRE-KT": knowledge transfer (SA + WA) to the IRM only; the IRE stays."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch = None
train.output_dir = "./output/rmlr_r50_vcoco_wo_ire_kt"
