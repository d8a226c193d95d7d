"""RmLR-R50 on V-COCO (trainval -> test), the paper's schedule: AdamW 1e-4, cosine decay,
20 epochs, total batch 8, MobileBERT teacher. Table 2 / 3 variants are the ``rmlr_r50_vcoco_*``
files.

20 ep = 13,500 iters x 8 img / 5,400 img (trainval).
The DETR must be fine-tuned on COCO without the V-COCO test images (Appendix B).

Table 8 (layers of the IRM and of the cross-modal self-attention) as command-line overrides:
    model.irm.num_layers=2 \
    model.cross_modal.ire_branch.num_layers=1 model.cross_modal.irm_branch.num_layers=1
"""

from ..common.data.vcoco import dataloader
from ..common.models.rmlr import model
from ..common.optim import optimizer
from ..common.schedule import cosine as lr_multiplier
from ..common.train import train

model.num_verbs = 24  # the 24 V-COCO action-role classes
model.valid_verbs_per_object.dataset_name = "vcoco_trainval"
model.entity_detector.checkpoint = "checkpoints/detr-r50-vcoco.pth"
dataloader.train.total_batch_size = 8
train.max_iter = 13500
train.output_dir = "./output/rmlr_r50_vcoco"
dataloader.evaluator.output_dir = "${train.output_dir}"  # predictions, per-class AP CSV / plot
