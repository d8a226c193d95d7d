"""Table 3: MobileBERT as the text teacher (hidden size 512): the paper's default, as in
``rmlr_r50_vcoco.py``; stated here so that every row of Table 3 has a file."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = "google/mobilebert-uncased"
model.text_teacher.embed_dim = 512
# Eq. 9: H^v in R^{D^l}, the teacher's width (8 heads divide it; FFN 2 x width as UPT's)
model.irm.update(hidden_dim=512, ffn_dim=1024)
train.output_dir = "./output/rmlr_r50_vcoco_mobilebert"
