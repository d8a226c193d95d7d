"""Training defaults: Detectron2's model-zoo ``common/train.py`` plus the fields of
``tools/lazyconfig_train_net.py`` (device, seed, gradient accumulation, gradient clipping).

Gradient clipping at total norm 0.1 is UPT's. ``grad_accum_steps`` keeps the paper's total batch
on fewer devices: one iteration is one optimizer step over ``grad_accum_steps`` micro-batches of
``dataloader.train.total_batch_size`` images.
"""

from detectron2.model_zoo import get_config

train = get_config("common/train.py").train
train.update(
    output_dir="./output/rmlr",
    init_checkpoint="",
    device="auto",
    seed=0,
    grad_accum_steps=1,
    clip_grad=dict(enabled=True, max_norm=0.1, norm_type=2.0),
    checkpointer=dict(period=5000, max_to_keep=3),
    eval_period=0,  # evaluate once, after the last iteration
    log_period=20,
)
