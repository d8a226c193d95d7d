"""Table 2, "Plain model": the typical two-stage detector, UPT's interaction head
(https://github.com/fredzzhang/upt, ``upt.py`` / ``interaction_head.py``). No IRE, no text teacher,
no cross-modal learning.

As UPT: DETR decoder states (256) as unary tokens; box-pair spatial encodings 36-128-256-512;
2 cooperative layers (512, 8 heads); pair token = cat(mbf(h, o tokens; p), mbf_g(global average
pooled C5; p)) = 512 + 512 = 1024 (both 16-branch fusions written as one 512-wide branch, equal
by construction); one 1024-wide competitive layer (8 heads, FFN 2048, post-norm, GELU, LayerNorm
eps 1e-12) on the pair tokens directly (no fusion FC); a linear verb classifier; proposal filter,
pairing, GT association, score ``sigmoid(logit) * (s_h s_o)^lambda`` (1 / 2.8) and focal loss
(0.5, 0.2) as UPT.

Remaining differences from UPT, kept so that every Table 2 row shares them:
* training schedule: the paper's (Adam 1e-4, cosine, batch 8; ``rmlr_r50_vcoco_upt_schedule.py``
  has UPT's AdamW / step / batch 16);
* the frozen DETR runs in eval mode (UPT leaves its dropout on: ``keep_dropout=True``);
* the pooled C5 averages each image's valid cells (UPT averages the padded batch tensor, so its
  feature depends on the other images of the batch);
* the focal-loss normaliser is clamped to >= 1 positive (UPT divides by zero without positives).
"""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.ire = None
model.irm.update(
    global_dim=0,
    cue_dim=0,
    pair_dim=512,  # UPT's mbf
    image_feature_dim=2048,  # ResNet C5, average-pooled: UPT's mbf_g
    image_branch_dim=512,
    fuse=False,
    hidden_dim=1024,  # UPT's competitive layer: representation_size * 2
    ffn_dim=2048,
)
model.text_teacher = None
model.cross_modal = None
train.output_dir = "./output/rmlr_r50_vcoco_plain"
