"""Linguistic knowledge and cross-modal learning (paper Sec. 3.3-3.4, Eq. 7-19): the frozen text
teacher and the sentence- / word-level alignment branches. Training only."""

from .alignment import WORD_FORMULATIONS, WORD_KEYS, AlignmentBranch, CrossModalLearning
from .text_teacher import (
    MINILM_PACKAGE,
    TARGET_NORMS,
    TeacherOutput,
    TextTeacher,
    class_sentences_from_metadata,
    installed_minilm_path,
)

__all__ = [
    "AlignmentBranch",
    "CrossModalLearning",
    "MINILM_PACKAGE",
    "TARGET_NORMS",
    "TeacherOutput",
    "TextTeacher",
    "WORD_FORMULATIONS",
    "WORD_KEYS",
    "class_sentences_from_metadata",
    "installed_minilm_path",
]
