"""DETR-R50 (Carion et al., ECCV 2020) as RmLR's entity detector: 80 COCO classes + no-object.

Everything as the official DETR-R50: torchvision-style ResNet-50 with frozen BN (stem and res2
frozen), sine positions (128 per axis), 6 + 6 layers, 8 heads, FFN 2048, dropout 0.1, 100
queries, set criterion (matching class 1 / L1 5 / GIoU 2, no-object weight 0.1, aux losses).
"""

from detectron2.config import LazyCall as L

from rmlr.modeling.entity_detection.detr import DETR, DETRDetector
from rmlr.modeling.entity_detection.detr_backbone import build_detr_resnet
from rmlr.modeling.entity_detection.detr_criterion import HungarianMatcher, SetCriterion
from rmlr.modeling.entity_detection.detr_transformer import DETRTransformer
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine

model = L(DETRDetector)(
    detr=L(DETR)(
        backbone=L(build_detr_resnet)(depth=50, dc5=False, freeze_at=2),
        # num_pos_feats = d_model / 2
        position_embedding=L(PositionEmbeddingSine)(num_pos_feats=128, normalize=True),
        transformer=L(DETRTransformer)(
            d_model=256,
            nhead=8,
            num_encoder_layers=6,
            num_decoder_layers=6,
            dim_feedforward=2048,
            dropout=0.1,
        ),
        num_classes=80,
        num_queries=100,
        aux_loss=True,
    ),
    criterion=L(SetCriterion)(
        num_classes="${..detr.num_classes}",
        matcher=L(HungarianMatcher)(cost_class=1.0, cost_bbox=5.0, cost_giou=2.0),
        eos_coef=0.1,
        loss_ce=1.0,
        loss_bbox=5.0,
        loss_giou=2.0,
    ),
    # ImageNet statistics x 255, RGB (the mapper gives uint8 RGB images)
    pixel_mean=[123.675, 116.280, 103.530],
    pixel_std=[58.395, 57.120, 57.375],
    score_thresh=0.0,
)
