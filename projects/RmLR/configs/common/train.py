"""Training defaults: Detectron2's model-zoo ``common/train.py`` plus the fields of
``tools/lazyconfig_train_net.py`` (device, seed, gradient accumulation, gradient clipping).

Gradient clipping at total norm 0.1 is UPT's. ``grad_accum_steps`` keeps the paper's total batch
on fewer devices: one iteration is one optimizer step over ``grad_accum_steps`` micro-batches of
``dataloader.train.total_batch_size`` images.

``init_checkpoint`` (a local path or an ``https://`` / ``detectron2://`` URL) is loaded strictly:
a missing, unexpected or wrongly shaped key is an error naming it. To fine-tune from a checkpoint
that covers only part of the model (e.g. another verb count), set
``allow_partial_init_checkpoint=True``: the mismatches are then logged, as Detectron2 does.
``allow_random_entity_detector=True`` lets an RmLR model train with a random frozen DETR (smoke
tests only).
"""

from detectron2.model_zoo import get_config

train = get_config("common/train.py").train
train.update(
    output_dir="./output/rmlr",
    init_checkpoint="",
    allow_partial_init_checkpoint=False,
    allow_random_entity_detector=False,
    device="auto",
    seed=0,
    grad_accum_steps=1,
    clip_grad=dict(enabled=True, max_norm=0.1, norm_type=2.0),
    checkpointer=dict(period=5000, max_to_keep=3),
    eval_period=0,  # evaluate once, after the last iteration
    log_period=20,
    # autocast on the run's device ("cpu" autocast on CPU); float16 uses a GradScaler
    amp=dict(enabled=False, dtype="float16"),
)
