"""Table 2 at tiny size on the synthetic dataset (diff of ``rmlr_r50_vcoco_wo_cl.py`` applied to
``rmlr_tiny_synthetic.py``), "w/o CL": the plain model plus the IRE; no cross-modal learning."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_tiny_synthetic_wo_cl"
