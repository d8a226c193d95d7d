"""RmLR-R50 on a seeded 5 % of the HICO-DET training images (HOICLIP's low-data setting,
``rmlr.data.subsets``): 1882 images, the same 20 epochs: 4705 iters x 8 img / 1882 img."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_5pct"
train.max_iter = 4705
train.checkpointer.period = 4705
train.output_dir = "./output/rmlr_r50_hico_det_5pct"
