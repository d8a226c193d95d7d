"""Alignment terms are O(1) at initialisation for every Table 3 text encoder.

Each encoder is built with random weights from a ``transformers`` config of the real architecture
(real widths, heads and FFN sizes; 2 layers and a small WordPiece vocabulary of the V-COCO class
sentences' words, for speed; no download), and read through the Table 3 config's own
``text_teacher`` (``target_norm="standardize"``, statistics over the V-COCO class sentences) and
``cross_modal`` branches. Random visual features of unit scale (O^v and m^v are LayerNorm-ed)
stand in for the visual model.

Random MobileBERT weights give states of order 0.02; the trained ``google/mobilebert-uncased``
has no final LayerNorm and states in the hundreds to thousands
(https://github.com/huggingface/transformers/issues/9860). The "MobileBERT-like" encoder sets the
gains and biases of the last layer's output ``NoNorm`` (an element-wise affine map) to per-channel
scales spread log-uniformly over 1..3000, which gives states of that size. Standardised, its terms
are O(1); raw (``target_norm="none"``) they are in the hundreds, enough to swamp ``loss_hoi``.
"""

import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate

import rmlr  # noqa: F401  (registers the datasets)
from rmlr.modeling.cross_modal_learning.text_teacher import class_sentences_from_metadata

transformers = pytest.importorskip("transformers")

CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "projects", "RmLR", "configs"
)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
COMMON = dict(num_hidden_layers=2, max_position_embeddings=64, pad_token_id=0)
#: Table 3 config -> random-weight encoder of that architecture.
ARCHITECTURES = {
    "rmlr_r50_vcoco_bert_base": lambda v: transformers.BertModel(
        transformers.BertConfig(
            vocab_size=v, hidden_size=768, num_attention_heads=12, intermediate_size=3072, **COMMON
        )
    ),
    "rmlr_r50_vcoco_bert_large": lambda v: transformers.BertModel(
        transformers.BertConfig(
            vocab_size=v, hidden_size=1024, num_attention_heads=16, intermediate_size=4096, **COMMON
        )
    ),
    "rmlr_r50_vcoco_roberta": lambda v: transformers.RobertaModel(
        transformers.RobertaConfig(
            vocab_size=v, hidden_size=768, num_attention_heads=12, intermediate_size=3072, **COMMON
        )
    ),
    "rmlr_r50_vcoco_albert": lambda v: transformers.AlbertModel(
        transformers.AlbertConfig(
            vocab_size=v,
            embedding_size=128,
            hidden_size=768,
            num_attention_heads=12,
            intermediate_size=3072,
            **COMMON,
        )
    ),
    "rmlr_r50_vcoco_mobilebert": lambda v: transformers.MobileBertModel(
        transformers.MobileBertConfig(vocab_size=v, **COMMON)  # hidden 512, bottleneck 128
    ),
    "rmlr_r50_vcoco_minilm": lambda v: transformers.BertModel(
        transformers.BertConfig(
            vocab_size=v, hidden_size=384, num_attention_heads=12, intermediate_size=1536, **COMMON
        )
    ),
}


def save_encoder(folder, name, mobilebert_like=False):
    sentences = class_sentences_from_metadata("vcoco_trainval")
    words = sorted({w for s in sentences for w in s.split()})
    os.makedirs(folder, exist_ok=True)
    vocab_file = os.path.join(folder, "vocab.txt")
    with open(vocab_file, "w") as f:
        f.write("\n".join(SPECIALS + words))
    tokenizer = transformers.BertTokenizerFast(vocab_file=vocab_file, do_lower_case=True)
    torch.manual_seed(0)
    model = ARCHITECTURES[name](len(SPECIALS) + len(words)).eval()
    if mobilebert_like:
        last = model.encoder.layer[-1].output.LayerNorm  # NoNorm: x * weight + bias
        g = torch.Generator().manual_seed(0)
        scale = 10 ** (3.5 * torch.rand(last.weight.shape, generator=g))
        with torch.no_grad():
            last.weight.copy_(scale)
            last.bias.copy_(scale * torch.randn(last.bias.shape, generator=g))
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def initial_terms(name, folder, target_norm="standardize", seed=0):
    """The unweighted alignment terms of the config's branches at initialisation."""
    cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr", name + ".py"))
    cfg.model.text_teacher.model_name_or_path = folder
    cfg.model.text_teacher.target_norm = target_norm
    teacher = instantiate(cfg.model.text_teacher)
    torch.manual_seed(seed)
    cross_modal = instantiate(cfg.model.cross_modal).eval()
    sentences = teacher.class_sentences
    g = torch.Generator().manual_seed(seed)
    texts, couples, image_index, offset = [], [], [], 0
    for image in range(3):  # 3 images, 5 pairs each, 2 of them matched
        chosen = [sentences[int(i)] for i in torch.randperm(len(sentences), generator=g)[:2]]
        texts.append({"sentences": chosen})
        for pair in range(5):
            if pair < 2:
                couples.append([5 * image + pair, offset + pair])
            image_index.append(image)
        offset += len(chosen)
    num_pairs = len(image_index)
    irm_width = int(cfg.model.irm.hidden_dim)
    with torch.no_grad():
        terms = cross_modal(
            ire_features=torch.randn(num_pairs, int(cfg.model.ire.output_dim), generator=g),
            irm_features=torch.randn(num_pairs, irm_width, generator=g),
            image_index=torch.tensor(image_index),
            num_images=3,
            pair_sentence=torch.tensor(couples),
            teacher=teacher(texts),
        )
    return {k: float(v) for k, v in terms.items()}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_alignment_term_is_order_one_at_initialisation(name, tmp_path):
    folder = save_encoder(str(tmp_path / name), name)
    terms = initial_terms(name, folder)
    assert set(terms) == {
        f"loss_{level}_{side}" for level in ("sentence", "word") for side in ("ire", "irm")
    }
    print(name, {k: round(v, 3) for k, v in terms.items()})
    assert all(0.05 <= v <= 5.0 for v in terms.values()), terms


def test_mobilebert_like_states_need_standardisation(tmp_path):
    name = "rmlr_r50_vcoco_mobilebert"
    folder = save_encoder(str(tmp_path / "mobilebert_like"), name, mobilebert_like=True)
    standardized = initial_terms(name, folder)
    raw = initial_terms(name, folder, target_norm="none")
    print("standardize", standardized, "none", raw)
    assert all(0.05 <= v <= 5.0 for v in standardized.values()), standardized
    assert all(v > 50.0 for v in raw.values()), raw
