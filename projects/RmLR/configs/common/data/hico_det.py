"""HICO-DET data: UPT's augmentation and batch, the official-protocol evaluator.

Train: ``hico_det_train`` (images without interactions dropped: 37,633 of 38,118).
Test: ``hico_det_test`` (all 9,658 images; the evaluation counts detections on the 112 without
GT pairs). The experiment configs set ``dataloader.evaluator.output_dir = "${train.output_dir}"``:
the predictions file, the per-class AP CSV and its plot are written to the run's folder.
"""

from detectron2.config import LazyCall as L
from detectron2.data import (
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from omegaconf import OmegaConf

from rmlr.data import HOIDatasetMapper, build_hoi_test_loader, build_upt_augmentation
from rmlr.evaluation import HICODetEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="hico_det_train", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=True,
        augmentations=L(build_upt_augmentation)(is_train=True),
        image_format="RGB",
    ),
    total_batch_size=16,  # UPT: 8 GPUs x 2 images
    num_workers=4,
)

dataloader.test = L(build_hoi_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="hico_det_test", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=False,
        augmentations=L(build_upt_augmentation)(is_train=False),
        image_format="RGB",
    ),
    batch_size=1,  # images per forward (predictions do not depend on it)
    num_workers=4,
)

dataloader.evaluator = L(HICODetEvaluator)(dataset_name="${..test.dataset.names}", output_dir=None)
