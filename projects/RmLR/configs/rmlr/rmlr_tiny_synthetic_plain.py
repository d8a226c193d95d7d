"""Table 2's "plain model" at tiny size on the synthetic dataset: UPT's interaction head as in
``rmlr_r50_vcoco_plain.py`` (its docstring lists what differs from UPT), at the tiny widths:
pair token = mbf (32) + mbf_g on the pooled tiny-DETR C5 (256 channels -> 32) = 64, the
competitive layer's width (UPT: 2 x the 512 representation, here 2 x 32). No IRE, no text
teacher, no cross-modal learning. The main job's baseline."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.update(
    global_dim=0,
    cue_dim=0,
    pair_dim=32,
    image_feature_dim=256,  # tiny DETR C5 channels
    image_branch_dim=32,
    fuse=False,
    hidden_dim=64,
    ffn_dim=128,
)
model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_tiny_synthetic_plain"
