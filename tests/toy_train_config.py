"""Toy LazyConfig for the training-entry tests (see tests/toy_training.py)."""

from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.solver import WarmupParamScheduler, get_default_optimizer_params
from fvcore.common.param_scheduler import CosineParamScheduler
from omegaconf import OmegaConf
from torch.optim import SGD
from toy_training import IdentityMapper, ToyEvaluator, ToyRegressor, toy_dataset

model = L(ToyRegressor)()
dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(toy_dataset)(),
    mapper=L(IdentityMapper)(),
    total_batch_size=2,
    aspect_ratio_grouping=False,
    num_workers=0,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(toy_dataset)(), mapper=L(IdentityMapper)(), num_workers=0
)
dataloader.evaluator = L(ToyEvaluator)()
optimizer = L(SGD)(params=L(get_default_optimizer_params)(model=None), lr=0.05, momentum=0.9)
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=0.01),
    warmup_length=0.1,
    warmup_factor=0.1,
)
train = dict(
    output_dir="./output/toy",
    init_checkpoint="",
    max_iter=12,
    amp=dict(enabled=False),
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=4, max_to_keep=100),
    eval_period=6,
    log_period=2,
    device="cpu",
    seed=7,
    grad_accum_steps=1,
    clip_grad=dict(enabled=True, max_norm=10.0, norm_type=2.0),
)
