"""Optimizer: AdamW, lr 1e-4, weight decay 1e-4 (UPT; RmLR's Appendix B: Adam, lr 1e-4).

Only trainable parameters are optimised: the frozen DETR has ``requires_grad=False`` and the text
teacher is not a registered sub-module.
"""

from detectron2.config import LazyCall as L
from detectron2.solver import get_default_optimizer_params
from torch.optim import AdamW

optimizer = L(AdamW)(
    params=L(get_default_optimizer_params)(model=None),  # the training script sets the model
    lr=1e-4,
    weight_decay=1e-4,
)
