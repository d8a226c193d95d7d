"""Tiny RmLR, synthetic zero-shot UC (unseen combinations: cup inspect, sports ball carry, bicycle
look_at): GEN-VLKT/HOICLIP training protocol, the visual classifier trained on the seen classes,
the language classifier blended with w = 0.5; evaluation adds unseen / seen mAP.

``benchmarks/zero_shot_synthetic.py`` trains it (and the UV variant) over several seeds.
"""

from detectron2.config import LazyCall as L

from rmlr.data import seen_valid_verbs_from_metadata, unseen_hoi_ids_from_metadata

# (underscore: not a top-level config key, its interpolations are relative to model)
from ..common.models.language_classifier import language_classifier as _language_classifier
from .rmlr_tiny_synthetic import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "synthetic_hoi_train_zs_uc"
model.train_valid_verbs_per_object = L(seen_valid_verbs_from_metadata)(
    dataset_name="${...dataloader.train.dataset.names}"
)
model.language_classifier = _language_classifier
model.language_classifier.hoi_classes.dataset_name = "${....dataloader.train.dataset.names}"
dataloader.evaluator.unseen_hoi_ids = L(unseen_hoi_ids_from_metadata)(
    dataset_name="${...train.dataset.names}"
)
train.output_dir = "./output/rmlr_tiny_synthetic_zs_uc"
