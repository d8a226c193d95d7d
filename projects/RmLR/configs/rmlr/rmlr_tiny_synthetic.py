"""Tiny RmLR on the embedded synthetic dataset, for CPU runs and tests: the tiny DETR, small IRE /
IRM / alignment widths and the offline MiniLM teacher; same structure as RmLR-R50.

Stage 1 first (it writes the frozen detector's weights):
    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/detr/detr_tiny_synthetic.py
    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/rmlr/rmlr_tiny_synthetic.py

400 iters = 8 epochs x 400 img / 8 img.
"""

from detectron2.config import LazyCall as L

from rmlr.modeling.cross_modal_learning.text_teacher import installed_minilm_path

from ..common.data.synthetic import dataloader
from ..common.models.detr_tiny import model as tiny_detr
from ..common.models.rmlr import model
from ..common.optim import optimizer
from ..common.schedule import cosine as lr_multiplier
from ..common.train import train

tiny_detr.criterion = None
model.entity_detector.detector = tiny_detr
model.entity_detector.checkpoint = "./output/detr_tiny_synthetic/model_final.pth"  # stage 1
model.num_verbs = 8  # carry, hold, inspect, kick, look_at, no_interaction, ride, throw
model.valid_verbs_per_object.dataset_name = "synthetic_hoi_train"

# tiny DETR: C5 has 256 channels at stride 16 (DC5), decoder width 64
model.ire.update(
    in_channels=256, embed_dim=32, num_heads=2, ffn_dim=64, output_dim=64, feature_stride=16
)
model.ire.position_embedding.num_pos_feats = 16  # embed_dim / 2
model.irm.spatial_encoder.update(hidden_dims=[16, 32], output_dim=32)
model.irm.update(
    unary_dim=64,
    cooperative_dim=32,
    cooperative_heads=2,
    pair_dim=64,
    hidden_dim=64,
    num_heads=2,
    ffn_dim=128,
)
model.text_teacher.model_name_or_path = L(installed_minilm_path)()
model.text_teacher.embed_dim = 384
model.cross_modal.ire_branch.update(hidden_dim=64, num_heads=2, ffn_dim=128)
model.cross_modal.irm_branch.update(hidden_dim=64, num_heads=2, ffn_dim=128)

dataloader.train.total_batch_size = 8
train.max_iter = 400
train.checkpointer.period = 200
train.log_period = 10
train.output_dir = "./output/rmlr_tiny_synthetic"
dataloader.evaluator.output_dir = "${train.output_dir}"  # predictions, per-class AP CSV / plot
