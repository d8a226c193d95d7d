"""RmLR-R50 on a seeded 15 % of the HICO-DET training images (HOICLIP's low-data setting,
``rmlr.data.subsets``): 5645 images, the same 20 epochs: 14112 iters x 8 img / 5645 img."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_15pct"
train.max_iter = 14112
train.checkpointer.period = 5000
train.output_dir = "./output/rmlr_r50_hico_det_15pct"
