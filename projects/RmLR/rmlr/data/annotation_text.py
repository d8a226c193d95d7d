"""GT triplets -> readable sub-sentences: the language teacher's input (RmLR, Sec. 3.3).

RmLR serializes each annotated ``<human, verb, object>`` triplet of an image into a short
sub-sentence and feeds the concatenation, joined with the tokenizer's separator, to a pre-trained
language model. This module writes the sub-sentences; the text teacher joins them with
:func:`join_sentences` / :func:`join_sentences_with_spans` (the character spans let it pool the
tokens of each sub-sentence for word-level alignment).

Wording:

* subject and object: the category names with underscores as spaces (``"dining_table"`` ->
  ``"dining table"``);
* HICO-DET verbs: underscores as spaces (``"talk_on"`` -> ``"talk on"``, ``"no_interaction"`` ->
  ``"no interaction"``), so ``"person ride bicycle"``;
* V-COCO action-roles (``"<action> <role>"``): the action in plain words, with a preposition where
  English needs one for that role (``"sit instr"`` -> ``"sit on"``, ``"look obj"`` -> ``"look at"``,
  ``"cut instr"`` -> ``"cut with"``); both roles of ``hit`` read ``"hit"`` (``"person hit sports
  ball"``, ``"person hit tennis racket"``); an action-role not in the table drops its role word.

:func:`build_hoi_text` writes one sub-sentence per distinct triplet *category* of the image
(``deduplicate=True``, the default: two people riding two bicycles give one
``"person ride bicycle"``; HICO-DET test images have up to 161 GT pairs, which one sentence per
pair would push past the encoders' 512-token limit). ``interaction_to_sentence[m]`` is the
sub-sentence of interaction ``m``; with ``deduplicate=False`` it is ``arange(M)``.
"""

from typing import Dict, List, Sequence, Tuple

__all__ = [
    "VCOCO_ACTION_ROLE_PHRASES",
    "readable_name",
    "verb_phrase",
    "interaction_sentence",
    "build_hoi_text",
    "join_sentences",
    "join_sentences_with_spans",
]

#: How each V-COCO action-role reads between "person" and the object name.
VCOCO_ACTION_ROLE_PHRASES: Dict[str, str] = {
    "hold obj": "hold",
    "sit instr": "sit on",
    "ride instr": "ride",
    "look obj": "look at",
    "hit instr": "hit",
    "hit obj": "hit",
    "eat obj": "eat",
    "eat instr": "eat with",
    "jump instr": "jump on",
    "lay instr": "lay on",
    "talk_on_phone instr": "talk on",
    "carry obj": "carry",
    "throw obj": "throw",
    "catch obj": "catch",
    "cut instr": "cut with",
    "cut obj": "cut",
    "work_on_computer instr": "work on",
    "ski instr": "ski on",
    "surf instr": "surf on",
    "skateboard instr": "skateboard on",
    "drink instr": "drink with",
    "kick obj": "kick",
    "read obj": "read",
    "snowboard instr": "snowboard on",
}

_ROLE_WORDS = ("obj", "instr", "agent")


def readable_name(name: str) -> str:
    """``"dining_table"`` -> ``"dining table"`` (also collapses repeated spaces)."""
    return " ".join(name.replace("_", " ").split())


def verb_phrase(verb_name: str) -> str:
    """The words between subject and object for a verb class name (HICO verb or V-COCO role)."""
    if verb_name in VCOCO_ACTION_ROLE_PHRASES:
        return VCOCO_ACTION_ROLE_PHRASES[verb_name]
    words = verb_name.split()
    if len(words) == 2 and words[1] in _ROLE_WORDS:
        words = words[:1]
    return readable_name(" ".join(words))


def interaction_sentence(subject_name: str, verb_name: str, object_name: str) -> str:
    """``("person", "talk_on", "cell_phone")`` -> ``"person talk on cell phone"``."""
    return f"{readable_name(subject_name)} {verb_phrase(verb_name)} {readable_name(object_name)}"


def build_hoi_text(
    interactions: Sequence[Sequence[int]],
    classes: Sequence[int],
    *,
    thing_classes: Sequence[str],
    verb_classes: Sequence[str],
    deduplicate: bool = True,
) -> Tuple[List[str], List[int]]:
    """Sub-sentences of an image's GT triplets.

    Args:
        interactions: ``(M, 3)`` ``[subject_index, object_index, verb_id]`` rows.
        classes: category id of each entity (``interactions`` index it).
        thing_classes, verb_classes: the dataset's names (metadata).
        deduplicate: one sub-sentence per distinct triplet category (module docstring).

    Returns:
        ``(sentences, interaction_to_sentence)``; sentences in order of first appearance.
    """
    sentences: List[str] = []
    index: Dict[str, int] = {}
    mapping: List[int] = []
    for subject, obj, verb in interactions:
        text = interaction_sentence(
            thing_classes[int(classes[int(subject)])],
            verb_classes[int(verb)],
            thing_classes[int(classes[int(obj)])],
        )
        if deduplicate and text in index:
            mapping.append(index[text])
            continue
        index.setdefault(text, len(sentences))
        mapping.append(len(sentences))
        sentences.append(text)
    return sentences, mapping


def join_sentences_with_spans(
    sentences: Sequence[str], sep: str
) -> Tuple[str, List[Tuple[int, int]]]:
    """Join sub-sentences with a separator token, keeping each one's character span.

    Args:
        sentences: the sub-sentences.
        sep: the tokenizer's separator (e.g. ``tokenizer.sep_token`` = ``"[SEP]"``); it is
            surrounded by single spaces.

    Returns:
        ``(text, spans)`` with ``text[start:end] == sentences[i]`` for ``spans[i] = (start, end)``.
        No sentence gives ``("", [])``.
    """
    glue = f" {sep} " if sep.strip() else " "
    parts: List[str] = []
    spans: List[Tuple[int, int]] = []
    position = 0
    for i, sentence in enumerate(sentences):
        if i:
            parts.append(glue)
            position += len(glue)
        parts.append(sentence)
        spans.append((position, position + len(sentence)))
        position += len(sentence)
    return "".join(parts), spans


def join_sentences(sentences: Sequence[str], sep: str) -> str:
    """``(["person ride bicycle", "person hold cup"], "[SEP]")`` ->
    ``"person ride bicycle [SEP] person hold cup"``."""
    return join_sentences_with_spans(sentences, sep)[0]
