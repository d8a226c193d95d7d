"""RmLR-R50, HICO-DET zero-shot NF-UC (120 unseen non-rare-first combinations): as ``rmlr_r50_hico_det_zs_rf_uc``."""

from .rmlr_r50_hico_det_zs_rf_uc import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset.names = "hico_det_train_zs_nf_uc"
train.output_dir = "./output/rmlr_r50_hico_det_zs_nf_uc"
