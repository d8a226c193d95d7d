"""Stage 1 on the synthetic HOI dataset: fine-tune the pre-trained tiny DETR on the entity boxes
of ``synthetic_hoi_train`` (as the real DETR-R50 is pre-trained on COCO, then fine-tuned on
HICO-DET), on CPU or GPU.

    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/detr/detr_tiny_synthetic.py

The pre-trained weights (``projects/RmLR/weights/``, 1.6 MB) come from
``detr_tiny_synthetic_pretrain.py`` (see the weights' README): DETR trained from scratch converges
far too slowly for a CPU demo (6,000 iterations here reach 1.3 box AP).
400 iters x 8 img / 392 img = 8 epochs.
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

# the stage-1 recipe (issue / UPT practice): AdamW 1e-4, backbone 1e-5
optimizer.lr = 1e-4
optimizer.params.backbone_lr = 1e-5

train.init_checkpoint = "projects/RmLR/weights/detr_tiny_synthetic_pretrain.pth"
train.output_dir = "./output/detr_tiny_synthetic"
train.max_iter = 400
train.checkpointer.period = 200
train.log_period = 20
