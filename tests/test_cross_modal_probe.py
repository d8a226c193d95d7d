"""Regression tests of cross-modal learning: an alignment term must need the image and the text.

One alignment branch is trained alone (visual features detached) for a fixed budget on one term,
then measured on held-out images (``rmlr.utils.alignment_probe``): the pairs, annotation texts and
teacher outputs (MiniLM, standardised) are those of the tiny RmLR on the synthetic images; the
visual features are a fixed set with known signal (each matched pair: a random code of its HOI
class plus noise of the same size), so a branch that uses its input can beat a text-only
solution, and one that does not cannot.

What each test requires, and why:

* **image**: held-out loss with the real features < 0.75 x the loss with i.i.d. noise of their
  per-channel mean / std (trained and evaluated on fresh noise). The noise run is the best a
  text-only solution can do; a term that needs no image gives a ratio of about 1 (the literal
  "paper" word term: 1.0-1.3, i.e. no better than noise). 0.75 keeps a wide margin from 1 while
  the anchored terms measure 0.6 (word) and 0.4 (sentence) on 3 seeds
  (``benchmarks/RESULTS.md``).
* **text**: moving the texts to another image raises the loss by > 1.3 x: a term that ignores the
  text would not change.
* **gradient**: the term's gradient reaching the visual features (what the IRE / IRM receive) is
  > 0.02 of the gradient reaching the branch's own parameters (Frobenius norms). The "paper" word
  term's final LayerNorm gain collapses and passes ~0.002.
* **spread**: the branch output keeps variance across pairs (std across pairs over RMS > 0.3);
  the collapsed "paper" branch outputs a near-constant (~0.03).

The literal Eq. 13-17 word term (``word_formulation="paper"``) is run as strict xfails: these tests
show that it fails them.
"""

import functools
import importlib.util

import pytest

from rmlr.modeling.cross_modal_learning.text_teacher import MINILM_PACKAGE

HAS_TEXT = all(importlib.util.find_spec(m) is not None for m in ("transformers", MINILM_PACKAGE))
pytestmark = pytest.mark.skipif(not HAS_TEXT, reason="transformers or MiniLM not installed")

PAPER_FAILS = pytest.mark.xfail(
    strict=True, reason="the literal Eq. 13-17 word term reaches text-independent minima"
)
TERMS = [
    pytest.param("word", "anchored", id="word-anchored"),
    pytest.param("word", "paper", id="word-paper", marks=PAPER_FAILS),
    pytest.param("sentence", "anchored", id="sentence"),
]


@functools.lru_cache(maxsize=None)
def data():
    import rmlr  # noqa: F401  (registers the datasets)
    from rmlr.utils.alignment_probe import class_signal_features, collect_batches

    batches, teacher = collect_batches(num_images=160, seed=0)
    return class_signal_features(batches, seed=0), teacher


@functools.lru_cache(maxsize=None)
def measured(term, formulation):
    from rmlr.utils.alignment_probe import probe

    batches, teacher = data()
    result = probe(batches, teacher, term=term, word_formulation=formulation, seed=0, steps=300)
    print(term, formulation, {k: round(v, 4) for k, v in result.items()})
    return result


@pytest.mark.parametrize("term,formulation", TERMS)
def test_alignment_needs_the_image(term, formulation):
    r = measured(term, formulation)
    assert r["real"] < 0.75 * r["noise"], r


@pytest.mark.parametrize("term,formulation", TERMS)
def test_alignment_reads_the_text(term, formulation):
    r = measured(term, formulation)
    assert r["shuffled"] > 1.3 * r["real"], r


@pytest.mark.parametrize("term,formulation", TERMS)
def test_alignment_gradient_reaches_the_visual_features(term, formulation):
    r = measured(term, formulation)
    assert r["grad_ratio"] > 0.02, r


@pytest.mark.parametrize("term,formulation", TERMS)
def test_alignment_output_keeps_variance_across_pairs(term, formulation):
    r = measured(term, formulation)
    assert r["spread"] > 0.3, r
