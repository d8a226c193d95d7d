"""RmLR-R50 on HICO-DET with UPT's schedule: total batch 16, 20 epochs, x0.1 after 10 epochs.

20 ep = 47,042 iters x 16 img / 37,633 img; the step at 10 ep = 23,521 iters.
"""

from ..common.schedule import upt_step as lr_multiplier
from .rmlr_r50_hico_det import dataloader, model, optimizer, train

dataloader.train.total_batch_size = 16
train.max_iter = 47042
lr_multiplier.milestones = [23521]
train.output_dir = "./output/rmlr_r50_hico_det_upt_schedule"
