"""RmLR with the pose-guided IRE: pose maps against hand-computed values, both modes on normal and
edge-case images (no human, one entity, no entity) in training and inference, and the tiny pose
config trained and evaluated end to end by the training script, then re-evaluated from its
one-file checkpoint."""

import json
import os
import subprocess
import sys

import pytest
import torch
from detectron2.config import instantiate
from model_helpers import tiny_irm
from pose_helpers import (
    POSE_CONFIG,
    SHIPPED_DETR,
    keypoint_rcnn,
    save_model_zoo_pkl,
    save_pth,
    tiny_pose_config,
)
from test_model_rmlr import (
    EDGE_CASES,
    NORMAL,
    NORMAL_GT,
    VALID,
    C,
    FixedDetector,
    V,
    image,
    trainable,
)

import rmlr  # noqa: F401
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine
from rmlr.modeling.interactive_relation_encoder import (
    InteractiveRelationEncoder,
    PoseGuidedRelationEncoder,
    union_pose_maps,
)
from rmlr.modeling.meta_arch.rmlr import RmLR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")


def test_union_pose_maps_hand_computed():
    # human box 0..40 x 0..40, object 40..80 x 0..40: union 0..80 x 0..40, G = 4 -> cells of
    # 20 x 10 px. One keypoint whose heatmap (M = 4) peaks at heatmap cell (row 1, col 2), i.e.
    # x in 20..30, y in 10..20 of the human box: centre (25, 15).
    logits = torch.full((1, 1, 4, 4), -50.0)
    logits[0, 0, 1, 2] = 0.0
    maps = union_pose_maps(
        logits, torch.tensor([[0.0, 0, 40, 40]]), torch.tensor([[40.0, 0, 80, 40]]), 4
    )
    assert maps.shape == (1, 3, 4, 4)
    # union cell (row 1, col 1) has centre (30, 15): half way between heatmap cells 2 and 3 in x
    # -> bilinear 0.5 of the peak; cell (1, 0) centre (10, 15) is far from it -> ~0
    torch.testing.assert_close(maps[0, 0, 1, 1], torch.tensor(0.5), atol=1e-6, rtol=0)
    assert maps[0, 0, 1, 0] < 1e-6 and maps[0, 0, :, 2:].abs().max() < 1e-6  # object side: 0
    human = torch.tensor([[1.0, 1, 0, 0]] * 4)
    torch.testing.assert_close(maps[0, 1], human)
    torch.testing.assert_close(maps[0, 2], 1 - human)


@pytest.fixture(scope="module")
def pose_checkpoint(tmp_path_factory):
    return save_pth(keypoint_rcnn(), tmp_path_factory.mktemp("pose") / "keypoint.pth")


def build(entities, mode, checkpoint):
    torch.manual_seed(0)
    cfg = tiny_pose_config()
    cfg.checkpoint = checkpoint
    ire = InteractiveRelationEncoder(
        position_embedding=PositionEmbeddingSine(num_pos_feats=4),
        in_channels=C,
        embed_dim=8,
        num_heads=2,
        ffn_dim=16,
        output_dim=6,
        feature_stride=8,
    )
    encoder = PoseGuidedRelationEncoder(
        mode=mode,
        ire=ire,
        num_keypoints=17,
        pose_channels=32,
        feature_level="p3",
        in_channels=C,
        output_dim=6,
        map_size=8,
        pose_conv_dims=[4],
    )
    return RmLR(
        entity_detector=FixedDetector(entities),
        ire=encoder,
        irm=tiny_irm(num_verbs=V, context=6),
        pose_estimator=instantiate(cfg),
        num_verbs=V,
        valid_verbs_per_object=VALID,
    )


@pytest.mark.parametrize("mode", ["replace", "concat", "ire+pose"])
def test_both_modes_train_and_infer(mode, pose_checkpoint):
    model = build([NORMAL], mode, pose_checkpoint).train()
    assert (model.ire.ire is None) == (mode == "replace")
    losses = model([image(**NORMAL_GT)])
    assert set(losses) == {"loss_hoi"} and torch.isfinite(losses["loss_hoi"])
    losses["loss_hoi"].backward()
    grads = {n: p.grad for n, p in trainable(model).items()}
    assert all(g is not None for n, g in grads.items() if n.startswith("ire.pose_net"))
    assert grads["ire.pose_net.0.weight"].abs().sum() > 0
    assert all(p.grad is None for p in model.pose_estimator.parameters())
    assert not any(
        m.training for m in model.pose_estimator.modules() if m is not model.pose_estimator
    )
    model.eval()
    with torch.no_grad():
        out = model([image()])[0]["hoi_instances"]
    assert len(out) > 0 and torch.isfinite(out.scores).all()


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_case_images(case, pose_checkpoint):
    entities, gt = EDGE_CASES[case]
    model = build([entities, NORMAL], "concat", pose_checkpoint).train()
    losses = model([image(**gt), image(**NORMAL_GT)])
    assert torch.isfinite(losses["loss_hoi"])
    losses["loss_hoi"].backward()
    alone = build([entities], "replace", pose_checkpoint)
    losses = alone.train()([image(**gt)])
    assert torch.isfinite(losses["loss_hoi"])
    with torch.no_grad():
        out = alone.eval()([image(**gt)])
    assert len(out[0]["hoi_instances"]) == 0 or case == "no_gt_pair" or case == "no_matched_pair"


def test_pose_stage_is_required_exactly_with_a_pose_guided_ire(pose_checkpoint):
    model = build([NORMAL], "replace", pose_checkpoint)
    with pytest.raises(ValueError, match="pose_estimator"):
        RmLR(
            entity_detector=model.entity_detector,
            ire=model.ire,
            irm=model.irm,
            num_verbs=V,
            valid_verbs_per_object=VALID,
        )


def run(args, log):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, TRAIN_NET, *args], capture_output=True, text=True, env=env, timeout=900
    )
    log.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc


def test_tiny_pose_config_trains_and_evaluates_end_to_end(tmp_path):
    pose = save_model_zoo_pkl(keypoint_rcnn(), tmp_path / "keypoint_rcnn_tiny.pkl")
    out = tmp_path / "run"
    run(
        [
            "--config-file",
            POSE_CONFIG,
            "model.ire.mode=concat",
            f"model.entity_detector.checkpoint={SHIPPED_DETR}",
            f"model.pose_estimator.checkpoint={pose}",
            f"train.output_dir={out}",
            "train.max_iter=3",
            "dataloader.train.total_batch_size=2",
        ],
        tmp_path / "train.log",
    )
    with open(out / "results.json") as f:
        trained = json.load(f)["hico_det"]
    assert 0.0 <= trained["full"] <= 100.0
    with open(out / "metrics.json") as f:
        metrics = [json.loads(line) for line in f if line.strip()]
    pairs = [m["rmlr/pairs_per_image"] for m in metrics if "rmlr/pairs_per_image" in m]
    assert pairs and max(pairs) > 0  # the pose stage ran on detected humans
    state = torch.load(out / "model_final.pth", weights_only=True)["model"]
    assert any(k.startswith("pose_estimator.roi_heads.keypoint_head.") for k in state)
    # the one-file model re-evaluates without the keypoint file (its weights are inside)
    again = tmp_path / "eval"
    run(
        [
            "--config-file",
            POSE_CONFIG,
            "--eval-only",
            "model.ire.mode=concat",
            f"train.init_checkpoint={out / 'model_final.pth'}",
            f"model.pose_estimator.checkpoint={tmp_path / 'absent.pkl'}",
            f"train.output_dir={again}",
        ],
        tmp_path / "eval.log",
    )
    with open(again / "results.json") as f:
        assert json.load(f)["hico_det"] == trained
