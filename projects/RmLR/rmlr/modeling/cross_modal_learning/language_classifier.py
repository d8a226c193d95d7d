"""A HOI classifier that reads the teacher's space: it can score classes never seen in training.

Shape shorthand (extends :mod:`rmlr.modeling.pairs`):
    C: HOI classes of the dataset       K: object classes       V: verbs       L: text width D^l

RmLR's sentence-level alignment (Eq. 18) trains the IRM-side head FFN_T^2 to map each pair's O^v
to E_cls of its interaction's sentence ("person ride bicycle") as the frozen teacher encodes it.
The head therefore predicts, for any pair, a point in the teacher's sentence space, where every
HOI class, seen or not, has a sentence. This module scores a pair against all of them:

1. **Class sentences, once**: one sentence per HOI class of the dataset,
   ``interaction_sentence("person", verb, object)`` with the dataset's own names (a user's dataset
   with its own verbs works the same way), encoded by the frozen teacher exactly as the training
   targets are (E_cls of the sentence alone, standardised per channel when the teacher's
   ``target_norm="standardize"``). :meth:`LanguageClassifier.compute_class_embeddings`
   runs once, at the first training iteration; the (C, L) result is a persistent buffer with a
   SHA-256 fingerprint of the class list, so it travels in the checkpoint and inference builds no
   text model. A checkpoint whose fingerprint does not match the configured class list is refused
   at inference with an error naming both.
2. **Centre per object**: the sentences of one object share its words, so their embeddings are
   close (a cosine around 0.9 for MiniLM); the mean embedding of the object's class sentences is
   subtracted from them and from the pair's prediction (using the pair's detected object), which
   leaves the verb part.
3. **Softmax with temperature** (0.1) of the cosines over the classes of the pair's object gives a
   text probability per (pair, verb); verbs not forming a class with that object get 0.
4. **Blend**: ``(1 - w) * sigmoid(visual logit) + w * text probability`` with ``w`` =
   ``text_weight`` (a config value; 0 = the visual classifier alone, 1 = text alone). A verb
   that no training class uses (zero-shot UV) has a visual logit that no loss ever reached, whose
   sigmoid varies across pairs more than the text probability and would decide the ranking: it
   is scored by the text alone (``text_only_for_untrained_verbs``, default on). The detection
   prior ``(s_h * s_o) ** lambda`` multiplies the result as before.

The anchor is HOICLIP's training-free enhancement (Ning et al., "HOICLIP: Efficient Knowledge
Transfer for HOI Detection with Vision-Language Models", CVPR 2023, arXiv 2303.15786, Sec. 3.5,
https://github.com/Artanic30/HOICLIP): class scores from text embeddings of the class names are
added to the trained classifier's scores with a weight, without training. Here the visual side is
RmLR's own sentence head, not CLIP's image encoder, so the teacher can be any text encoder.
"""

import hashlib
import json
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.data import MetadataCatalog
from torch import nn

from ...data.annotation_text import interaction_sentence

__all__ = [
    "LanguageClassifier",
    "class_list_fingerprint",
    "hoi_classes_from_metadata",
    "hoi_class_sentences_from_metadata",
]


def hoi_classes_from_metadata(dataset_name: str):
    """``hoi_classes`` of a registered dataset, for configs."""
    meta = MetadataCatalog.get(dataset_name)
    if not hasattr(meta, "hoi_classes"):
        raise KeyError(f"dataset {dataset_name!r} has no metadata 'hoi_classes'")
    return [tuple(int(x) for x in c) for c in meta.hoi_classes]


def hoi_class_sentences_from_metadata(dataset_name: str):
    """One sentence per HOI class of a registered dataset, in ``hoi_classes`` order, from its own
    names (``"person ride bicycle"``), for configs. (The teacher's ``class_sentences_from_metadata``
    lists the same sentences in ``valid_verbs_per_object`` order, deduplicated, for its
    statistics; this list is aligned with the classes.)"""
    meta = MetadataCatalog.get(dataset_name)
    subject = meta.thing_classes[getattr(meta, "person_category_id", 0)]
    return [
        interaction_sentence(subject, meta.verb_classes[v], meta.thing_classes[o])
        for o, v in hoi_classes_from_metadata(dataset_name)
    ]


def class_list_fingerprint(sentences: Sequence[str], hoi_classes: Sequence[Tuple[int, int]]):
    """SHA-256 (32 bytes) of the class sentences and their ``(object, verb)`` ids."""
    text = json.dumps([list(sentences), [[int(o), int(v)] for o, v in hoi_classes]])
    return hashlib.sha256(text.encode("utf-8")).digest()


class LanguageClassifier(nn.Module):
    """Text-side HOI scores from the sentence head's output (see the module docstring)."""

    def __init__(
        self,
        *,
        hoi_classes: Sequence[Tuple[int, int]],
        sentences: Sequence[str],
        num_objects: int,
        num_verbs: int,
        embed_dim: int,
        temperature: float = 0.1,
        text_weight: float = 0.5,
        text_only_for_untrained_verbs: bool = True,
    ):
        """
        Args:
            hoi_classes: C ``(object id, verb id)`` classes (the dataset's metadata).
            sentences: C class sentences (:func:`rmlr.data.annotation_text.interaction_sentence`).
            num_objects, num_verbs: K and V.
            embed_dim: L, the teacher's width (the sentence head's output width).
            temperature: of the softmax over an object's classes.
            text_weight: w of the blend, in [0, 1].
            text_only_for_untrained_verbs: a verb that no training class uses (zero-shot UV) has
                a visual logit no loss ever reached; score it by the text alone (see
                :meth:`blend`).
        """
        super().__init__()
        hoi_classes = [(int(o), int(v)) for o, v in hoi_classes]
        if len(sentences) != len(hoi_classes) or not hoi_classes:
            raise ValueError(
                f"language classifier: {len(sentences)} sentences for {len(hoi_classes)} classes"
            )
        if not 0.0 <= text_weight <= 1.0:
            raise ValueError(
                f"language classifier: text_weight must be in [0, 1], not {text_weight}"
            )
        if temperature <= 0:
            raise ValueError(f"language classifier: temperature must be > 0, not {temperature}")
        index = [[-1] * num_verbs for _ in range(num_objects)]
        for c, (obj, verb) in enumerate(hoi_classes):
            if not (0 <= obj < num_objects and 0 <= verb < num_verbs):
                raise ValueError(f"language classifier: class {c} {(obj, verb)} out of range")
            if index[obj][verb] >= 0:
                raise ValueError(f"language classifier: class {(obj, verb)} listed twice")
            index[obj][verb] = c
        self.sentences = list(sentences)
        self.temperature = float(temperature)
        self.text_weight = float(text_weight)
        self.text_only_for_untrained_verbs = bool(text_only_for_untrained_verbs)
        self._fingerprint = class_list_fingerprint(sentences, hoi_classes)
        # (K, V) class id of (object, verb), -1 when none; (C,) object of each class
        self.register_buffer("hoi_index", torch.as_tensor(index), persistent=False)
        self.register_buffer(
            "class_objects", torch.as_tensor([o for o, _ in hoi_classes]), persistent=False
        )
        # Filled once from the teacher; saved with the model.
        self.register_buffer("class_embeddings", torch.zeros(len(hoi_classes), embed_dim))
        self.register_buffer("fingerprint", torch.zeros(32, dtype=torch.uint8))

    def extra_repr(self) -> str:
        return (
            f"classes={len(self.sentences)}, temperature={self.temperature}, "
            f"text_weight={self.text_weight}, ready={self.is_ready}"
        )

    @property
    def is_ready(self) -> bool:
        """True when ``class_embeddings`` were computed for this class list."""
        return bytes(self.fingerprint.cpu().tolist()) == self._fingerprint

    @torch.no_grad()
    def compute_class_embeddings(self, teacher) -> None:
        """E_cls of every class sentence from the frozen ``teacher``
        (:class:`~rmlr.modeling.cross_modal_learning.text_teacher.TextTeacher`)."""
        encoded = teacher.encode(self.sentences)
        embeddings = torch.stack([encoded[s].cls for s in self.sentences])
        # In the space the sentence head is trained in: the teacher's targets (standardised per
        # channel with target_norm="standardize", raw with "none").
        standardize = getattr(teacher, "standardize_cls", None)
        if standardize is not None:  # encode() loaded the teacher and its statistics
            embeddings = standardize(embeddings.to(self.class_embeddings.device))
        if embeddings.shape != self.class_embeddings.shape:
            raise ValueError(
                f"language classifier: the teacher gives {tuple(embeddings.shape)} class "
                f"embeddings, the buffer is {tuple(self.class_embeddings.shape)}"
            )
        self.class_embeddings.copy_(embeddings.to(self.class_embeddings))
        self.fingerprint.copy_(torch.as_tensor(list(self._fingerprint), dtype=torch.uint8))

    def forward(self, sentence_features: torch.Tensor, object_labels: torch.Tensor) -> torch.Tensor:
        """
        Args:
            sentence_features: (P, L) the sentence head's output of each pair.
            object_labels: (P,) int64 detected object class of each pair.

        Returns:
            (P, V) text probability of each (pair, verb); 0 where (object, verb) is no class.
        """
        if not self.is_ready:
            raise RuntimeError(
                "language classifier: no class embeddings for the configured "
                f"{len(self.sentences)} HOI classes (first: {self.sentences[0]!r}). They are "
                "computed by the text teacher at the first training iteration and saved in the "
                "checkpoint; this model's weights have none, or were computed for another class "
                "list. Train (or fine-tune) with the language classifier, or set "
                "model.language_classifier=None."
            )
        embeddings = self.class_embeddings
        num_objects = self.hoi_index.shape[0]
        sums = embeddings.new_zeros(num_objects, embeddings.shape[1])
        sums.index_add_(0, self.class_objects, embeddings)
        counts = torch.bincount(self.class_objects, minlength=num_objects).clamp(min=1)
        means = sums / counts[:, None].to(sums)  # (K, L)
        classes = F.normalize(embeddings - means[self.class_objects], dim=-1)  # (C, L)
        pairs = F.normalize(sentence_features - means[object_labels], dim=-1)  # (P, L)
        logits = pairs @ classes.T / self.temperature  # (P, C)
        same_object = self.class_objects[None, :] == object_labels[:, None]
        logits = logits.masked_fill(~same_object, float("-inf"))
        has_class = same_object.any(dim=1, keepdim=True)
        prob = torch.softmax(torch.where(has_class, logits, torch.zeros_like(logits)), dim=1)
        prob = prob * has_class
        index = self.hoi_index[object_labels]  # (P, V)
        return prob.gather(1, index.clamp(min=0)) * (index >= 0)

    def blend(
        self, visual: torch.Tensor, text: torch.Tensor, trained_verbs: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """``(1 - w) * visual + w * text`` (both (P, V) probabilities); with ``trained_verbs``
        ((V,) bool: the verb forms a training class) and ``text_only_for_untrained_verbs``, the
        text alone for the other verbs (their visual logit is the initialisation's)."""
        blended = (1.0 - self.text_weight) * visual + self.text_weight * text
        if trained_verbs is None or not self.text_only_for_untrained_verbs:
            return blended
        return torch.where(trained_verbs[None, :], blended, text)
