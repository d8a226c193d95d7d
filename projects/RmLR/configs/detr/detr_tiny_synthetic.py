"""Stage 1 on the synthetic HOI dataset with the tiny DETR, from scratch, on CPU or GPU.

    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/detr/detr_tiny_synthetic.py

Nothing is pre-trained, so every weight trains at lr 2e-4 (lr 1e-3 collapsed all queries to one
box in our runs). DETR converges slowly from scratch: on 2 CPU cores 6,000 iterations take about
13 minutes and reach 1.3 box AP (person 7.2); 2,000 iterations stay at 0.2. Longer runs help.
6,000 iters x 8 img / 392 img = 122 epochs.
"""

from detectron2.config import LazyCall as L

from rmlr.data.entity_dataset import register_entity_dataset
from rmlr.data.transforms import build_upt_augmentation

from ..common.models.detr_tiny import model
from .detr_r50_hico_det import dataloader, lr_multiplier, optimizer, train

dataloader.train.dataset.names = L(register_entity_dataset)(hoi_name="synthetic_hoi_train")
dataloader.train.mapper.augmentations = L(build_upt_augmentation)(
    is_train=True,
    scales=(128, 160, 192),
    max_size=320,
    crop_pre_scales=(128, 160),
    crop_size=(96, 160),
)
dataloader.train.total_batch_size = 8
dataloader.train.num_workers = 0
dataloader.test.dataset.names = L(register_entity_dataset)(hoi_name="synthetic_hoi_test")
dataloader.test.mapper.augmentations = L(build_upt_augmentation)(
    is_train=False, test_size=160, max_size=320
)
dataloader.test.num_workers = 0

optimizer.lr = 2e-4
optimizer.params.backbone_lr = 2e-4  # a backbone trained from scratch: no smaller lr

train.init_checkpoint = ""  # from scratch
train.output_dir = "./output/detr_tiny_synthetic"
train.max_iter = 6000
train.checkpointer.period = 2000
train.log_period = 20
