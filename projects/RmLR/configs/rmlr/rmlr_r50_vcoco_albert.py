"""Table 3: ALBERT-base-v2 as the text teacher (hidden size 768)."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = "albert-base-v2"
model.text_teacher.embed_dim = 768
# Eq. 9: H^v in R^{D^l}, the teacher's width (8 heads divide it; FFN 2 x width as UPT's)
model.irm.update(hidden_dim=768, ffn_dim=1536)
train.output_dir = "./output/rmlr_r50_vcoco_albert"
