"""Tiny RmLR on a seeded 25 % of the synthetic training images (low-data setting,
``rmlr.data.subsets``); the tiny config's 400 iterations (more epochs over fewer images)."""

from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "synthetic_hoi_train_25pct"
train.output_dir = "./output/rmlr_tiny_synthetic_25pct"
