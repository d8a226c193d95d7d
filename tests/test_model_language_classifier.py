"""The language classifier (zero-shot scoring through the teacher's sentence space), the RmLR
zero-shot options, and the tiny zero-shot config trained and evaluated end to end."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from detectron2.data import MetadataCatalog
from hoi_eval_helpers import image_dict
from test_model_rmlr import (
    H1,
    H2,
    O1,
    O2,
    VALID,
    FixedTeacher,
    V,
    build_model,
    image,
    needs_text,
)

from rmlr.evaluation import evaluate_hico_det, record_from_instances
from rmlr.modeling.cross_modal_learning.language_classifier import (
    LanguageClassifier,
    hoi_class_sentences_from_metadata,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
ZS_UV = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic_zs_uv.py")
DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")

# the classes of VALID in test_model_rmlr (person: verbs 0, 1; objects 1-3: verbs 1-4), and one
# more object (4) without any class; (object 1, verb 3) plays the unseen class
CLASSES = [(o, v) for o, verbs in enumerate(VALID) for v in verbs]
UNSEEN = CLASSES.index((1, 3))
SENTENCES = [f"person verb{v} object{o}" for o, v in CLASSES]


class EncodingTeacher(FixedTeacher):
    """FixedTeacher plus ``encode`` (fixed random E_cls per string), as TextTeacher has."""

    def __init__(self, dim=7):
        super().__init__(dim)
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = {}
        for t in texts:
            g = torch.Generator().manual_seed(sum(map(ord, t)) * 31 + len(t))
            out[t] = SimpleNamespace(cls=torch.randn(self.embed_dim, generator=g))
        return out


def classifier(text_weight=0.5, sentences=SENTENCES, dim=7, num_objects=len(VALID)):
    return LanguageClassifier(
        hoi_classes=CLASSES,
        sentences=sentences,
        num_objects=num_objects,
        num_verbs=V,
        embed_dim=dim,
        temperature=0.1,
        text_weight=text_weight,
    )


def test_text_probabilities_follow_the_nearest_class_after_centring():
    lc = classifier(num_objects=5)
    assert not lc.is_ready
    lc.compute_class_embeddings(EncodingTeacher())
    assert lc.is_ready
    e = lc.class_embeddings
    c = {k: i for i, k in enumerate(CLASSES)}
    # a pair predicting exactly class c's embedding: c gets the highest probability of its object
    features = torch.stack([e[c[1, 1]], e[c[1, 3]], e[c[0, 1]], e[c[1, 3]]])
    labels = torch.tensor([1, 1, 0, 4])  # object 4 has no class
    prob = lc(features, labels)
    assert prob.shape == (4, V)
    assert prob[0].argmax() == 1 and prob[1].argmax() == 3 and prob[2].argmax() == 1
    assert torch.allclose(prob[:3].sum(dim=1), torch.ones(3))
    assert (prob[3] == 0).all() and prob[0, 0] == 0 and prob[2, 2:].sum() == 0  # no class: 0
    # hand check: softmax over object 1's centred cosines / 0.1
    rows = [c[1, v] for v in range(1, 5)]
    mean = e[rows].mean(dim=0)
    cos = torch.nn.functional.cosine_similarity((e[c[1, 1]] - mean)[None], e[rows] - mean)
    assert torch.allclose(prob[0, 1:5], torch.softmax(cos / 0.1, dim=0), atol=1e-6)
    assert torch.allclose(lc.blend(torch.ones(1, V), torch.zeros(1, V)), torch.full((1, V), 0.5))


def test_class_embeddings_are_the_teachers_targets():
    # a teacher that standardises its targets: the class embeddings are in that space
    teacher = EncodingTeacher()
    teacher.standardize_cls = lambda x: (x - 1.0) / 2.0
    lc, raw = classifier(), classifier()
    lc.compute_class_embeddings(teacher)
    raw.compute_class_embeddings(EncodingTeacher())
    assert torch.allclose(lc.class_embeddings, (raw.class_embeddings - 1.0) / 2.0)


def test_class_embeddings_travel_in_the_state_dict_and_a_changed_class_list_is_refused():
    lc = classifier()
    lc.compute_class_embeddings(EncodingTeacher())
    state = lc.state_dict()
    assert set(state) == {"class_embeddings", "fingerprint"}
    again = classifier()
    again.load_state_dict(state)
    assert again.is_ready and torch.equal(again.class_embeddings, lc.class_embeddings)
    renamed = classifier(sentences=SENTENCES[:-1] + ["person stroke object3"])
    renamed.load_state_dict(state)
    assert not renamed.is_ready
    with pytest.raises(RuntimeError, match="no class embeddings for the configured 14 HOI classes"):
        renamed(torch.zeros(1, 7), torch.tensor([1]))
    with pytest.raises(ValueError, match="text_weight"):
        classifier(text_weight=1.5)


def test_sentences_come_from_the_datasets_own_names():
    name = "test_lc_own_dataset"
    MetadataCatalog.get(name).set(
        thing_classes=["person", "dog"],
        verb_classes=["feed_with", "walk"],
        hoi_classes=[(1, 0), (1, 1)],
        person_category_id=0,
    )
    assert hoi_class_sentences_from_metadata(name) == ["person feed with dog", "person walk dog"]


def _zero_shot_model(text_weight):
    entities = [[(H1, 0.9, 0), (H2, 0.9, 0), (O1, 0.9, 1), (O2, 0.9, 1)]]
    teacher = EncodingTeacher()
    model = build_model(entities, teacher=teacher)
    model.language_classifier = classifier(text_weight)
    model.language_classifier.compute_class_embeddings(teacher)
    # The visual classifier cannot tell the unseen verb: the same logit for every pair.
    with torch.no_grad():
        model.irm.classifier.weight[3] = 0.0
        model.irm.classifier.bias[3] = 0.0
    e = model.language_classifier.class_embeddings
    branch = model.cross_modal.irm_branch

    def sentence_head_output(features, image_index, num_images):
        # The sentence head "recognises" the pair (H2, O2) as the unseen class and every other
        # pair as class 0: the text alone can tell the unseen class.
        out = e[0].repeat(features.shape[0], 1)
        out[5] = e[UNSEEN]  # pairs: H1-H2, H1-O1, H1-O2, H2-H1, H2-O1, H2-O2
        return out

    branch.sentence_head_output = sentence_head_output
    return model.eval()


def test_an_unseen_class_gets_ap_only_through_the_text():
    # GT: (H2, O2) is the unseen class (object 1, verb 3); (H1, O1) a seen one; the model's
    # output is in original image coordinates, twice the input size (test_model_rmlr.image)
    h1, h2, o1, o2 = ([2 * x for x in box] for box in (H1, H2, O1, O2))
    dicts = [image_dict(0, [(h2, o2, 1, 3), (h1, o1, 1, 1)], width=128, height=80)]
    meta = SimpleNamespace(
        thing_classes=["person", "object1", "object2", "object3"],  # the model's VALID classes
        verb_classes=[f"verb{v}" for v in range(V)],
        hoi_classes=CLASSES,
    )
    ap = {}
    for weight in (0.0, 0.5, 1.0):
        model = _zero_shot_model(weight)
        with torch.no_grad():
            out = model([image(h=40, w=64)])[0]["hoi_instances"]
        result = evaluate_hico_det(dicts, meta, {0: record_from_instances(out)}, [UNSEEN])
        ap[weight] = float(result.ap.ap_default[UNSEEN])
    # visual alone: four tied pairs of object 1, the true one last -> precision 1/4 at recall 1
    assert ap[0.0] == pytest.approx(0.25)
    assert ap[1.0] == pytest.approx(1.0) and ap[0.5] == pytest.approx(1.0)


def test_without_the_classifier_scores_are_unchanged_and_training_fills_the_embeddings():
    entities = [[(H1, 0.9, 0), (O1, 0.8, 1)]]
    plain = build_model(entities).eval()
    visual_only = build_model(entities, teacher=EncodingTeacher()).eval()
    visual_only.language_classifier = classifier(text_weight=0.0)
    visual_only.language_classifier.compute_class_embeddings(EncodingTeacher())
    with torch.no_grad():
        a = plain([image()])[0]["hoi_instances"]
        b = visual_only([image()])[0]["hoi_instances"]
    assert torch.allclose(a.scores, b.scores)
    # training: the teacher encodes the class sentences once, at the first iteration
    teacher = EncodingTeacher()
    model = build_model(entities, teacher=teacher)
    model.language_classifier = classifier()
    model.train()
    batch = [image(gt_boxes=[H1, O1], gt_classes=[0, 1], interactions=[[0, 1, 1]])]
    model(batch)
    model(batch)
    assert model.language_classifier.is_ready and teacher.calls == 1


def test_a_verb_no_training_class_uses_is_scored_by_the_text_alone():
    lc = classifier(text_weight=0.5)
    visual, text = torch.full((2, V), 0.9), torch.full((2, V), 0.1)
    trained = torch.tensor([True, True, True, False, True])  # verb 3 never trained
    out = lc.blend(visual, text, trained)
    assert torch.allclose(out[:, 3], text[:, 3]) and torch.allclose(
        out[:, 1], torch.full((2,), 0.5)
    )
    lc.text_only_for_untrained_verbs = False
    assert torch.allclose(lc.blend(visual, text, trained), torch.full((2, V), 0.5))
    # RmLR passes the verbs of its training mask
    model = build_model([[(H1, 0.9, 0), (O1, 0.8, 1)]])
    assert model.trained_verbs.tolist() == [True] * V


def test_training_mask_hides_unseen_classes_from_the_loss():
    entities = [[(H1, 0.9, 0), (O1, 0.8, 1)]]
    model = build_model(entities)
    seen = [[0, 1], [1, 2, 4], [1, 2, 3, 4], [1, 2, 3, 4]]
    from rmlr.modeling.meta_arch.rmlr import RmLR

    kwargs = dict(
        entity_detector=model.entity_detector,
        ire=model.ire,
        irm=model.irm,
        text_teacher=model.text_teacher,
        cross_modal=model.cross_modal,
        num_verbs=V,
        valid_verbs_per_object=[[0, 1]] + [[1, 2, 3, 4]] * 3,
    )
    zs = RmLR(**kwargs, train_valid_verbs_per_object=seen)
    assert not zs.train_verb_mask[1, 3] and zs.verb_mask[1, 3]
    assert zs.trained_verbs.all()  # verb 3 is still trained on objects 2 and 3
    with pytest.raises(ValueError, match="subset"):
        RmLR(**kwargs, train_valid_verbs_per_object=[[0, 1, 2]] + seen[1:])
    with pytest.raises(ValueError, match="language_classifier.embed_dim=5"):
        RmLR(**kwargs, language_classifier=classifier(dim=5))


@needs_text
def test_tiny_zero_shot_config_trains_and_evaluates_end_to_end(tmp_path):
    cmd = [
        sys.executable,
        TRAIN_NET,
        "--config-file",
        ZS_UV,
        f"model.entity_detector.checkpoint={DETR}",
        "train.max_iter=3",
        "train.checkpointer.period=3",
        "train.log_period=1",
        "dataloader.train.total_batch_size=2",
        f"train.output_dir={tmp_path}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "log.txt").read_text()
    assert "synthetic_hoi_train_zs_uv: zero-shot protocol dropped" in log
    results = json.loads((tmp_path / "results.json").read_text())["hico_det"]
    assert {"unseen", "seen", "full", "ko_unseen", "ko_seen"} <= set(results)
    assert "| Unseen | Seen |" in (tmp_path / "results.md").read_text()
    rows = (tmp_path / "hico_det_per_class_ap.csv").read_text().splitlines()
    assert rows[0].split(",")[4] == "unseen" and sum(r.split(",")[4] == "1" for r in rows[1:]) == 4
    state = torch.load(tmp_path / "model_final.pth", weights_only=True)["model"]
    embeddings = state["language_classifier.class_embeddings"]
    assert embeddings.shape == (27, 384) and embeddings.abs().sum() > 0
    assert state["language_classifier.fingerprint"].any()
