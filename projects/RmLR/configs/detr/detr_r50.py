"""DETR-R50 on COCO 2017 (80 classes + no-object): DETR's own recipe, and the config that checks
a converted detector:

    python tools/convert_detr_weights.py --format official detr-r50-e632da11.pth \
        checkpoints/detr-r50-coco.pth
    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/detr/detr_r50.py \
        --eval-only train.init_checkpoint=checkpoints/detr-r50-coco.pth

(official DETR-R50: 42.0 box AP on val2017). Resizes use Detectron2's rounding, which can differ
from DETR's by one pixel.
"""

import torch
from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from fvcore.common.param_scheduler import MultiStepParamScheduler

from rmlr.data.transforms import build_upt_augmentation
from rmlr.modeling.entity_detection.detr import get_detr_optimizer_params

from ..common.models.detr import model
from ..common.train import train

dataloader = model_zoo.get_config("common/data/coco.py").dataloader
# DETR's COCO augmentation: flip, then either a multi-scale resize or resize + crop + resize.
dataloader.train.mapper.augmentations = L(build_upt_augmentation)(
    is_train=True, color_jitter=(0.0, 0.0, 0.0)
)
dataloader.train.mapper.image_format = "RGB"
dataloader.train.mapper.use_instance_mask = False
dataloader.train.total_batch_size = 64
dataloader.test.mapper.augmentations = L(build_upt_augmentation)(is_train=False)

optimizer = L(torch.optim.AdamW)(
    params=L(get_detr_optimizer_params)(backbone_lr=1e-5),  # params.model: set by the script
    lr=1e-4,
    weight_decay=1e-4,
)

train.init_checkpoint = "checkpoints/detr-r50-coco.pth"  # tools/convert_detr_weights.py output
train.output_dir = "./output/detr_r50_coco"
# 500 epochs x 118,287 images / 64 per batch = 924,117 iterations; lr x0.1 after 400 epochs.
train.max_iter = 924117
# clip_grad 0.1 (DETR's clip_max_norm) and device "auto" come from common/train.py
train.checkpointer.period = 18483  # 10 epochs
train.eval_period = 0  # box AP once, after the last iteration

lr_multiplier = L(MultiStepParamScheduler)(
    values=[1.0, 0.1], milestones=[739294], num_updates="${train.max_iter}"
)
