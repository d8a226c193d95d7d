"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_ire_kt.py`` applied
to ``rmlr_tiny_synthetic.py``), "w/o IRE-KT": knowledge transfer (SA + WA) to the IRM only; the
IRE stays."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.cross_modal.ire_branch = None
train.output_dir = "./output/rmlr_tiny_synthetic_wo_ire_kt"
