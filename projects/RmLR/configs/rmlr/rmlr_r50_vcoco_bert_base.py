"""Table 3: BERT-base (uncased) as the text teacher (hidden size 768)."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = "bert-base-uncased"
model.text_teacher.embed_dim = 768
train.output_dir = "./output/rmlr_r50_vcoco_bert_base"
