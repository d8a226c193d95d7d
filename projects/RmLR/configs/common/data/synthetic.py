"""Embedded synthetic HOI data (``rmlr.data.synthetic``): generated on first use, no download.

Images are 144-176 x 128-144 pixels, so UPT's augmentation is scaled down (same structure: flip,
colour jitter, multi-scale resize or resize + crop + resize); the test resize is 160 / 320.
Train: ``synthetic_hoi_train`` (400 images, the few without entities dropped); test:
``synthetic_hoi_test`` (100 images, all kept), evaluated with the HICO-DET protocol.
``num_workers=0``: decoding these PNGs is cheaper than starting worker processes.
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
    dataset=L(get_detection_dataset_dicts)(names="synthetic_hoi_train", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=True,
        augmentations=L(build_upt_augmentation)(
            is_train=True,
            scales=(128, 160, 192),
            max_size=320,
            crop_pre_scales=(128, 160),
            crop_size=(96, 160),
        ),
        image_format="RGB",
    ),
    total_batch_size=8,
    num_workers=0,
)

dataloader.test = L(build_hoi_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="synthetic_hoi_test", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=False,
        augmentations=L(build_upt_augmentation)(is_train=False, test_size=160, max_size=320),
        image_format="RGB",
    ),
    batch_size=1,  # images per forward (predictions do not depend on it)
    num_workers=0,
)

dataloader.evaluator = L(HICODetEvaluator)(dataset_name="${..test.dataset.names}", output_dir=None)
