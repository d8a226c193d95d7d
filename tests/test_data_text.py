"""Annotation text (the teacher's input): readable sub-sentences, de-duplication, joining."""

import pytest

from rmlr.data import (
    build_hoi_text,
    interaction_sentence,
    join_sentences,
    join_sentences_with_spans,
    verb_phrase,
)
from rmlr.data.annotation_text import VCOCO_ACTION_ROLE_PHRASES
from rmlr.data.metadata import COCO_THING_CLASSES, HICO_VERBS, VCOCO_ACTION_ROLES


@pytest.mark.parametrize(
    "subject, verb, obj, sentence",
    [
        ("person", "ride", "bicycle", "person ride bicycle"),
        ("person", "talk_on", "cell_phone", "person talk on cell phone"),
        ("person", "no_interaction", "dining_table", "person no interaction dining table"),
        ("person", "hit obj", "sports ball", "person hit sports ball"),
        ("person", "hit instr", "baseball bat", "person hit baseball bat"),
        ("person", "look obj", "tv", "person look at tv"),
        ("person", "talk_on_phone instr", "cell phone", "person talk on cell phone"),
        ("person", "look_at", "kite", "person look at kite"),
        ("person", "stand agent", "person", "person stand person"),
    ],
)
def test_sentences_read_naturally(subject, verb, obj, sentence):
    assert interaction_sentence(subject, verb, obj) == sentence


def test_every_class_name_gives_words_without_underscores_or_roles():
    for verb in list(HICO_VERBS) + list(VCOCO_ACTION_ROLES):
        phrase = verb_phrase(verb)
        assert phrase and "_" not in phrase and not phrase.endswith((" obj", " instr"))
    assert set(VCOCO_ACTION_ROLE_PHRASES) == set(VCOCO_ACTION_ROLES)


def test_build_hoi_text_deduplicates_and_maps_each_interaction():
    classes = [0, 1, 0, 1, 41]  # person, bicycle, person, bicycle, cup
    ride, hold = HICO_VERBS.index("ride"), HICO_VERBS.index("hold")
    interactions = [[0, 1, ride], [2, 3, ride], [0, 4, hold], [2, 3, hold]]
    kwargs = dict(thing_classes=COCO_THING_CLASSES, verb_classes=HICO_VERBS)
    sentences, mapping = build_hoi_text(interactions, classes, **kwargs)
    assert sentences == ["person ride bicycle", "person hold cup", "person hold bicycle"]
    assert mapping == [0, 0, 1, 2]
    sentences, mapping = build_hoi_text(interactions, classes, deduplicate=False, **kwargs)
    assert len(sentences) == 4 and mapping == [0, 1, 2, 3]
    assert build_hoi_text([], classes, **kwargs) == ([], [])


def test_join_sentences_with_the_tokenizer_separator():
    sentences = ["person ride bicycle", "person hold cup"]
    assert join_sentences(sentences, "[SEP]") == "person ride bicycle [SEP] person hold cup"
    text, spans = join_sentences_with_spans(sentences, "</s>")
    assert [text[a:b] for a, b in spans] == sentences
    assert join_sentences(sentences, " ") == "person ride bicycle person hold cup"
    assert join_sentences_with_spans([], "[SEP]") == ("", [])
