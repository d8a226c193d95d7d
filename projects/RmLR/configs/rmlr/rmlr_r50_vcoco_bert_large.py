"""Table 3: BERT-large (uncased) as the text teacher (hidden size 1024)."""

from .rmlr_r50_vcoco import dataloader, lr_multiplier, model, optimizer, train

model.text_teacher.model_name_or_path = "bert-large-uncased"
model.text_teacher.embed_dim = 1024
train.output_dir = "./output/rmlr_r50_vcoco_bert_large"
