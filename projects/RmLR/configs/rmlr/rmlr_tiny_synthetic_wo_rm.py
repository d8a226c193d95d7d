"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_rm.py`` applied to
``rmlr_tiny_synthetic.py``), "w/o Rm": no re-mining (IRE); knowledge transfer for the IRM only
(SA + WA)."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.global_dim = 0
model.irm.cue_dim = 0
model.cross_modal.ire_branch = None
train.output_dir = "./output/rmlr_tiny_synthetic_wo_rm"
