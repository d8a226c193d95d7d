"""RmLR-R50 on V-COCO with UPT's schedule: total batch 16, 20 epochs, x0.1 after 10 epochs.

20 ep = 6,750 iters x 16 img / 5,400 img; the step at 10 ep = 3,375 iters.
"""

from ..common.schedule import upt_step as lr_multiplier
from .rmlr_r50_vcoco import dataloader, model, optimizer, train

dataloader.train.total_batch_size = 16
train.max_iter = 6750
lr_multiplier.milestones = [3375]
train.output_dir = "./output/rmlr_r50_vcoco_upt_schedule"
