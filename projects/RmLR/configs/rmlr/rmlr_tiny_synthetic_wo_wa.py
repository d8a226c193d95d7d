"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_wa.py`` applied to
``rmlr_tiny_synthetic.py``), "w/o WA": no word-level alignment; sentence-level alignment for IRE
and IRM."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch.word_alignment = False
model.cross_modal.irm_branch.word_alignment = False
train.output_dir = "./output/rmlr_tiny_synthetic_wo_wa"
