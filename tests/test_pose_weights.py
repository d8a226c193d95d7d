"""The pose stage loads Detectron2 keypoint checkpoints strictly (``.pth`` and the model zoo's
numpy ``.pkl``), refuses other architectures and keypoint counts naming the file and key, and
never runs with random weights."""

import os
import pickle
import re

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes
from pose_helpers import (
    POSE_CONFIG,
    keypoint_rcnn,
    save_model_zoo_pkl,
    save_pth,
    tiny_pose_config,
)

import rmlr  # noqa: F401
from rmlr.checkpoint import UnsafeCheckpointError
from rmlr.engine import check_weight_sources
from rmlr.modeling.pose_estimation import (
    POSE_CHECKPOINT_KEY,
    FrozenPoseEstimator,
    KeypointCheckpointError,
    load_keypoint_checkpoint,
)

UNUSED = ("proposal_generator.", "roi_heads.box_head.", "roi_heads.box_predictor.")


@pytest.fixture(scope="module")
def d2_model():
    return keypoint_rcnn()


def image(h=96, w=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)}


@pytest.mark.parametrize("fmt", ["pth", "pkl"])
def test_detectron2_keypoint_checkpoint_loads_exactly(d2_model, fmt, tmp_path):
    path = tmp_path / f"keypoint.{fmt}"
    path = save_pth(d2_model, path) if fmt == "pth" else save_model_zoo_pkl(d2_model, path)
    cfg = tiny_pose_config()
    cfg.checkpoint = path
    estimator = instantiate(cfg)
    assert estimator.weights_loaded and not estimator.training
    ours = estimator.state_dict()
    theirs = {k: v for k, v in d2_model.state_dict().items() if not k.startswith(UNUSED)}
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # same heatmaps as Detectron2's own modules on the same boxes
    x = image()
    boxes = torch.tensor([[10.0, 5.0, 60.0, 90.0], [70.0, 20.0, 110.0, 80.0]])
    out = estimator([x], boxes, torch.zeros(2, dtype=torch.int64))
    with torch.no_grad():
        images = d2_model.preprocess_image([x])
        features = d2_model.backbone(images.tensor)
        heads = d2_model.roi_heads
        pooled = heads.keypoint_pooler(
            [features[f] for f in heads.keypoint_in_features], [Boxes(boxes)]
        )
        expected = heads.keypoint_head.layers(pooled)
    assert out.heatmaps.shape == (2, 17, 56, 56)
    torch.testing.assert_close(out.heatmaps, expected)
    assert out.keypoints().shape == (2, 17, 3)
    inside = (out.keypoints()[..., 0] >= 10) & (out.keypoints()[..., 0] <= 60)
    assert inside[0].all()


def test_boxes_of_several_images_keep_their_order(d2_model, tmp_path):
    cfg = tiny_pose_config()
    cfg.checkpoint = save_pth(d2_model, tmp_path / "k.pth")
    estimator = instantiate(cfg)
    batch = [image(seed=0), image(80, 100, seed=1)]
    boxes = torch.tensor([[1.0, 2.0, 40.0, 70.0], [5.0, 5.0, 50.0, 60.0], [30.0, 10.0, 90.0, 70.0]])
    index = torch.tensor([1, 0, 1])
    together = estimator(batch, boxes, index).heatmaps
    for r in range(3):
        alone = estimator(
            [batch[int(index[r])]], boxes[r : r + 1], torch.zeros(1, dtype=torch.int64)
        )
        torch.testing.assert_close(together[r : r + 1], alone.heatmaps, atol=1e-4, rtol=1e-4)
    empty = estimator(batch, boxes[:0], index[:0])
    assert empty.heatmaps.shape == (0, 17, 56, 56) and empty.keypoints().shape == (0, 17, 3)


def test_wrong_keypoint_count_is_refused_naming_file_and_key(tmp_path):
    path = save_model_zoo_pkl(keypoint_rcnn(num_keypoints=14), tmp_path / "crowdpose.pkl")
    cfg = tiny_pose_config()
    cfg.checkpoint = path
    with pytest.raises(KeypointCheckpointError) as e:
        instantiate(cfg)
    msg = str(e.value)
    assert "14 keypoints" in msg and "17" in msg and path in msg
    assert "roi_heads.keypoint_head.score_lowres.weight" in msg and POSE_CHECKPOINT_KEY in msg
    # with the head set to 14 keypoints it loads
    cfg14 = tiny_pose_config(num_keypoints=14)
    cfg14.checkpoint = path
    assert instantiate(cfg14).num_keypoints == 14


def test_wrong_architecture_is_refused_naming_the_keys(tmp_path):
    path = save_pth(keypoint_rcnn(fpn_channels=48), tmp_path / "wide_fpn.pth")
    cfg = tiny_pose_config()
    cfg.checkpoint = path
    with pytest.raises(KeypointCheckpointError, match="wrong shape") as e:
        instantiate(cfg)
    assert "backbone.fpn_lateral2.weight" in str(e.value) and path in str(e.value)
    # a missing tensor and an unknown one
    state = keypoint_rcnn().state_dict()
    del state["roi_heads.keypoint_head.conv_fcn2.weight"]
    state["roi_heads.mask_head.predictor.weight"] = torch.zeros(1)
    torch.save({"model": state}, tmp_path / "edited.pth")
    cfg.checkpoint = str(tmp_path / "edited.pth")
    with pytest.raises(KeypointCheckpointError) as e:
        instantiate(cfg)
    msg = str(e.value)
    assert "1 missing key(s): roi_heads.keypoint_head.conv_fcn2.weight" in msg
    assert "1 unexpected key(s): roi_heads.mask_head.predictor.weight" in msg


def test_missing_weights_are_refused_naming_the_config_key(tmp_path):
    estimator = instantiate(tiny_pose_config())  # no checkpoint: random weights
    with pytest.raises(RuntimeError, match=re.escape(POSE_CHECKPOINT_KEY)):
        estimator(
            [image()], torch.tensor([[1.0, 1.0, 30.0, 50.0]]), torch.zeros(1, dtype=torch.int64)
        )
    cfg = tiny_pose_config()
    cfg.checkpoint = str(tmp_path / "absent.pkl")
    with pytest.raises(FileNotFoundError, match=re.escape(POSE_CHECKPOINT_KEY)):
        instantiate(cfg)
    # the training entry refuses before building anything
    rmlr_cfg = LazyConfig.load(POSE_CONFIG)
    rmlr_cfg.model.entity_detector.checkpoint = ""
    rmlr_cfg.train.allow_random_entity_detector = True
    rmlr_cfg.model.pose_estimator.checkpoint = str(tmp_path / "absent.pth")
    with pytest.raises(FileNotFoundError, match=re.escape(POSE_CHECKPOINT_KEY)):
        check_weight_sources(rmlr_cfg)
    rmlr_cfg.model.pose_estimator.checkpoint = ""
    with pytest.raises(ValueError, match=re.escape(POSE_CHECKPOINT_KEY)):
        check_weight_sources(rmlr_cfg)
    # ... unless the model checkpoint holds the pose stage
    check_weight_sources(rmlr_cfg, checkpoint={"model": {"pose_estimator.backbone.x": 0}})


def test_a_parent_checkpoint_with_every_pose_tensor_counts_as_weights(d2_model, tmp_path):
    cfg = tiny_pose_config()
    cfg.checkpoint = save_pth(d2_model, tmp_path / "k.pth")
    state = {"pose." + k: v for k, v in instantiate(cfg).state_dict().items()}
    parent = torch.nn.Module()
    parent.pose = instantiate(tiny_pose_config())
    partial = dict(list(state.items())[:5])
    parent.load_state_dict(partial, strict=False)
    assert not parent.pose.weights_loaded
    parent.load_state_dict(state)
    assert parent.pose.weights_loaded


def test_pickled_code_in_a_keypoint_file_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {"backbone.x": Payload()}, "__author__": "x"}, f)
    estimator = instantiate(tiny_pose_config())
    with pytest.raises(UnsafeCheckpointError):
        load_keypoint_checkpoint(estimator, str(path))
    assert isinstance(estimator, FrozenPoseEstimator) and not estimator.weights_loaded
