"""Random-weight Detectron2 keypoint models and their checkpoints, for the pose-stage tests."""

import os
import pickle

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.layers import ShapeSpec
from detectron2.model_zoo import get_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
POSE_TINY = os.path.join(CONFIGS, "common", "models", "pose_tiny.py")
POSE_CONFIG = os.path.join(CONFIGS, "pose", "rmlr_pose_tiny_synthetic.py")
SHIPPED_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")


def tiny_pose_config(**head):
    """The tiny pose stage's config (no checkpoint); ``head`` overrides keypoint-head fields."""
    cfg = LazyConfig.load(POSE_TINY).pose_estimator
    cfg.checkpoint = ""
    cfg.keypoint_head.update(head)
    return cfg


def keypoint_rcnn(num_keypoints=17, fpn_channels=32, seed=0):
    """A whole Detectron2 ``GeneralizedRCNN`` Keypoint R-CNN (RPN, box head, keypoint head) from
    Detectron2's own config, with the tiny pose stage's backbone and head widths, random weights."""
    torch.manual_seed(seed)
    cfg = get_config("common/models/keypoint_rcnn_fpn.py").model
    tiny = tiny_pose_config()
    cfg.backbone = tiny.backbone
    cfg.backbone.out_channels = fpn_channels
    cfg.pixel_mean, cfg.pixel_std, cfg.input_format = tiny.pixel_mean, tiny.pixel_std, "RGB"
    cfg.proposal_generator.head.in_channels = fpn_channels
    cfg.roi_heads.box_head.input_shape = ShapeSpec(channels=fpn_channels, height=7, width=7)
    cfg.roi_heads.box_head.fc_dims = [16, 16]
    cfg.roi_heads.box_predictor.input_shape = ShapeSpec(channels=16)
    cfg.roi_heads.keypoint_head = tiny.keypoint_head
    cfg.roi_heads.keypoint_head.num_keypoints = num_keypoints
    cfg.roi_heads.keypoint_head.input_shape.channels = fpn_channels
    model = instantiate(cfg).eval()
    for name, buf in model.named_buffers():  # BN statistics other than the defaults
        if name.endswith(("running_mean", "running_var")):
            buf.copy_(torch.rand_like(buf) + 0.5)
    return model


def save_pth(model, path):
    torch.save({"model": model.state_dict(), "iteration": 7}, path)
    return str(path)


def save_model_zoo_pkl(model, path):
    """The model zoo's layout: a pickled dict of numpy arrays with ``__author__``."""
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo"}, f)
    return str(path)
