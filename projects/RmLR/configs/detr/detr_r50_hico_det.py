"""Stage 1: fine-tune COCO DETR-R50 on HICO-DET's entity boxes (UPT's recipe).

Every human and object box of a training image, de-duplicated per class by NMS 0.7
(rmlr.data.entity_dataset); UPT's augmentation (flip, colour jitter, multi-scale resize / crop);
DETR's set criterion; AdamW lr 1e-4, backbone 1e-5, weight decay 1e-4, gradient clip 0.1; batch
16; 30 epochs at constant lr (UPT's DETR fine-tuning ran 30 epochs with its lr drop at epoch 200,
i.e. never; its script defaults were lr 1e-5 / backbone 1e-6, DETR's 1e-4 / 1e-5 are used here).
Box AP (COCO protocol) on the test split's entities is reported at the end of training.

    python tools/convert_detr_weights.py --format official detr-r50-e632da11.pth \
        checkpoints/detr-r50-coco.pth
    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/detr/detr_r50_hico_det.py
"""

from detectron2.config import LazyCall as L
from fvcore.common.param_scheduler import MultiStepParamScheduler

from rmlr.data.entity_dataset import register_entity_dataset
from rmlr.data.transforms import build_upt_augmentation

from .detr_r50 import dataloader, model, optimizer, train

dataloader.train.dataset.names = L(register_entity_dataset)(hoi_name="hico_det_train")
dataloader.train.mapper.augmentations = L(build_upt_augmentation)(is_train=True)
dataloader.train.total_batch_size = 16
dataloader.test.dataset.names = L(register_entity_dataset)(hoi_name="hico_det_test")
dataloader.evaluator.output_dir = "${train.output_dir}"

train.init_checkpoint = "checkpoints/detr-r50-coco.pth"
train.output_dir = "./output/detr_r50_hico_det"
# 30 epochs x 37,633 training images with boxes / 16 per batch = 70,562 iterations.
train.max_iter = 70562
train.checkpointer.period = 2352  # 1 epoch
train.eval_period = 0  # box AP once, after the last iteration

# one range = constant lr (fvcore's ConstantParamScheduler rejects the final step's where=1)
lr_multiplier = L(MultiStepParamScheduler)(values=[1.0], num_updates="${train.max_iter}")
