"""Pre-training of the tiny DETR on ``synthetic_hoi_pretrain`` (4,000 images, seed 1): the
synthetic analogue of DETR's COCO pre-training, run once; stage 1 then fine-tunes its weights on
``synthetic_hoi_train`` (``detr_tiny_synthetic.py``, ``train.init_checkpoint=...``).

    python tools/lazyconfig_train_net.py \
        --config-file projects/RmLR/configs/detr/detr_tiny_synthetic_pretrain.py

30,000 iters x 8 img / 4,000 img = 60 epochs; lr x0.1 for the last 5,000 iterations.
"""

from detectron2.config import LazyCall as L
from fvcore.common.param_scheduler import MultiStepParamScheduler

from rmlr.data.entity_dataset import register_entity_dataset

from .detr_tiny_synthetic import dataloader, model, optimizer, train

dataloader.train.dataset.names = L(register_entity_dataset)(hoi_name="synthetic_hoi_pretrain_train")
dataloader.test.dataset.names = L(register_entity_dataset)(hoi_name="synthetic_hoi_pretrain_test")
lr_multiplier = L(MultiStepParamScheduler)(
    values=[1.0, 0.1], milestones=[25000], num_updates="${train.max_iter}"
)
# from scratch: no pre-trained part, so every weight trains at lr 2e-4 (lr 1e-3 collapsed all
# queries to one box in our runs)
optimizer.lr = 2e-4
optimizer.params.backbone_lr = 2e-4
train.init_checkpoint = ""
train.log_period = 20
train.max_iter = 30000
train.checkpointer.period = 2000
train.checkpointer.max_to_keep = 3
train.eval_period = 5000
train.output_dir = "./output/detr_tiny_synthetic_pretrain"
