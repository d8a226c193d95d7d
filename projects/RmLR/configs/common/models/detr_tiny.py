"""A tiny DETR for CPU tests and the synthetic dataset: DETR-R50's architecture with fewer blocks,
channels, layers and queries. DC5 keeps a stride-16 C5 map, so 128-256 px images still give 8-16
cells per side. It is trained from scratch (no pre-trained backbone exists at this size), so its
backbone has trainable batch norm and no frozen stage instead of DETR's frozen BN."""

from .detr import model

model.detr.backbone.update(
    num_blocks_per_stage=[1, 1, 1, 2],
    stem_out_channels=16,
    res2_out_channels=32,  # C5 = 8 x 32 = 256 channels
    dc5=True,
    norm="BN",
    freeze_at=0,
)
model.detr.position_embedding.num_pos_feats = 32  # d_model / 2
model.detr.transformer.update(
    d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128
)
model.detr.num_queries = 20
