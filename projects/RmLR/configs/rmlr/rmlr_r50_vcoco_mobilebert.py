"""Table 3: MobileBERT as the text teacher (hidden size 512): the paper's default, as in
``rmlr_r50_vcoco.py``; stated here so that every row of Table 3 has a file."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = "google/mobilebert-uncased"
model.text_teacher.embed_dim = 512
train.output_dir = "./output/rmlr_r50_vcoco_mobilebert"
