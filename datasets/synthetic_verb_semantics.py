#!/usr/bin/env python
"""Do the synthetic dataset's verbs share visual cues the way the language teacher relates them?

The text teacher encodes the sentence of every HOI class of the synthetic dataset, written as the
annotation text writes it ("person hold cup", :mod:`rmlr.data.annotation_text`), and its
sentence-level target ``E_cls`` (the final hidden state of [CLS]) is compared by cosine similarity
between the verbs of the same object. Against the cue table (``SYNTHETIC_VERB_CUES``) it reports:

* per object, the verb x verb similarity matrix, each verb's nearest neighbour and whether the two
  share a visual cue;
* over all same-object verb pairs (``no_interaction`` left out: it shows no cue by definition), the
  probability that a pair sharing a cue is more similar than a pair sharing none (AUC), and the
  fraction of the relabellings of the cue sets among the verbs that reach the same AUC (a
  permutation test: how unusual the agreement is for this teacher).

    python datasets/synthetic_verb_semantics.py                 # the offline MiniLM teacher
    python datasets/synthetic_verb_semantics.py --model bert-base-uncased --json out.json
"""

import argparse
import itertools
import json
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

from rmlr.data import SYNTHETIC_HOI_CLASSES, SYNTHETIC_VERB_CUES, SYNTHETIC_VERBS  # noqa: E402
from rmlr.data.annotation_text import interaction_sentence  # noqa: E402
from rmlr.data.metadata import COCO_THING_CLASSES  # noqa: E402

NO_INTERACTION = "no_interaction"


def class_sentences() -> List[str]:
    """The teacher's sentence of every synthetic HOI class, in HOI-class order."""
    return [
        interaction_sentence("person", SYNTHETIC_VERBS[v], COCO_THING_CLASSES[o])
        for o, v in SYNTHETIC_HOI_CLASSES
    ]


def teacher_similarity(model_name_or_path: Optional[str] = None) -> np.ndarray:
    """``(C, C)`` cosine similarity of the teacher's ``E_cls`` of the HOI-class sentences."""
    import torch
    from transformers import AutoConfig

    from rmlr.modeling.cross_modal_learning.text_teacher import TextTeacher, installed_minilm_path

    path = model_name_or_path or installed_minilm_path()
    width = AutoConfig.from_pretrained(path).hidden_size
    teacher = TextTeacher(model_name_or_path=path, embed_dim=width, target_norm="none")
    sentences = class_sentences()
    encoded = teacher.encode(sentences)
    cls = torch.nn.functional.normalize(torch.stack([encoded[s].cls for s in sentences]), dim=1)
    return (cls @ cls.T).double().numpy()


def shares_cue(verb_a: str, verb_b: str) -> bool:
    return bool(set(SYNTHETIC_VERB_CUES[verb_a]) & set(SYNTHETIC_VERB_CUES[verb_b]))


def _object_blocks() -> Dict[int, List[int]]:
    blocks: Dict[int, List[int]] = {}
    for i, (o, _) in enumerate(SYNTHETIC_HOI_CLASSES):
        blocks.setdefault(o, []).append(i)
    return blocks


def _auc(sim: np.ndarray, cues: Dict[str, Sequence[str]]) -> float:
    shared, other = [], []
    for rows in _object_blocks().values():
        for a, b in itertools.combinations(rows, 2):
            va, vb = (SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[i][1]] for i in (a, b))
            if NO_INTERACTION in (va, vb):
                continue
            (shared if set(cues[va]) & set(cues[vb]) else other).append(sim[a, b])
    s, o = np.asarray(shared)[:, None], np.asarray(other)[None, :]
    return float(np.mean((s > o) + 0.5 * (s == o)))


def agreement(sim: np.ndarray) -> Dict:
    """Nearest neighbours, AUC and permutation test (module docstring)."""
    neighbours = []
    for obj, rows in _object_blocks().items():
        for a in rows:
            verb = SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[a][1]]
            if verb == NO_INTERACTION:
                continue
            others = [
                b
                for b in rows
                if b != a and SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[b][1]] != NO_INTERACTION
            ]
            nearest = max(others, key=lambda b: sim[a, b])
            other_verb = SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[nearest][1]]
            neighbours.append(
                {
                    "object": COCO_THING_CLASSES[obj],
                    "verb": verb,
                    "nearest": other_verb,
                    "similarity": float(sim[a, nearest]),
                    "shares_cue": shares_cue(verb, other_verb),
                }
            )
    verbs = [v for v in SYNTHETIC_VERBS if v != NO_INTERACTION]
    auc = _auc(sim, SYNTHETIC_VERB_CUES)
    permuted = []
    for perm in itertools.permutations(verbs):
        cues = {v: SYNTHETIC_VERB_CUES[p] for v, p in zip(verbs, perm)}
        permuted.append(_auc(sim, {**cues, NO_INTERACTION: ()}))
    return {
        "nearest_neighbours": neighbours,
        "auc": auc,
        "permutation_auc_mean": float(np.mean(permuted)),
        "permutation_fraction_at_least": float(np.mean(np.asarray(permuted) >= auc)),
        "num_permutations": len(permuted),
    }


def markdown(sim: np.ndarray, stats: Dict) -> str:
    """The per-object similarity matrices and the agreement summary, as Markdown."""
    lines = []
    for obj, rows in _object_blocks().items():
        verbs = [SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[i][1]] for i in rows]
        lines += [f"`{COCO_THING_CLASSES[obj]}`", ""]
        lines.append("| | " + " | ".join(v.replace("_", " ") for v in verbs) + " |")
        lines.append("|---" * (len(verbs) + 1) + "|")
        for a, va in zip(rows, verbs):
            cells = [f"{sim[a, b]:.3f}" if a != b else "" for b in rows]
            lines.append(f"| {va.replace('_', ' ')} | " + " | ".join(cells) + " |")
        lines.append("")
    agree = sum(n["shares_cue"] for n in stats["nearest_neighbours"])
    lines.append(
        f"Nearest neighbour shares a cue: {agree} of {len(stats['nearest_neighbours'])} "
        f"(verb, object) classes. AUC {stats['auc']:.3f} (relabelled cue sets: mean "
        f"{stats['permutation_auc_mean']:.3f}, {100 * stats['permutation_fraction_at_least']:.1f} %"
        f" of {stats['num_permutations']} reach it)."
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="teacher (default: the offline MiniLM)")
    p.add_argument("--json", default=None, help="also write the matrix and statistics here")
    args = p.parse_args(argv)
    sim = teacher_similarity(args.model)
    stats = agreement(sim)
    print(markdown(sim, stats))
    for n in stats["nearest_neighbours"]:
        mark = "shares a cue" if n["shares_cue"] else "NO shared cue"
        print(
            f"{n['object']:>12} {n['verb']:>8}: nearest {n['nearest']:>8} {n['similarity']:.3f} {mark}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sentences": class_sentences(), "similarity": sim.tolist(), **stats}, f)
    return sim, stats


if __name__ == "__main__":
    main()
