"""Every DETR config loads, saves and instantiates; the stage-1 configs say what the issue asks."""

import glob
import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog

from rmlr.modeling.entity_detection.detr import DETRDetector

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")
DETR_CONFIGS = sorted(glob.glob(os.path.join(CONFIGS, "detr", "*.py")))
MODEL_CONFIGS = [os.path.join(CONFIGS, "common", "models", f) for f in ("detr.py", "detr_tiny.py")]


@pytest.mark.parametrize("path", DETR_CONFIGS + MODEL_CONFIGS, ids=os.path.basename)
def test_config_loads_saves_and_builds(path, tmp_path):
    cfg = LazyConfig.load(path)
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    again = LazyConfig.load(str(tmp_path / "config.yaml"))
    assert again.model.detr.num_classes == 80
    with torch.device("meta"):  # R50 / R101 without the memory or the init time
        model = instantiate(cfg.model)
    assert isinstance(model, DETRDetector)
    if "train" in cfg:
        assert cfg.train.clip_grad.max_norm == 0.1
        assert {"train", "optimizer", "lr_multiplier", "dataloader", "model"} <= set(cfg)


def test_r50_r101_and_tiny_architectures():
    build = {}
    for name in ("detr_r50.py", "detr_r101.py", "detr_tiny_synthetic.py"):
        with torch.device("meta"):
            build[name] = instantiate(LazyConfig.load(os.path.join(CONFIGS, "detr", name)).model)
    r50, r101, tiny = build.values()
    assert len(r50.detr.backbone.res4) == 6 and len(r101.detr.backbone.res4) == 23
    assert r50.detr.query_embed.weight.shape == (100, 256)
    assert len(r50.detr.transformer.encoder.layers) == len(r50.detr.transformer.decoder.layers) == 6
    assert r50.detr.class_embed.weight.shape == (81, 256)
    assert r50.detr.transformer.encoder.layers[0].linear1.out_features == 2048
    assert tiny.detr.backbone.output_shape()["res5"].stride == 16  # DC5
    n_params = sum(p.numel() for p in r50.parameters())
    assert 41.0e6 < n_params < 41.6e6


@pytest.mark.parametrize(
    "name,train_set,test_set,max_iter",
    [
        ("detr_r50_hico_det.py", "hico_det_train", "hico_det_test", 70562),
        ("detr_r101_hico_det.py", "hico_det_train", "hico_det_test", 70562),
        ("detr_r50_vcoco.py", "vcoco_trainval", "vcoco_test", 10125),
        ("detr_r101_vcoco.py", "vcoco_trainval", "vcoco_test", 10125),
    ],
)
def test_stage1_configs(name, train_set, test_set, max_iter):
    cfg = LazyConfig.load(os.path.join(CONFIGS, "detr", name))
    assert instantiate(cfg.dataloader.train.dataset.names) == train_set + "_entities"
    assert instantiate(cfg.dataloader.test.dataset.names) == test_set + "_entities"
    assert cfg.dataloader.train.total_batch_size == 16
    assert cfg.train.max_iter == max_iter and cfg.train.eval_period == 0  # after the last iter
    assert cfg.optimizer.lr == 1e-4 and cfg.optimizer.params.backbone_lr == 1e-5
    assert cfg.optimizer.weight_decay == 1e-4
    assert cfg.dataloader.evaluator.output_dir == cfg.train.output_dir
    assert cfg.train.init_checkpoint.endswith(("r50-coco.pth", "r101-coco.pth"))
    criterion = cfg.model.criterion
    assert (
        criterion.matcher.cost_class,
        criterion.matcher.cost_bbox,
        criterion.matcher.cost_giou,
    ) == (1, 5, 2)
    assert (criterion.loss_ce, criterion.loss_bbox, criterion.loss_giou, criterion.eos_coef) == (
        1,
        5,
        2,
        0.1,
    )
    assert cfg.model.detr.aux_loss


@pytest.mark.skipif(
    "synthetic_hoi_test" not in DatasetCatalog.list(),
    reason="the synthetic HOI dataset is not registered by rmlr.data",
)
def test_tiny_synthetic_config_evaluates_end_to_end(tmp_path):
    from detectron2.evaluation import inference_on_dataset

    cfg = LazyConfig.load(os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py"))
    cfg.train.output_dir = str(tmp_path)
    model = instantiate(cfg.model).eval()
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    assert "AP" in results["bbox"]
