"""RmLR-R50, HICO-DET zero-shot RF-UC (120 unseen rare-first combinations; GEN-VLKT / HOICLIP
protocol, ``rmlr.data.subsets``): trained on ``hico_det_train_zs_rf_uc`` with the seen classes'
verb mask, evaluated on the full test set with the language classifier (w = 0.5) and unseen /
seen mAP. The other settings change only the training set: ``rmlr_r50_hico_det_zs_{nf_uc,uo,uv}``.

Schedule as the full set's (20 epochs of 37,633 images); the zero-shot sets are a little smaller.
"""

from detectron2.config import LazyCall as L

from rmlr.data import seen_valid_verbs_from_metadata, unseen_hoi_ids_from_metadata

# (underscore: not a top-level config key, its interpolations are relative to model)
from ..common.models.language_classifier import language_classifier as _language_classifier
from .rmlr_r50_hico_det import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_zs_rf_uc"
model.train_valid_verbs_per_object = L(seen_valid_verbs_from_metadata)(
    dataset_name="${...dataloader.train.dataset.names}"
)
model.language_classifier = _language_classifier
model.language_classifier.hoi_classes.dataset_name = "${....dataloader.train.dataset.names}"
dataloader.evaluator.unseen_hoi_ids = L(unseen_hoi_ids_from_metadata)(
    dataset_name="${...train.dataset.names}"
)
train.output_dir = "./output/rmlr_r50_hico_det_zs_rf_uc"
