"""The frozen text teacher: E_cls / E^w, token spans, caching, long texts, loading and errors.

Tiny random BERT / MobileBERT encoders are saved to a temporary folder with a small WordPiece
vocabulary (no model hub); one test uses the installed MiniLM weights when present.
"""

import importlib.util
import os

import pytest
import torch

from rmlr.modeling.cross_modal_learning.text_teacher import (
    MINILM_PACKAGE,
    TextTeacher,
    installed_minilm_path,
)

transformers = pytest.importorskip("transformers")

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "person",
    "ride",
    "bicycle",
    "hold",
    "horse",
    "cup",
    "drink",
    "with",
    "sit",
    "on",
    "chair",
]


def save_tiny(folder, kind, max_length=64):
    os.makedirs(folder, exist_ok=True)
    vocab_file = os.path.join(folder, "vocab.txt")
    with open(vocab_file, "w") as f:
        f.write("\n".join(VOCAB))
    tok = transformers.BertTokenizerFast(
        vocab_file=vocab_file, do_lower_case=True, model_max_length=max_length
    )
    torch.manual_seed(0)
    if kind == "bert":
        cfg = transformers.BertConfig(
            vocab_size=len(VOCAB),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
        model = transformers.BertModel(cfg)
    else:
        cfg = transformers.MobileBertConfig(
            vocab_size=len(VOCAB),
            hidden_size=24,
            embedding_size=8,
            true_hidden_size=8,
            intra_bottleneck_size=8,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_feedforward_networks=1,
            max_position_embeddings=64,
        )
        model = transformers.MobileBertModel(cfg)
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder, cfg.hidden_size


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("bert")), "bert")


@pytest.fixture(scope="module")
def tiny_mobilebert(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("mobilebert")), "mobilebert")


TEXTS = [
    {"sentences": ["person ride bicycle", "person hold bicycle"]},
    {"sentences": []},  # an image without GT interactions
    {"sentences": ["person drink with cup", "person sit on chair", "person ride horse"]},
]


@pytest.mark.parametrize("which", ["tiny_bert", "tiny_mobilebert"])
def test_outputs_shapes_and_word_to_sentence_map(which, request):
    folder, dim = request.getfixturevalue(which)
    teacher = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")
    assert not teacher.is_loaded  # nothing loaded before the first use
    out = teacher(TEXTS)
    assert out.sentence_embeddings.shape == (5, dim)
    assert out.sentence_offsets.tolist() == [0, 2, 2, 5]
    # every word is one WordPiece token here: 3 + 3 | none | 4 + 4 + 3 word tokens
    assert out.word_embeddings.shape == (3, 11, dim)
    assert out.word_sentence.tolist() == [
        [0, 0, 0, 1, 1, 1] + [-1] * 5,
        [-1] * 11,
        [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4],
    ]
    assert torch.equal(out.word_padding_mask, out.word_sentence < 0)
    assert (out.word_embeddings[out.word_padding_mask] == 0).all()

    # E_cls is the first token of the sub-sentence alone; E^w comes from the joined text
    tok = teacher._tokenizer
    enc = teacher._encoder
    with torch.no_grad():
        alone = enc(**tok(["person ride bicycle"], return_tensors="pt")).last_hidden_state
        joined = enc(
            **tok(["person ride bicycle [SEP] person hold bicycle"], return_tensors="pt")
        ).last_hidden_state
    assert torch.allclose(out.sentence_embeddings[0], alone[0, 0], atol=1e-5)
    # joined ids: [CLS] person ride bicycle [SEP] person hold bicycle [SEP]; the words skip the
    # specials
    assert torch.allclose(out.word_embeddings[0, :6], joined[0, [1, 2, 3, 5, 6, 7]], atol=1e-5)


def test_cache_by_string_and_one_call_per_uncached_string(tiny_bert):
    folder, dim = tiny_bert
    teacher = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")
    calls = []
    teacher.load()
    original = teacher._encoder.forward
    teacher._encoder.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    first = teacher(TEXTS)
    assert len(calls) == 7  # each uncached string alone
    assert teacher.num_encoded == 5 + 2  # 5 sub-sentences + 2 joined texts
    again = teacher(TEXTS[:1])
    assert len(calls) == 7 and teacher.num_encoded == 7  # repeated strings cost nothing
    assert torch.equal(again.word_embeddings[0], first.word_embeddings[0, :6])
    teacher(TEXTS[:1] + [{"sentences": ["person ride horse", "person hold cup"]}])
    assert len(calls) == 9 and teacher.num_encoded == 7 + 2  # one new sentence + its text


@pytest.mark.skipif(importlib.util.find_spec(MINILM_PACKAGE) is None, reason="MiniLM not installed")
def test_outputs_do_not_depend_on_what_else_was_uncached():
    """Bit for bit: a resumed run starts with an empty cache and must train exactly alike. (With
    MiniLM, a string encoded in a padded batch differs from the same string alone by ~1e-6.)"""
    texts = [
        {"sentences": ["person ride bicycle"]},
        {"sentences": ["person kick sports ball", "person look at sports ball", "person throw"]},
    ]
    warm = TextTeacher(
        model_name_or_path=installed_minilm_path(), embed_dim=384, target_norm="none"
    )
    warm(texts[:1])  # the first image's strings cached alone ...
    cold = TextTeacher(
        model_name_or_path=installed_minilm_path(), embed_dim=384, target_norm="none"
    )
    both, alone = cold(texts), warm(texts)  # ... and here uncached next to longer ones
    assert torch.equal(both.sentence_embeddings, alone.sentence_embeddings)
    assert torch.equal(both.word_embeddings, alone.word_embeddings)


def test_small_cache_evicts_oldest(tiny_bert):
    folder, dim = tiny_bert
    teacher = TextTeacher(
        model_name_or_path=folder, embed_dim=dim, cache_size=2, target_norm="none"
    )
    out = teacher(TEXTS)  # more strings than the cache holds: outputs are still complete
    assert out.sentence_embeddings.shape[0] == 5 and len(teacher._cache) == 2


def test_long_text_is_split_between_sub_sentences(tmp_path):
    folder, dim = save_tiny(str(tmp_path / "short"), "bert", max_length=12)
    teacher = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")
    out = teacher([TEXTS[2]])  # 4 + 4 + 3 words + 2 separators + 2 specials = 15 > 12 tokens
    assert teacher.max_length == 12
    assert out.word_sentence[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    with torch.no_grad():  # the first sub-sentence is encoded alone, the other two together
        first = teacher._encoder(
            **teacher._tokenizer(["person drink with cup"], return_tensors="pt")
        ).last_hidden_state
    assert torch.allclose(out.word_embeddings[0, :4], first[0, 1:5], atol=1e-5)


def test_frozen_no_grad_and_out_of_state_dict(tiny_bert):
    folder, dim = tiny_bert
    teacher = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")
    teacher.train()
    out = teacher(TEXTS)
    assert not out.sentence_embeddings.requires_grad and not out.word_embeddings.requires_grad
    assert not teacher._encoder.training
    assert all(not p.requires_grad for p in teacher._encoder.parameters())
    assert list(teacher.state_dict()) == [] and list(teacher.parameters()) == []


def test_errors_are_clear(tmp_path, tiny_bert):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextTeacher(model_name_or_path=str(tmp_path / "missing"), embed_dim=16, target_norm="none")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextTeacher(model_name_or_path="./no/such/folder", embed_dim=16, target_norm="none")
    folder, dim = tiny_bert
    teacher = TextTeacher(model_name_or_path=folder, embed_dim=dim + 1, target_norm="none")
    with pytest.raises(ValueError, match="hidden size"):
        teacher(TEXTS)


@pytest.mark.skipif(importlib.util.find_spec(MINILM_PACKAGE) is None, reason="MiniLM not installed")
def test_installed_minilm():
    teacher = TextTeacher(
        model_name_or_path=installed_minilm_path(), embed_dim=384, target_norm="none"
    )
    out = teacher([{"sentences": ["person ride bicycle", "person hold bicycle"]}])
    assert out.sentence_embeddings.shape == (2, 384)
    assert out.word_sentence.tolist() == [[0, 0, 0, 1, 1, 1]]
    # a real encoder separates different interactions
    a, b = out.sentence_embeddings
    assert torch.cosine_similarity(a, b, dim=0) < 0.999


CLASS_SENTENCES = [
    "person ride bicycle",
    "person hold bicycle",
    "person hold cup",
    "person ride horse",
]


@pytest.mark.parametrize("which", ["tiny_bert", "tiny_mobilebert"])
def test_standardized_targets_use_class_sentence_statistics(which, request):
    folder, dim = request.getfixturevalue(which)
    raw = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")
    std = TextTeacher(model_name_or_path=folder, embed_dim=dim, class_sentences=CLASS_SENTENCES)
    assert std.target_norm == "standardize" and list(std.state_dict()) == []
    a, b = raw(TEXTS), std(TEXTS)
    # statistics by hand: every class sentence alone; word tokens and [CLS] separately
    tok, enc = raw._tokenizer, raw._encoder
    words, cls = [], []
    with torch.no_grad():
        for sentence in CLASS_SENTENCES:
            states = enc(**tok([sentence], return_tensors="pt")).last_hidden_state[0]
            words.append(states[1:-1])
            cls.append(states[0])
    words, cls = torch.cat(words), torch.stack(cls)
    w_mean, w_std = words.mean(0), words.std(0)
    c_mean, c_std = cls.mean(0), cls.std(0)
    w_std, c_std = (x.clamp(min=max(0.01 * float(x.mean()), 1e-6)) for x in (w_std, c_std))
    assert torch.allclose(std.word_mean, w_mean, atol=1e-4)
    assert torch.allclose(std.word_std, w_std, rtol=1e-3, atol=1e-5)
    assert torch.allclose(std.cls_mean, c_mean, atol=1e-4)
    assert torch.allclose(std.cls_std, c_std, rtol=1e-3, atol=1e-5)
    back = b.sentence_embeddings * std.cls_std + std.cls_mean
    assert torch.allclose(back, a.sentence_embeddings, atol=1e-4)
    valid = ~a.word_padding_mask
    expected = (a.word_embeddings[valid] - w_mean) / w_std
    assert torch.allclose(b.word_embeddings[valid], expected, rtol=1e-3, atol=1e-3)
    assert (b.word_embeddings[a.word_padding_mask] == 0).all()
    # the class sentences' own word states are standardised: mean ~0 per channel
    out = std([{"sentences": [s]} for s in CLASS_SENTENCES])
    assert out.word_embeddings[~out.word_padding_mask].mean(0).abs().max() < 1e-3


def test_subject_word_tokens_are_marked(tiny_bert):
    folder, dim = tiny_bert
    out = TextTeacher(model_name_or_path=folder, embed_dim=dim, target_norm="none")(TEXTS)
    # "person" opens every sub-sentence: the first token of each
    assert out.word_is_subject.tolist() == [
        [True, False, False, True, False, False] + [False] * 5,
        [False] * 11,
        [True, False, False, False, True, False, False, False, True, False, False],
    ]


def test_target_norm_errors_and_class_sentences_from_metadata():
    with pytest.raises(ValueError, match="class_sentences"):
        TextTeacher(model_name_or_path="bert-base-uncased", embed_dim=768)
    with pytest.raises(ValueError, match="target_norm"):
        TextTeacher(model_name_or_path="bert-base-uncased", embed_dim=768, target_norm="layer")
    import rmlr  # noqa: F401  (registers the datasets)
    from rmlr.data import SYNTHETIC_HOI_CLASSES
    from rmlr.modeling.cross_modal_learning.text_teacher import class_sentences_from_metadata

    sentences = class_sentences_from_metadata("synthetic_hoi_train")
    assert len(sentences) == len(SYNTHETIC_HOI_CLASSES)
    assert "person kick sports ball" in sentences and "person look at kite" in sentences
    assert len(class_sentences_from_metadata("hico_det_train")) == 600
    assert "person sit on chair" in class_sentences_from_metadata("vcoco_trainval")
    with pytest.raises(KeyError, match="no_such_dataset"):
        class_sentences_from_metadata("no_such_dataset")
