"""``HOIDatasetMapper`` and the augmentation: boxes follow the pixels under every transform, pairs
keep referring to the right entities, cropped-away pairs are dropped, the output contract."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from rmlr.data import (
    ColorJitter,
    ColorJitterTransform,
    HOIDatasetMapper,
    RandomSelect,
    build_upt_augmentation,
)
from rmlr.data.metadata import COCO_THING_CLASSES, HICO_VERBS

RIDE, HOLD, NO_INTERACTION = HICO_VERBS.index("ride"), HICO_VERBS.index("hold"), 57
PALETTE = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255]], np.uint8
)
# Entities: (category, [x1, y1, x2, y2]) - continuous boxes, painted with PALETTE[i].
ENTITIES = [
    (0, [10, 10, 50, 90]),  # person
    (1, [60, 40, 120, 90]),  # bicycle
    (0, [130, 5, 170, 100]),  # person
    (41, [175, 60, 195, 85]),  # cup
    (0, [20, 105, 60, 155]),  # person
    (32, [100, 120, 130, 150]),  # sports ball
]
INTERACTIONS = [[0, 1, RIDE], [0, 1, HOLD], [2, 3, HOLD], [4, 5, NO_INTERACTION], [2, 1, HOLD]]
WIDTH, HEIGHT = 200, 160


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for colour, (_, (x1, y1, x2, y2)) in zip(PALETTE, ENTITIES):
        image[y1:y2, x1:x2] = colour
    path = tmp_path_factory.mktemp("mapper") / "image.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    return {
        "file_name": str(path),
        "image_id": 3,
        "height": HEIGHT,
        "width": WIDTH,
        "annotations": [
            {"bbox": list(map(float, box)), "bbox_mode": BoxMode.XYXY_ABS, "category_id": c}
            for c, box in ENTITIES
        ],
        "interactions": INTERACTIONS,
    }


def mapper(augmentations, is_train=True):
    return HOIDatasetMapper(
        is_train=is_train,
        augmentations=augmentations,
        thing_classes=COCO_THING_CLASSES,
        verb_classes=HICO_VERBS,
    )


def identify(image: np.ndarray, box) -> int:
    """Palette index of the colour at the centre of a box (-1 for background)."""
    x1, y1, x2, y2 = box
    pixel = image[int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
    distances = np.abs(np.vstack([PALETTE, [[0, 0, 0]]]).astype(int) - pixel).sum(1)
    best = int(distances.argmin())
    return -1 if best == len(PALETTE) else best


def check_consistent(out, record, tolerance=2.0):
    """Every output box is the pixel extent of its entity's colour, and every output pair maps to
    an input pair with the same verb; pairs of surviving entities are all there."""
    image = out["image"].permute(1, 2, 0).numpy()
    boxes = out["instances"].gt_boxes.tensor.numpy()
    classes = out["instances"].gt_classes.tolist()
    origin = []
    for box, cls in zip(boxes, classes):
        index = identify(image, box)
        assert index >= 0 and ENTITIES[index][0] == cls
        mask = np.abs(image.astype(int) - PALETTE[index].astype(int)).sum(2) < 200
        ys, xs = np.nonzero(mask)
        extent = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        scale = max(1.0, image.shape[0] / HEIGHT)
        assert np.allclose(box, extent, atol=tolerance * scale), (box, extent)
        origin.append(index)
    assert len(set(origin)) == len(origin)
    got = sorted((origin[s], origin[o], v) for s, o, v in out["interactions"].tolist())
    expected = sorted(tuple(t) for t in INTERACTIONS if t[0] in origin and t[1] in origin)
    assert got == expected
    return origin


def test_output_contract(record):
    out = mapper([T.NoOpTransform()])(record)
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, HEIGHT, WIDTH)
    assert (out["file_name"], out["image_id"], out["height"], out["width"]) == (
        record["file_name"],
        3,
        HEIGHT,
        WIDTH,
    )
    assert out["instances"].image_size == (HEIGHT, WIDTH)
    assert out["instances"].gt_classes.dtype == torch.int64
    assert torch.equal(out["interactions"], torch.tensor(INTERACTIONS))
    assert torch.equal(
        out["instances"].gt_boxes.tensor, torch.tensor([b for _, b in ENTITIES]).float()
    )
    assert out["hoi_text"]["sentences"] == [
        "person ride bicycle",
        "person hold bicycle",
        "person hold cup",
        "person no interaction sports ball",
    ]
    assert out["hoi_text"]["interaction_to_sentence"].tolist() == [0, 1, 2, 3, 1]
    assert "annotations" not in out and record["interactions"] == INTERACTIONS  # input untouched
    check_consistent(out, record)


def test_flip_twice_restores_everything(record):
    flip = T.RandomFlip(prob=1.0, horizontal=True, vertical=False)
    once = mapper([flip])(record)
    check_consistent(once, record)
    assert once["instances"].gt_boxes.tensor[0].tolist() == [150.0, 10.0, 190.0, 90.0]
    twice = mapper([flip, flip])(record)
    assert torch.equal(twice["image"], mapper([T.NoOpTransform()])(record)["image"])
    assert torch.equal(
        twice["instances"].gt_boxes.tensor, torch.tensor([b for _, b in ENTITIES]).float()
    )


@pytest.mark.parametrize("size", [(480, 1333), (100, 1333), (800, 900)])
def test_resize_moves_boxes_with_the_pixels(record, size):
    out = mapper([T.ResizeShortestEdge([size[0]], size[1], sample_style="choice")])(record)
    assert min(out["image"].shape[1:]) == size[0] or max(out["image"].shape[1:]) == size[1]
    check_consistent(out, record)


def test_crop_drops_entities_and_pairs_that_leave_the_image(record):
    # Keep x in [61, 200): persons 0 and 4 leave; bicycle, person 2, cup, ball stay.
    out = mapper([T.CropTransform(61, 0, 139, 160)])(record)
    origin = check_consistent(out, record)
    assert origin == [1, 2, 3, 5]
    assert out["interactions"].tolist() == [[1, 2, HOLD], [1, 0, HOLD]]
    assert out["hoi_text"]["sentences"] == ["person hold cup", "person hold bicycle"]
    # A crop with entities but no complete pair left.
    out = mapper([T.CropTransform(0, 0, 55, 160)])(record)
    assert check_consistent(out, record) == [0, 4]
    assert out["interactions"].shape == (0, 3) and out["interactions"].dtype == torch.int64
    assert out["hoi_text"]["sentences"] == []
    assert out["hoi_text"]["interaction_to_sentence"].shape == (0,)
    # Nothing left at all.
    out = mapper([T.CropTransform(196, 156, 4, 4)])(record)
    assert len(out["instances"]) == 0 and out["interactions"].shape == (0, 3)


def test_upt_augmentation_keeps_boxes_and_pairs_consistent(record):
    augs = build_upt_augmentation(is_train=True, color_jitter=(0.0, 0.0, 0.0))
    m = mapper(augs)
    crops = 0
    for seed in range(12):
        np.random.seed(seed)
        out = m(record)
        shorter, longer = sorted(out["image"].shape[1:])
        assert longer <= 1333 and (shorter in range(480, 801, 32) or longer == 1333)
        crops += len(out["instances"]) < len(ENTITIES)
        check_consistent(out, record)
    assert crops > 0  # some seeds took the crop branch and cut entities


def test_colour_jitter_moves_no_box(record):
    np.random.seed(0)
    out = mapper([ColorJitter(0.4, 0.4, 0.4, 0.1)])(record)
    assert torch.equal(
        out["instances"].gt_boxes.tensor, torch.tensor([b for _, b in ENTITIES]).float()
    )


def test_test_mode_resizes_without_text_and_keeps_the_original_size(record):
    m = HOIDatasetMapper(is_train=False, augmentations=build_upt_augmentation(is_train=False))
    out = m(record)
    assert out["image"].shape == (3, 800, 1000) and "hoi_text" not in out
    assert (out["height"], out["width"]) == (HEIGHT, WIDTH)
    check_consistent(out, record)


def test_record_without_size_or_annotations(record):
    bare = {"file_name": record["file_name"], "image_id": 9}
    out = mapper([T.NoOpTransform()], is_train=False)(bare)
    assert (out["height"], out["width"]) == (HEIGHT, WIDTH)
    assert len(out["instances"]) == 0 and out["interactions"].shape == (0, 3)
    with pytest.raises(
        ValueError, match="image.png: agent_only: entity index 0 out of range \\[0, 0\\)"
    ):
        mapper([T.NoOpTransform()], is_train=False)({**bare, "agent_only": [[0, 3]]})
    with pytest.raises(
        ValueError, match="image.png: interactions: entity index 6 out of range \\[0, 6\\)"
    ):
        mapper([T.NoOpTransform()])({**record, "interactions": [[0, 6, 1]]})
    with_agent = {**record, "agent_only": [[0, 4], [4, 2]]}
    out = mapper([T.CropTransform(61, 0, 139, 160)], is_train=False)(with_agent)
    assert out["agent_only"].shape == (0, 2)
    out = mapper([T.NoOpTransform()], is_train=False)(with_agent)
    assert out["agent_only"].tolist() == [[0, 4], [4, 2]]


def test_hoi_text_requires_class_names():
    with pytest.raises(ValueError, match="needs thing_classes and verb_classes"):
        HOIDatasetMapper(is_train=True, augmentations=[])


def test_build_upt_augmentation_structure():
    train = build_upt_augmentation(is_train=True)
    assert [type(a).__name__ for a in train] == ["RandomFlip", "ColorJitter", "RandomSelect"]
    assert train[0].prob == 0.5 and (train[1].brightness, train[1].contrast) == (0.4, 0.4)
    assert train[1].saturation == 0.4 and train[1].hue == 0.0
    select = train[2]
    assert select.prob == 0.5
    assert list(select.first.short_edge_length) == list(range(480, 801, 32))
    resize, crop, again = select.second
    assert list(resize.short_edge_length) == [400, 500, 600]
    assert crop.crop_type == "absolute_range" and tuple(crop.crop_size) == (384, 600)
    assert again.max_size == 1333
    (test,) = build_upt_augmentation(is_train=False)
    assert list(test.short_edge_length) == [800] and test.max_size == 1333


def test_random_select_follows_its_probability():
    image = np.zeros((10, 20, 3), np.uint8)
    first, second = T.Resize((5, 5)), T.Resize((7, 7))
    for prob, shape in ((1.0, (5, 5, 3)), (0.0, (7, 7, 3))):
        aug_input = T.AugInput(image)
        RandomSelect(first, [second], prob=prob)(aug_input)
        assert aug_input.image.shape == shape


@pytest.mark.parametrize(
    "order",
    [
        ("brightness", "contrast", "saturation", "hue"),
        ("hue", "saturation", "contrast", "brightness"),
    ],
)
def test_colour_jitter_transform_matches_torchvision(order):
    import torchvision.transforms.functional as F

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3)).astype(np.float32)
    factors = {"brightness": 1.3, "contrast": 0.7, "saturation": 1.4, "hue": 0.08}
    ours = ColorJitterTransform(**factors, order=order).apply_image(image)
    ref = torch.from_numpy(image / 255.0).permute(2, 0, 1)
    ops = {
        "brightness": F.adjust_brightness,
        "contrast": F.adjust_contrast,
        "saturation": F.adjust_saturation,
        "hue": F.adjust_hue,
    }
    for op in order:
        ref = ops[op](ref, factors[op])
    ref = ref.permute(1, 2, 0).numpy() * 255.0
    assert np.abs(ours - ref).max() < 1.0
    # uint8 images come back as uint8; factors of 1 change nothing.
    as_uint8 = image.astype(np.uint8)
    same = ColorJitterTransform(brightness=1, contrast=1, saturation=1, hue=0, order=order)
    assert np.array_equal(same.apply_image(as_uint8), as_uint8)
    bgr = ColorJitterTransform(**factors, order=order, image_format="BGR")
    assert np.abs(bgr.apply_image(image[:, :, ::-1])[:, :, ::-1] - ours).max() < 1e-3
