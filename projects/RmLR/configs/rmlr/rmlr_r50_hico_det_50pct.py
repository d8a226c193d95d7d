"""RmLR-R50 on a seeded 50 % of the HICO-DET training images (HOICLIP's low-data setting,
``rmlr.data.subsets``): 18816 images, the same 20 epochs: 47040 iters x 8 img / 18816 img."""

from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_50pct"
train.max_iter = 47040
train.checkpointer.period = 5000
train.output_dir = "./output/rmlr_r50_hico_det_50pct"
