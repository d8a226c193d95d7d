"""Batched inference: an image's predictions do not depend on the other images of its batch
(the entity stage runs each image size without padding, the HOI head ignores padded cells), and
the evaluation loader batches ``dataloader.test.batch_size`` images."""

import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset

import rmlr  # noqa: F401  (registers datasets and meta-architectures)
from rmlr.data import build_hoi_test_loader
from rmlr.utils.cost import pin_detections

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
FIELDS = ("pred_subject_boxes", "pred_object_boxes", "pred_object_classes", "pred_verb_classes")


def tiny_model(pad_free=True):
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    cfg.model.entity_detector.pad_free_inference = pad_free
    cfg.model.text_teacher = None
    cfg.model.cross_modal = None
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    # random weights detect nothing: 3 persons + 4 objects in every image (15 pairs per image)
    pin_detections(model.entity_detector.detector.detr, 3, 4)
    return model


def images(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g), "height": h}
        | {"width": w}
        for h, w in sizes
    ]


def assert_same(a, b, atol=1e-5):
    assert len(a) == len(b) and len(a) > 0
    for k in FIELDS:
        x, y = a.get(k), b.get(k)
        x, y = (x.tensor, y.tensor) if hasattr(x, "tensor") else (x, y)
        torch.testing.assert_close(x, y, rtol=0, atol=atol if x.is_floating_point() else 0)
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-5, atol=1e-6)


SIZES = [(160, 213), (128, 170), (160, 213), (144, 160), (170, 128)]


def test_a_batch_gives_each_image_what_it_gets_alone():
    model = tiny_model()
    inputs = images(SIZES)
    with torch.no_grad():
        alone = [model([x])[0]["hoi_instances"] for x in inputs]
        for batch in ([0, 1, 2, 3, 4], [3, 0], [4, 2, 1]):
            together = model([inputs[i] for i in batch])
            for i, out in zip(batch, together):
                assert_same(out["hoi_instances"], alone[i])


def test_a_padded_batch_would_not():
    """The check above can fail: DETR run on the padded batch changes the smaller images'
    features (its convolutions see the padding), hence their scores."""
    model = tiny_model(pad_free=False)
    inputs = images(SIZES[:2])
    with torch.no_grad():
        alone = model([inputs[1]])[0]["hoi_instances"]
        together = model(inputs)[1]["hoi_instances"]
    assert len(alone) == len(together)
    assert (alone.scores - together.scores).abs().max() > 1e-4


def test_loader_batches_in_dataset_order():
    data = [{"i": i} for i in range(10)]
    loader = build_hoi_test_loader(data, mapper=None, batch_size=4)
    batches = [[d["i"] for d in b] for b in loader]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="dataloader.test.batch_size"):
            build_hoi_test_loader(data, mapper=None, batch_size=bad)


class Collect(DatasetEvaluator):
    def reset(self):
        self.out = {}

    def process(self, inputs, outputs):
        for x, y in zip(inputs, outputs):
            self.out[x["image_id"]] = y["hoi_instances"].to("cpu")

    def evaluate(self):
        return {}


def test_evaluation_with_batch_size_3_equals_batch_size_1():
    cfg = LazyConfig.load(TINY)
    model = tiny_model()
    name = cfg.dataloader.test.dataset.names
    cfg.dataloader.test.mapper.dataset_name = name
    dicts = DatasetCatalog.get(name)[:7]
    results = {}
    for batch_size in (1, 3):
        cfg.dataloader.test.batch_size = batch_size
        cfg.dataloader.test.dataset = dicts
        loader = instantiate(cfg.dataloader.test)
        assert len(loader) == -(-7 // batch_size)
        collect = Collect()
        inference_on_dataset(model, loader, collect)
        results[batch_size] = collect.out
    assert results[1].keys() == results[3].keys() and len(results[1]) == 7
    for k in results[1]:
        assert_same(results[3][k], results[1][k])
