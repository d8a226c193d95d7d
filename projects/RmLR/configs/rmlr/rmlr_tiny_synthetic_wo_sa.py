"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_sa.py`` applied to
``rmlr_tiny_synthetic.py``), "w/o SA": no sentence-level alignment; word-level alignment for IRE
and IRM."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch.sentence_alignment = False
model.cross_modal.irm_branch.sentence_alignment = False
train.output_dir = "./output/rmlr_tiny_synthetic_wo_sa"
