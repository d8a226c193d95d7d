"""V-COCO data: trainval -> test with UPT's augmentation and batch, role AP (S1 / S2) evaluator.

The HICO-DET data config with the V-COCO splits and evaluator.
Train: ``vcoco_trainval`` (images without interactions dropped: 4,969 of 5,400).
Test: ``vcoco_test`` (all 4,946 images). Experiment configs set
``dataloader.evaluator.output_dir = "${train.output_dir}"`` to keep the predictions file.
"""

from detectron2.config import LazyCall as L

from rmlr.evaluation import VCOCOEvaluator

from .hico_det import dataloader

dataloader.train.dataset.names = "vcoco_trainval"
dataloader.test.dataset.names = "vcoco_test"
dataloader.evaluator = L(VCOCOEvaluator)(dataset_name="${..test.dataset.names}", output_dir=None)
