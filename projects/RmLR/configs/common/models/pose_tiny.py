"""A tiny Detectron2 keypoint model for the synthetic dataset (CPU): Keypoint R-CNN's parts
(``common/models/pose.py``) with a 4-block ResNet (16-128 channels, trainable batch norm), a
32-channel FPN and a 4 x 64 keypoint head; 17 COCO keypoints, RGB input.

Its weights come from ``benchmarks/pose_synthetic.py`` (backbone + keypoint head trained on the
synthetic persons' exact keypoints, saved in Detectron2's names), e.g.
``output/pose_synthetic/keypoint_tiny/model_final.pth``.
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import KRCNNConvDeconvUpsampleHead

from rmlr.modeling.pose_estimation import FrozenPoseEstimator, make_resnet_stages

from .pose import pose_ire

pose_estimator = L(FrozenPoseEstimator)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=16, norm="BN"),
            stages=L(make_resnet_stages)(
                num_blocks_per_stage=[1, 1, 1, 1],
                stem_out_channels=16,
                res2_out_channels=16,  # res5: 128 channels
                block="basic",
                norm="BN",
            ),
            out_features=["res2", "res3", "res4", "res5"],
        ),
        in_features="${.bottom_up.out_features}",
        out_channels=32,
        top_block=L(LastLevelMaxPool)(),
    ),
    keypoint_in_features=["p2", "p3", "p4", "p5"],
    keypoint_pooler=L(ROIPooler)(
        output_size=14,
        scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32),
        sampling_ratio=0,
        pooler_type="ROIAlignV2",
    ),
    keypoint_head=L(KRCNNConvDeconvUpsampleHead)(
        input_shape=L(ShapeSpec)(channels=32, height=14, width=14),
        num_keypoints=17,
        conv_dims=[64] * 4,
        loss_normalizer="visible",
    ),
    pixel_mean=[123.675, 116.28, 103.53],  # ImageNet statistics, RGB order
    pixel_std=[58.395, 57.12, 57.375],
    input_format="RGB",
    image_format="RGB",
    checkpoint="./output/pose_synthetic/keypoint_tiny/model_final.pth",
)

pose_ire.update(
    feature_level="p3",  # stride 8: 20 x 20 cells on 160 px images
    in_channels=256,  # the tiny DETR's C5
    output_dim=64,
    map_size=16,
    pose_conv_dims=[16, 32],  # 16 -> 4 x 4 cells x 32 channels -> 64
)
