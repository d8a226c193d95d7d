"""Learning-rate multipliers (the training script scales ``optimizer.lr`` by them).

* ``cosine``: the paper's schedule (Appendix B: cosine decay over the whole run, no warm-up).
* ``upt_step``: UPT's schedule, x0.1 after 10 of 20 epochs. The milestone below is HICO-DET's at
  UPT's total batch 16: 10 ep = 23,521 iters x 16 img / 37,633 img; V-COCO files override it.
"""

from detectron2.config import LazyCall as L
from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler

cosine = L(CosineParamScheduler)(start_value=1.0, end_value=0.0)

upt_step = L(MultiStepParamScheduler)(
    values=[1.0, 0.1],
    milestones=[23521],
    num_updates="${train.max_iter}",
)
