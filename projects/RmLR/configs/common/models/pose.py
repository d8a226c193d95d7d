"""The pose-guided IRE (paper Appendix G, Table 9): a frozen Detectron2 Keypoint R-CNN
(``COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x``: ResNet-50 + FPN, 14 x 14 ROIAlignV2 over p2-p5,
8 x 512 convs + deconv + 2x upsampling, 17 COCO keypoints) on the DETR humans, and the encoder
that turns its heatmaps and features into m^v (``rmlr.modeling.interactive_relation_encoder.
pose_guided_encoder`` has every choice).

An experiment uses it as (``configs/pose/*.py``)::

    pose_ire.ire = model.ire           # kept in mode "concat" (IRE + pose), dropped in "replace"
    model.ire = pose_ire
    model.pose_estimator = pose_estimator

Modes: ``model.ire.mode=replace`` (the paper's wording: pose replaces the IRE) or
``model.ire.mode=concat`` (= ``ire+pose``: both, fused). Keypoint weights:
``model.pose_estimator.checkpoint`` (a local path or a ``detectron2://`` / ``https://`` URL, read
without running code). The paper's pose model was trained on CrowdPose (14 keypoints); a CrowdPose
model in Detectron2's format loads with ``model.pose_estimator.keypoint_head.num_keypoints=14``.
A ResNet-101 pose model: ``model.pose_estimator.backbone.bottom_up.stages.depth=101
model.pose_estimator.checkpoint=detectron2://COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x/138363331/model_final_997cc7.pkl``.
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.model_zoo import get_config

from rmlr.modeling.interactive_relation_encoder import PoseGuidedRelationEncoder
from rmlr.modeling.pose_estimation import FrozenPoseEstimator

# Detectron2's own Keypoint R-CNN config (the one keypoint_rcnn_R_50_FPN_{1,3}x use)
_keypoint_rcnn = get_config("common/models/keypoint_rcnn_fpn.py").model
_heads = _keypoint_rcnn.roi_heads

pose_estimator = L(FrozenPoseEstimator)(
    backbone=_keypoint_rcnn.backbone,
    keypoint_in_features=_heads.keypoint_in_features,
    keypoint_pooler=_heads.keypoint_pooler,
    keypoint_head=_heads.keypoint_head,
    pixel_mean=_keypoint_rcnn.pixel_mean,
    pixel_std=_keypoint_rcnn.pixel_std,
    input_format=_keypoint_rcnn.input_format,  # BGR (the model zoo's)
    image_format="RGB",  # HOIDatasetMapper's
    checkpoint="detectron2://COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x/137849621/model_final_a6e10b.pkl",
)
# a LazyCall instead of the ShapeSpec object, so that the config saves as YAML
pose_estimator.keypoint_head.input_shape = L(ShapeSpec)(channels=256, height=14, width=14)

pose_ire = L(PoseGuidedRelationEncoder)(
    mode="replace",
    ire=None,
    num_keypoints="${..pose_estimator.keypoint_head.num_keypoints}",
    pose_channels="${..pose_estimator.backbone.out_channels}",
    feature_level="p4",  # stride 16: 50 x 50 cells at 800 x 800
    in_channels=2048,  # DETR's C5 (g^v in mode "replace")
    output_dim=512,  # Appendix B: m^v is 512-d
    map_size=32,
    pose_conv_dims=[32, 64, 128],  # 32 -> 4 x 4 cells x 128 channels -> 512
    pool_size=7,
    sampling_ratio=2,
)
