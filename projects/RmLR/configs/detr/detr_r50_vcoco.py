"""Stage 1 with DETR-R50 on V-COCO trainval's entity boxes; see detr_r50_hico_det.py."""

from detectron2.config import LazyCall as L

from rmlr.data.entity_dataset import register_entity_dataset

from .detr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = L(register_entity_dataset)(hoi_name="vcoco_trainval")
dataloader.test.dataset.names = L(register_entity_dataset)(hoi_name="vcoco_test")
train.output_dir = "./output/detr_r50_vcoco"
# 30 epochs x 5,400 trainval images / 16 per batch = 10,125 iterations.
train.max_iter = 10125
train.checkpointer.period = 338  # 1 epoch
