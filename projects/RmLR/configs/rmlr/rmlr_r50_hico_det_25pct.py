"""RmLR-R50 on a seeded 25 % of the HICO-DET training images (HOICLIP's low-data setting,
``rmlr.data.subsets``): 9408 images, the same 20 epochs: 23520 iters x 8 img / 9408 img."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_25pct"
train.max_iter = 23520
train.checkpointer.period = 5000
train.output_dir = "./output/rmlr_r50_hico_det_25pct"
