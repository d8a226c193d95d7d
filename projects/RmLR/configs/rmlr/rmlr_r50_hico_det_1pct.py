"""RmLR-R50 on a seeded 1 % of the HICO-DET training images (HOICLIP's low-data setting,
``rmlr.data.subsets``): 376 images, the same 20 epochs: 940 iters x 8 img / 376 img."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_1pct"
train.max_iter = 940
train.checkpointer.period = 940
train.output_dir = "./output/rmlr_r50_hico_det_1pct"
