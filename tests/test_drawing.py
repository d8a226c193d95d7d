"""Pictures people can read: labels that never overlap (computed from the layout and measured on
the rendered text), colours fixed per verb with readable contrast, ``scale``, and the attention
view, whose capture leaves the model's outputs unchanged."""

import os

import numpy as np
import pytest
import torch
from busy_scene import busy_scene_image, busy_scene_predictions
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.structures import Boxes, Instances

import rmlr  # noqa: F401  (registers the datasets)
from rmlr.utils import HOIVisualizer
from rmlr.utils.label_layout import Rect, overlapping
from rmlr.utils.visualizer import contrast_ratio, text_color, verb_color

META = MetadataCatalog.get("synthetic_hoi_test")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")


def rendered_text_boxes(vis):
    """Display-pixel rectangles of every text drawn on the canvas (y down, like the layout)."""
    canvas = vis.output.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    height = canvas.get_width_height()[1]
    boxes = []
    for text in vis.output.ax.texts:
        e = text.get_window_extent(renderer)
        boxes.append(Rect(e.x0, height - e.y1, e.x1, height - e.y0))
    return boxes


def check_readable(vis, num_rows):
    """Every label row drawn, no two label rectangles overlapping, all inside the canvas, and
    every rendered text inside its own label rectangle."""
    plan = vis.label_plan
    rects = plan.rectangles()
    width, height = vis.output.canvas.get_width_height()
    assert sum(len(r) for r in plan.rows) == num_rows
    assert overlapping(rects) == []
    assert all(r.inside(width + 0.5, height + 0.5) for r in rects)
    texts = rendered_text_boxes(vis)
    assert len(texts) == len(rects)
    assert overlapping(texts) == []
    label_rects = [r for rows in plan.rows for r in rows] + plan.badges
    for text in texts:  # each text lies within one label rectangle (1 px anti-aliasing slack)
        assert any(
            text.x0 >= r.x0 - 1
            and text.x1 <= r.x1 + 1
            and text.y0 >= r.y0 - 1
            and text.y1 <= r.y1 + 1
            for r in label_rects
        ), text


def test_overlap_check_catches_stacked_labels():
    """The check the drawing tests rely on: the old layout put every label of pairs sharing an
    object box at that box's corner, which it reports."""
    corner = [Rect.at(90, 60, 80, 14), Rect.at(90, 60, 95, 14), Rect.at(90, 60, 70, 28)]
    assert overlapping(corner) == [(0, 1), (0, 2), (1, 2)]
    assert overlapping([Rect.at(0, 0, 10, 10), Rect.at(10, 0, 10, 10)]) == []  # touching is fine


@pytest.mark.parametrize("mode", ["auto", "inline", "panel"])
def test_busy_photo_labels_never_overlap(mode):
    """14 triplets on 11 pairs of 5 people and 6 overlapping objects (three "ride bicycle", one
    kite shared by three pairs) on a photo-like 960 x 640 picture: every label readable."""
    instances = busy_scene_predictions()
    vis = HOIVisualizer(busy_scene_image(), META, label_mode=mode)
    out = vis.draw_hoi_predictions(instances, top_k=None)
    check_readable(vis, len(instances))
    assert vis.label_plan.mode == "panel"  # too busy for inline labels: numbered side panel
    assert out.get_image().shape[0] == 640 and out.get_image().shape[1] > 960


def test_few_pairs_get_inline_labels_and_keep_the_image_size():
    instances = busy_scene_predictions()[[0, 10]]  # "ride bicycle" and "hold cup": no shared box
    vis = HOIVisualizer(busy_scene_image(), META)
    out = vis.draw_hoi_predictions(instances)
    check_readable(vis, 2)
    assert vis.label_plan.mode == "inline"
    assert out.get_image().shape == (640, 960, 3)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_small_images_keep_labels_inside_at_any_scale(scale):
    """The 160-pixel synthetic test images (the dataset visualizer used to cut labels at the right
    edge): all GT labels inside the canvas, none overlapping, canvas `scale` times larger."""
    dicts = DatasetCatalog.get("synthetic_hoi_test")
    d = max(dicts, key=lambda x: len(x["interactions"]))
    image = read_image(d["file_name"], format="RGB")
    vis = HOIVisualizer(image, META, scale=scale)
    out = vis.draw_hoi_ground_truth(d).get_image()
    check_readable(vis, len(d["interactions"]))
    assert out.shape[0] == round(image.shape[0] * scale)
    assert out.shape[1] >= round(image.shape[1] * scale)


def test_colours_are_fixed_per_verb_with_readable_text():
    # every verb of HICO-DET's 117: label text contrast >= 4.5 (WCAG AA)
    for v in range(117):
        assert contrast_ratio(verb_color(v), text_color(verb_color(v))) >= 4.5
    colours = [verb_color(v) for v in range(7)]
    assert len({tuple(np.round(c, 3)) for c in colours}) == 7
    # the same picture in two runs (Detectron2's random colours made every run differ) ...
    instances = busy_scene_predictions()
    images = []
    for _ in range(2):
        vis = HOIVisualizer(busy_scene_image(), META)
        images.append(vis.draw_hoi_predictions(instances, top_k=None).get_image())
    assert np.array_equal(images[0], images[1])
    # ... and each label row is filled with its verb's colour
    plan = vis.label_plan
    verbs = instances.pred_verb_classes.tolist()
    order = np.argsort(-instances.scores.numpy(), kind="stable")
    picture = images[1].astype(int)
    filled = 0
    for rows in plan.rows:
        for rect in rows:
            pixel = picture[int(rect.y0) + 2, int(rect.x1) - 2]
            filled += any(
                np.abs(pixel - 255 * np.array(verb_color(verbs[i]))).max() <= 2 for i in order
            )
    assert filled == len(instances)


def test_missing_object_is_drawn_as_an_agent_only_label():
    inst = Instances((100, 120))
    inst.pred_subject_boxes = Boxes(torch.tensor([[10.0, 10.0, 40.0, 90.0]]))
    inst.pred_object_boxes = Boxes(torch.full((1, 4), float("nan")))
    inst.pred_object_classes = torch.tensor([-1])
    inst.pred_verb_classes = torch.tensor([1])
    inst.scores = torch.tensor([0.7])
    vis = HOIVisualizer(np.zeros((100, 120, 3), np.uint8), META, scale=2)
    vis.draw_hoi_predictions(inst)
    assert [t.get_text() for t in vis.output.ax.texts] == ["hold 0.70"]


# --- the attention view ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_predictor(tmp_path_factory):
    """The tiny RmLR (random weights) whose DETR is steered to 3 people and 3 cups per image."""
    from test_model_rmlr import control_detections

    from rmlr.engine import HOIPredictor

    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pth"
    torch.save({"model": instantiate(cfg.model).state_dict()}, path)
    predictor = HOIPredictor(cfg, checkpoint=str(path), device="cpu")
    control_detections(predictor.model)
    return predictor


def test_attention_capture_changes_no_output_and_explains_the_model(tiny_predictor):
    from rmlr.utils.attention_maps import AttentionRecorder, attention_weights
    from rmlr.utils.attention_view import draw_attention, pair_names

    model = tiny_predictor.model
    image = read_image(DatasetCatalog.get("synthetic_hoi_test")[3]["file_name"], format="RGB")
    plain = tiny_predictor(image)
    seen = {}
    hooks = [
        model.ire.pair_fc.register_forward_hook(lambda m, a, o: seen.update(pooled=a[0])),
        model.ire.register_forward_hook(lambda m, a, o: seen.update(ire_in=a)),
        model.irm.competitive_layers[0].attention.register_forward_hook(
            lambda m, a, o: seen.update(att_in=a, att_out=o)
        ),
    ]
    with AttentionRecorder(model) as recorder:
        recorded = tiny_predictor(image)
    for h in hooks:
        h.remove()
    for field in ("pred_subject_boxes", "pred_object_boxes"):
        assert torch.equal(plain.get(field).tensor, recorded.get(field).tensor)
    for field in ("pred_object_classes", "pred_verb_classes", "scores"):
        assert torch.equal(plain.get(field), recorded.get(field))

    att = recorder.images([image.shape[:2]])[0]
    assert len(att) == 3 * 5  # 3 humans x 5 other entities
    # the IRE weights are the pooling: sum over cells of W_p * X_e gives the pooled features
    features, mask, _, _, image_index = seen["ire_in"]
    with torch.no_grad():
        encoded = model.ire.encode(features, mask)
    vh, vw = att.pooling.shape[1:]
    weights = torch.as_tensor(att.pooling)
    pooled = torch.einsum("phw,pehw->pe", weights, encoded[image_index][:, :, :vh, :vw])
    torch.testing.assert_close(pooled, seen["pooled"], atol=1e-5, rtol=1e-4)
    # the IRM weights are the attention: weights @ values, projected, give the layer's output
    query, key, value, padding = seen["att_in"]
    attn = model.irm.competitive_layers[0].attention
    with torch.no_grad():
        w = attention_weights(attn, query, key, padding)
        out = attn.output(
            torch.matmul(w, attn._split(attn.value(value))).transpose(1, 2).flatten(2)
        )
    torch.testing.assert_close(out, seen["att_out"], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(att.pair_attention[0], w[0].numpy(), atol=1e-6)
    assert np.allclose(att.pair_attention[0].sum(-1), 1.0, atol=1e-5)
    # the pooling map lies on the pair's union box (plus the one-cell reach of ROIAlign)
    p = 0
    heat = att.pooling_map(p)
    x0, y0 = np.minimum(att.boxes_h[p][:2], att.boxes_o[p][:2]) - 2 * max(att.cell_size)
    x1, y1 = np.maximum(att.boxes_h[p][2:], att.boxes_o[p][2:]) + 2 * max(att.cell_size)
    ys, xs = np.nonzero(heat)
    assert len(xs) and xs.min() >= x0 and xs.max() <= x1 and ys.min() >= y0 and ys.max() <= y1
    # every output row belongs to a captured pair with the same boxes
    for r in range(len(recorded)):
        j = att.pair_index(
            recorded.pred_subject_boxes.tensor[r].tolist(),
            recorded.pred_object_boxes.tensor[r].tolist(),
        )
        np.testing.assert_allclose(att.boxes_h[j], recorded.pred_subject_boxes.tensor[r], atol=1e-3)
    names, verbs = pair_names(att, recorded, tiny_predictor.metadata)
    picture = draw_attention(
        image, att, 0, pair_labels=names, pair_verbs=verbs, class_names=META.thing_classes, scale=2
    )
    assert picture.shape[0] > 2 * image.shape[0] and picture.shape[1] > 4 * image.shape[1]
    assert picture.std() > 10  # something was drawn
