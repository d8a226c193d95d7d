"""Table 2's "plain model" at tiny size on the synthetic dataset: entity tokens and spatial
encodings only (no IRE, no text teacher, no cross-modal learning). The main job's baseline."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.global_dim = 0
model.irm.cue_dim = 0
model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_tiny_synthetic_plain"
