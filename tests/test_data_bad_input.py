"""Bad input: each case raises an error naming the file and the entry, or is skipped / clipped with
a logged count (policy in ``rmlr.data.hico_det`` / ``rmlr.data.box_pairs``)."""

import json
import logging

import cv2
import numpy as np
import pytest
from detectron2.data import transforms as T

from rmlr.data import HICO_HOI_CLASSES, HOIDatasetMapper, load_hico_det_json, load_vcoco_json
from rmlr.data.metadata import COCO_THING_CLASSES, HICO_VERBS, VCOCO_ACTION_ROLES

RIDE_BICYCLE = (1, 76)  # (object, verb) of HOI 18
HOLD_CUP = (41, 36)


def upt_file(tmp_path, images, **overrides):
    """A UPT-style HICO-DET file; ``images`` = [(file_name, [w, h], [(box_h, box_o, obj, verb)])]
    with 1-based inclusive boxes."""
    annotation = []
    for _, _, pairs in images:
        entry = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
        for box_h, box_o, obj, verb in pairs:
            entry["boxes_h"].append(box_h)
            entry["boxes_o"].append(box_o)
            entry["hoi"].append(
                HICO_HOI_CLASSES.index((obj, verb)) if (obj, verb) in HICO_HOI_CLASSES else 0
            )
            entry["object"].append(obj)
            entry["verb"].append(verb)
        annotation.append(entry)
    data = {
        "filenames": [name for name, _, _ in images],
        "size": [size for _, size, _ in images],
        "annotation": annotation,
        "objects": [n.replace(" ", "_") for n in COCO_THING_CLASSES],
        "verbs": list(HICO_VERBS),
        "correspondence": [[i, o, v] for i, (o, v) in enumerate(HICO_HOI_CLASSES)],
    }
    data.update(overrides)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return str(path), data


GOOD = ("img.jpg", [100, 80], [([1, 1, 20, 60], [30, 40, 90, 80], *RIDE_BICYCLE)])


def test_a_valid_file_loads(tmp_path):
    path, _ = upt_file(tmp_path, [GOOD])
    (d,) = load_hico_det_json(path, str(tmp_path))
    assert d["annotations"][1]["bbox"] == [29.0, 39.0, 90.0, 80.0]


def test_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a valid JSON file"):
        load_hico_det_json(str(path), str(tmp_path))


@pytest.mark.parametrize(
    "content, message",
    [
        ({"images": [], "annotations": [], "categories": []}, "COCO instances file"),
        ({"annotations": [], "classes": []}, "V-COCO file"),
        ({"something": 1}, "not a HICO-DET annotation file"),
        ([{"file_name": "a.jpg"}], "not a HICO-DET annotation file"),
        ([], "empty dataset"),
    ],
)
def test_json_in_no_known_format(tmp_path, content, message):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=f"other.json.*{message}"):
        load_hico_det_json(str(path), str(tmp_path))


def test_missing_keys(tmp_path):
    path, data = upt_file(tmp_path, [GOOD])
    del data["correspondence"]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"instances.json: UPT-style .* \['correspondence'\]"):
        load_hico_det_json(path, str(tmp_path))
    path, data = upt_file(tmp_path, [GOOD])
    del data["annotation"][0]["verb"]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"instances.json: image 0 \(img.jpg\): annotation must"):
        load_hico_det_json(path, str(tmp_path))


def test_lists_of_different_lengths(tmp_path):
    path, data = upt_file(tmp_path, [GOOD])
    data["size"].append([10, 10])
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="must have the same length"):
        load_hico_det_json(path, str(tmp_path))


@pytest.mark.parametrize(
    "box_o, what",
    [
        ([50, 40, 40, 80], "x2 <= x1"),
        ([30, 90, 60, 95], "outside the image"),
        ([1, 1, 1, float("nan")], "nan"),
    ],
)
def test_empty_or_outside_box_skips_the_pair_with_a_logged_count(tmp_path, caplog, box_o, what):
    images = [
        ("img.jpg", [100, 80], [([1, 1, 20, 60], box_o, *RIDE_BICYCLE), GOOD[2][0]]),
    ]
    path, _ = upt_file(tmp_path, images)
    with caplog.at_level(logging.WARNING):
        (d,) = load_hico_det_json(path, str(tmp_path))
    assert len(d["interactions"]) == 1
    assert "skipped 1 pair(s) with an empty box" in caplog.text
    assert "image 0 (img.jpg) pair 0" in caplog.text


def test_box_partly_outside_is_clipped_with_a_logged_count(tmp_path, caplog):
    images = [("img.jpg", [100, 80], [([1, 1, 20, 60], [30, 40, 120, 90], *RIDE_BICYCLE)])]
    path, _ = upt_file(tmp_path, images)
    with caplog.at_level(logging.WARNING):
        (d,) = load_hico_det_json(path, str(tmp_path))
    assert d["annotations"][1]["bbox"] == [29.0, 39.0, 100.0, 80.0]
    assert "clipped 1 entity box(es)" in caplog.text


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("object", 80, "object 80 out of range"),
        ("verb", 117, "verb 117 out of range"),
        ("hoi", 600, "hoi 600 out of range"),
        ("hoi", 0, "HOI 0 is .* but the pair has object 1, verb 76"),
        ("object", 1.5, "object 1.5 out of range"),
    ],
)
def test_ids_out_of_range_or_not_matching_the_correspondence(tmp_path, field, value, message):
    path, data = upt_file(tmp_path, [GOOD, GOOD])
    data["annotation"][1][field][0] = value
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=rf"instances.json: image 1 \(img.jpg\), pair 0: {message}"
    ):
        load_hico_det_json(path, str(tmp_path))


def test_hoi_not_in_the_correspondence_table(tmp_path):
    # (cup, ride) is no HICO-DET HOI class.
    path, _ = upt_file(
        tmp_path, [("img.jpg", [100, 80], [([1, 1, 20, 60], [30, 40, 90, 80], 41, 76)])]
    )
    with pytest.raises(ValueError, match="pair 0: HOI 0 is"):
        load_hico_det_json(path, str(tmp_path))
    images = [
        {
            "file_name": "a.jpg",
            "width": 100,
            "height": 80,
            "annotations": [
                {"bbox": [1, 1, 9, 9], "category_id": 1},
                {"bbox": [20, 20, 30, 30], "category_id": 47},
            ],
            "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 77}],
        }
    ]
    ppdm = tmp_path / "test_hico.json"
    ppdm.write_text(json.dumps(images))
    with pytest.raises(
        ValueError, match=r"image 0 \(a.jpg\), hoi_annotation 0: .* not in the HOI correspondence"
    ):
        load_hico_det_json(str(ppdm), str(tmp_path))


def test_ppdm_unknown_category_and_wrong_hoi_id(tmp_path):
    image = {
        "file_name": "a.jpg",
        "width": 100,
        "height": 80,
        "annotations": [
            {"bbox": [1, 1, 9, 9], "category_id": 1},
            {"bbox": [20, 20, 30, 30], "category_id": 12},
        ],
        "hoi_annotation": [],
    }
    path = tmp_path / "test_hico.json"
    path.write_text(json.dumps([image]))
    with pytest.raises(ValueError, match="annotation 1: category_id 12 is no COCO category"):
        load_hico_det_json(str(path), str(tmp_path))
    image["annotations"][1]["category_id"] = 2
    image["hoi_annotation"] = [{"subject_id": 0, "object_id": 1, "category_id": 118}]
    path.write_text(json.dumps([image]))
    with pytest.raises(ValueError, match="hoi_annotation 0: verb category_id 118 out of range"):
        load_hico_det_json(str(path), str(tmp_path))
    image["hoi_annotation"] = [
        {"subject_id": 0, "object_id": 1, "category_id": 77, "hoi_category_id": 5}
    ]
    path.write_text(json.dumps([image]))
    with pytest.raises(ValueError, match="hoi_category_id 5 disagrees"):
        load_hico_det_json(str(path), str(tmp_path))


def test_correspondence_table_or_verbs_that_differ(tmp_path):
    path, data = upt_file(tmp_path, [GOOD])
    data["correspondence"][3] = [3, 4, 5]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="correspondence row 3: HOI 3"):
        load_hico_det_json(path, str(tmp_path))
    path, data = upt_file(tmp_path, [GOOD])
    data["verbs"] = data["verbs"][1:]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"'verbs' \(116 names\) differs"):
        load_hico_det_json(path, str(tmp_path))


def test_unknown_object_order_is_refused(tmp_path):
    objects = [n.replace(" ", "_") for n in COCO_THING_CLASSES]
    objects[1], objects[2] = objects[2], objects[1]
    path, _ = upt_file(tmp_path, [GOOD], objects=objects)
    with pytest.raises(ValueError, match="unknown object order"):
        load_hico_det_json(path, str(tmp_path))


def test_bad_image_size(tmp_path):
    path, _ = upt_file(tmp_path, [("img.jpg", [0, 80], GOOD[2])])
    with pytest.raises(ValueError, match=r"image 0 \(img.jpg\): image size must be"):
        load_hico_det_json(path, str(tmp_path))


def test_empty_dataset(tmp_path):
    path, _ = upt_file(tmp_path, [])
    with pytest.raises(ValueError, match="instances.json: empty dataset"):
        load_hico_det_json(path, str(tmp_path))
    path, _ = upt_file(tmp_path, [("a.jpg", [10, 10], [])])
    assert len(load_hico_det_json(path, str(tmp_path))) == 1  # test sets keep empty images
    with pytest.raises(ValueError, match="empty dataset \\(no image with an interaction\\)"):
        load_hico_det_json(path, str(tmp_path), filter_empty=True)


def test_ppdm_image_missing_for_its_size(tmp_path):
    image = {"file_name": "gone.jpg", "annotations": [], "hoi_annotation": []}
    path = tmp_path / "test_hico.json"
    path.write_text(json.dumps([image]))
    with pytest.raises(FileNotFoundError, match="image 0 \\(gone.jpg\\).*gone.jpg is missing"):
        load_hico_det_json(str(path), str(tmp_path))


def test_vcoco_bad_input(tmp_path):
    good = {
        "annotations": [
            {
                "boxes_h": [[0, 0, 10, 10]],
                "boxes_o": [[20, 20, 30, 30]],
                "actions": [0],
                "objects": [42],
                "file_name": "a.jpg",
            }
        ],
        "classes": list(VCOCO_ACTION_ROLES),
        "objects": ["background"] + list(COCO_THING_CLASSES),
        "images": [7],
    }
    path = tmp_path / "instances_vcoco.json"

    def load(data):
        path.write_text(json.dumps(data))
        return load_vcoco_json(str(path), str(tmp_path))

    (d,) = load(good)
    assert d["interactions"] == [[0, 1, 0]] and d["annotations"][1]["category_id"] == 41
    with pytest.raises(ValueError, match="not V-COCO's 24 action-roles"):
        load({**good, "classes": good["classes"][:-1]})
    with pytest.raises(ValueError, match="lists of different lengths"):
        load({**good, "images": [7, 8]})
    bad = json.loads(json.dumps(good))
    bad["annotations"][0]["actions"] = [24]
    with pytest.raises(ValueError, match=r"image 0 \(a.jpg\), pair 0: action 24 out of range"):
        load(bad)
    bad["annotations"][0]["actions"], bad["annotations"][0]["objects"] = [0], [0]
    with pytest.raises(ValueError, match=r"pair 0: object 0 out of range \[1, 80\]"):
        load(bad)
    with pytest.raises(ValueError, match="not a V-COCO annotation file"):
        load({"filenames": []})


def _mapper():
    return HOIDatasetMapper(is_train=False, augmentations=[T.NoOpTransform()])


def test_missing_and_unreadable_images_fail_in_the_mapper_naming_the_path(tmp_path):
    record = {"file_name": str(tmp_path / "absent.jpg"), "image_id": 1, "height": 8, "width": 8}
    with pytest.raises(FileNotFoundError, match="absent.jpg"):
        _mapper()(record)
    (tmp_path / "broken.jpg").write_bytes(b"this is not an image")
    with pytest.raises(OSError, match="cannot read image .*broken.jpg"):
        _mapper()({**record, "file_name": str(tmp_path / "broken.jpg")})


def test_image_size_that_disagrees_with_the_annotation_fails_naming_the_path(tmp_path):
    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((6, 9, 3), np.uint8))
    record = {"file_name": str(tmp_path / "small.png"), "image_id": 1, "height": 8, "width": 8}
    with pytest.raises(Exception, match="small.png"):
        _mapper()(record)


def _with_keypoints(tmp_path, keypoints_h):
    path, data = upt_file(tmp_path, [GOOD])
    data["annotation"][0]["keypoints_h"] = keypoints_h
    (tmp_path / "instances.json").write_text(json.dumps(data))
    return path


def test_optional_keypoints_load_in_detectron2_convention(tmp_path):
    # 1-based pixel indices as the boxes -> continuous pixel centres; v = 0 -> [0, 0, 0].
    path = _with_keypoints(tmp_path, [[5, 7, 2, 9, 9, 1, 3, 3, 0]])
    (d,) = load_hico_det_json(path, str(tmp_path))
    assert d["annotations"][0]["keypoints"] == [4.5, 6.5, 2.0, 8.5, 8.5, 1.0, 0.0, 0.0, 0.0]
    assert "keypoints" not in d["annotations"][1]  # the object


@pytest.mark.parametrize(
    "keypoints_h, message",
    [
        ("nope", r"image 0 \(img.jpg\): 'keypoints_h' must be a list, got str"),
        ([], "pair lists of different lengths"),
        ([[1, 2]], r"image 0, pair 0: keypoints_h must be a flat list"),
        ([[1, 2, 3]], r"pair 0: keypoints_h keypoint 0 has visibility 3"),
        ([[1, 2, float("nan")]], r"pair 0: keypoints_h must be 3 finite numbers"),
    ],
)
def test_malformed_keypoints(tmp_path, keypoints_h, message):
    path = _with_keypoints(tmp_path, keypoints_h)
    with pytest.raises(ValueError, match=message):
        load_hico_det_json(path, str(tmp_path))


def test_keypoints_that_disagree_for_the_same_human(tmp_path):
    pair = ([1, 1, 20, 60], [30, 40, 90, 80], *RIDE_BICYCLE)
    other = ([1, 1, 20, 60], [30, 40, 90, 80], *HOLD_CUP)
    path, data = upt_file(tmp_path, [("img.jpg", [100, 80], [pair, other])])
    data["annotation"][0]["keypoints_h"] = [[5, 7, 2], [6, 7, 2]]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"image 0 \(img.jpg\) pair 1: keypoints differ"):
        load_hico_det_json(path, str(tmp_path))
