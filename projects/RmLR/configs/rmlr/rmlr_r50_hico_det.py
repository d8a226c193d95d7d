"""RmLR-R50 on HICO-DET, the paper's schedule (Appendix B): AdamW 1e-4, cosine decay, 20 epochs,
total batch 8, MobileBERT teacher.

20 ep = 94,083 iters x 8 img / 37,633 img (the non-empty training images).
On fewer devices keep the total batch: e.g. 2 images per step x ``train.grad_accum_steps=4``.
"""

from ..common.data.hico_det import dataloader
from ..common.models.rmlr import model
from ..common.optim import optimizer
from ..common.schedule import cosine as lr_multiplier
from ..common.train import train

dataloader.train.total_batch_size = 8
train.max_iter = 94083
train.output_dir = "./output/rmlr_r50_hico_det"
dataloader.evaluator.output_dir = "${train.output_dir}"  # predictions, per-class AP CSV / plot
