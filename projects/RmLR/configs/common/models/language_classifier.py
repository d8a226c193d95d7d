"""The language classifier for zero-shot HOI detection (issue 14): every HOI class of the training
set scored through the IRM-side sentence head against its sentence's teacher embedding, blended
with the visual classifier (``rmlr.modeling.cross_modal_learning.language_classifier``).

Assign it to ``model.language_classifier`` and set ``hoi_classes.dataset_name`` to the training
set (its class list and names; the sentences follow it). ``text_weight`` w: the score is
``(1 - w) * visual + w * text`` (0 = visual alone, 1 = text alone); ``temperature`` of the
softmax over an object's classes.
"""

from detectron2.config import LazyCall as L

from rmlr.modeling.cross_modal_learning.language_classifier import (
    LanguageClassifier,
    hoi_class_sentences_from_metadata,
    hoi_classes_from_metadata,
)

language_classifier = L(LanguageClassifier)(
    hoi_classes=L(hoi_classes_from_metadata)(dataset_name="hico_det_train"),
    sentences=L(hoi_class_sentences_from_metadata)(dataset_name="${..hoi_classes.dataset_name}"),
    num_objects=80,  # COCO-80 ids
    num_verbs="${..num_verbs}",
    embed_dim="${..text_teacher.embed_dim}",
    temperature=0.1,
    text_weight=0.5,
)
