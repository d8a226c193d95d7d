"""The data LazyConfigs (``configs/common/data``): load, round-trip through ``LazyConfig.save``,
and build working loaders (on the synthetic dataset, generated into a temporary folder)."""

import os

import pytest
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog

from rmlr.data import HOIDatasetMapper, register_synthetic_hoi

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs", "common", "data")


@pytest.mark.parametrize("name", ["hico_det", "vcoco", "synthetic"])
def test_config_round_trips_and_builds_its_mapper_and_evaluator(tmp_path, name):
    cfg = LazyConfig.load(os.path.join(CONFIGS, f"{name}.py"))
    path = str(tmp_path / "config.yaml")
    LazyConfig.save(cfg, path)
    cfg = LazyConfig.load(path)
    for split, is_train in (("train", True), ("test", False)):
        mapper = instantiate(cfg.dataloader[split].mapper)
        assert isinstance(mapper, HOIDatasetMapper) and mapper.is_train == is_train
    evaluator = instantiate(cfg.dataloader.evaluator)
    expected = {"hico_det": "HICODetEvaluator", "vcoco": "VCOCOEvaluator"}.get(
        name, "HICODetEvaluator"
    )
    assert type(evaluator).__name__ == expected


def test_synthetic_loaders_yield_batches(tmp_path):
    names = ("test_cfg_synthetic_train", "test_cfg_synthetic_test")
    register_synthetic_hoi(str(tmp_path / "synthetic_hoi"), names=names, num_train=16, num_test=4)
    try:
        cfg = LazyConfig.load(os.path.join(CONFIGS, "synthetic.py"))
        cfg.dataloader.train.dataset.names = names[0]
        cfg.dataloader.test.dataset.names = names[1]
        cfg.dataloader.train.total_batch_size = 4
        batch = next(iter(instantiate(cfg.dataloader.train)))
        assert len(batch) == 4
        assert all("hoi_text" in x and x["interactions"].shape[1] == 3 for x in batch)
        test = list(instantiate(cfg.dataloader.test))
        assert len(test) == 4 and all(min(x[0]["image"].shape[1:]) == 160 for x in test)
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
