"""The pose-guided configs (Table 9 rows and the tiny one): load, round-trip through
``LazyConfig.save`` and the project's YAML loader, build on the meta device with the model zoo's
Keypoint R-CNN R50-FPN shapes, freeze exactly the two frozen stages, and differ from their base
RmLR configs only where they should."""

import glob
import os
import re

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from omegaconf import OmegaConf

import rmlr  # noqa: F401
from rmlr.config.loading import load_config
from rmlr.modeling.interactive_relation_encoder import PoseGuidedRelationEncoder
from rmlr.modeling.pose_estimation import FrozenPoseEstimator

CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "projects", "RmLR", "configs"
)
POSE_CONFIGS = sorted(glob.glob(os.path.join(CONFIGS, "pose", "*.py")))
NAMES = [os.path.basename(p)[:-3] for p in POSE_CONFIGS]
MODEL_ZOO_R50 = (
    "detectron2://COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x/137849621/model_final_a6e10b.pkl"
)


def load(name, folder="pose"):
    return LazyConfig.load(os.path.join(CONFIGS, folder, name + ".py"))


def meta_model(cfg, *overrides):
    cfg = LazyConfig.apply_overrides(cfg, list(overrides))
    cfg.model.entity_detector.checkpoint = ""
    if "pose_estimator" in cfg.model:
        cfg.model.pose_estimator.checkpoint = ""
    with torch.device("meta"):
        return instantiate(cfg.model)


def shapes(model):
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips(name, tmp_path):
    cfg = load(name)
    path = str(tmp_path / "config.yaml")
    LazyConfig.save(cfg, path)
    back = load_config(path)  # the project's data-only YAML loader
    assert OmegaConf.to_container(back.model, resolve=True) == OmegaConf.to_container(
        LazyConfig.load(path).model, resolve=True
    )
    assert back.model.ire.mode == "replace"


@pytest.mark.parametrize("name", [n for n in NAMES if "tiny" not in n])
def test_paper_pose_configs(name):
    cfg = load(name)
    assert cfg.model.pose_estimator.checkpoint == MODEL_ZOO_R50
    base = name.replace("rmlr_pose_", "rmlr_")
    model = meta_model(cfg)
    assert isinstance(model.pose_estimator, FrozenPoseEstimator)
    assert isinstance(model.ire, PoseGuidedRelationEncoder) and model.ire.ire is None
    # Keypoint R-CNN R50-FPN as the model zoo's: its head and backbone shapes
    head = model.pose_estimator.roi_heads.keypoint_head
    assert (
        head.score_lowres.weight.shape == (512, 17, 4, 4) and head.conv_fcn8.weight.shape[0] == 512
    )
    assert len(model.pose_estimator.backbone.bottom_up.res4) == 6
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(re.match(r"(entity_detector|pose_estimator)\.", n) for n in frozen)
    assert any(n.startswith("pose_estimator.") for n in frozen)
    # only the IRE changes against the base config (plus the pose stage)
    a, b = shapes(meta_model(load(base, "rmlr"))), shapes(model)
    changed = {n for n in a.keys() | b.keys() if a.get(n) != b.get(n)}
    assert changed and all(re.match(r"(ire|pose_estimator)\.", n) for n in changed)
    # mode "concat" keeps the base IRE inside, unchanged
    both = shapes(meta_model(cfg, "model.ire.mode=concat"))
    base_ire = {n[len("ire.") :]: s for n, s in a.items() if n.startswith("ire.")}
    inner = {n[len("ire.ire.") :]: s for n, s in both.items() if n.startswith("ire.ire.")}
    assert base_ire and inner == base_ire
    assert "ire.fuse_fc.weight" in both and "ire.global_fc.weight" not in both


def test_tiny_pose_config_instantiates_for_real():
    cfg = load("rmlr_pose_tiny_synthetic")
    assert cfg.model.pose_estimator.checkpoint.endswith("keypoint_tiny/model_final.pth")
    cfg.model.entity_detector.checkpoint = ""
    cfg.model.pose_estimator.checkpoint = ""
    model = instantiate(cfg.model)
    assert model.ire.mode == "replace" and model.pose_estimator.num_keypoints == 17
    assert not model.pose_estimator.weights_loaded
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < 2_000_000
