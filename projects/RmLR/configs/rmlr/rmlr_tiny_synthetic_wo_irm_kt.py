"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_irm_kt.py`` applied
to ``rmlr_tiny_synthetic.py``), "w/o IRM-KT": knowledge transfer (SA + WA) to the IRE only."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.irm_branch = None
train.output_dir = "./output/rmlr_tiny_synthetic_wo_irm_kt"
