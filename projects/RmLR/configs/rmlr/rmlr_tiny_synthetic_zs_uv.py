"""Tiny RmLR, synthetic zero-shot UV: the verb ``inspect`` never seen in training (its cues are
those of the seen ``hold`` + ``look_at``)."""

from .rmlr_tiny_synthetic_zs_uc import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "synthetic_hoi_train_zs_uv"
train.output_dir = "./output/rmlr_tiny_synthetic_zs_uv"
