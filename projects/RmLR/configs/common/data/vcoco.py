"""V-COCO data: trainval -> test with UPT's augmentation and batch, role AP (S1 / S2) evaluator.

Train: ``vcoco_trainval`` (images without interactions dropped: 4,969 of 5,400).
Test: ``vcoco_test`` (all 4,946 images). Experiment configs set
``dataloader.evaluator.output_dir = "${train.output_dir}"`` to keep the predictions file.
"""

from detectron2.config import LazyCall as L
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from omegaconf import OmegaConf

from rmlr.data import HOIDatasetMapper, build_upt_augmentation
from rmlr.evaluation import VCOCOEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="vcoco_trainval", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=True,
        augmentations=L(build_upt_augmentation)(is_train=True),
        image_format="RGB",
    ),
    total_batch_size=16,  # UPT: 8 GPUs x 2 images
    num_workers=4,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="vcoco_test", filter_empty=False),
    mapper=L(HOIDatasetMapper.for_dataset)(
        dataset_name="${..dataset.names}",
        is_train=False,
        augmentations=L(build_upt_augmentation)(is_train=False),
        image_format="RGB",
    ),
    num_workers=4,
)

dataloader.evaluator = L(VCOCOEvaluator)(dataset_name="${..test.dataset.names}", output_dir=None)
