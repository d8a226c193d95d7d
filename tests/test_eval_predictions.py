"""The predictions file: exact round trip (JSON and gzip) and clear errors for bad files."""

import gzip
import json
import math

import numpy as np
import pytest
from hoi_eval_helpers import hico_metadata, image_dict, record, vcoco_metadata

from rmlr.evaluation import (
    PredictionSpec,
    entries_to_records,
    load_predictions,
    make_record,
    records_to_entries,
    save_predictions,
)

HOIS = [(1, 0), (1, 1), (2, 0)]
H, O = [10.25, 10, 50, 90.125], [40, 30, 80, 70]
DICTS = [image_dict(7, [(H, O, 1, 0)]), image_dict(9, [])]
SPEC = PredictionSpec.from_metadata(hico_metadata(HOIS))


def good_entry(**hoi):
    p = {"subject_box": H, "object_box": O, "object_category": 1, "verb": 0, "score": 0.5}
    p.update(hoi)
    return {"file_name": "img_00007.jpg", "image_id": 7, "hoi": [p]}


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_round_trip_is_exact(tmp_path, suffix):
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 100, (5, 4)).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    # float32 arrays, as a model returns them (object 2 with verb 0 is HOI 2).
    rec = make_record(boxes, boxes + 1, [2] * 5, [0] * 5, rng.random(5).astype(np.float32))
    records = {7: rec, 9: record([])}
    path = str(tmp_path / f"predictions{suffix}")
    save_predictions(records_to_entries(records, DICTS), path)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == suffix.endswith(".gz")
    entries = load_predictions(path)
    assert [e["image_id"] for e in entries] == [7, 9] and entries[0]["file_name"] == "img_00007.jpg"
    back = entries_to_records(entries, DICTS, SPEC)
    for key in rec:
        np.testing.assert_array_equal(back[7][key], rec[key])  # float32 values survive exactly
    assert len(back[9]["scores"]) == 0


def test_gzip_detected_from_content_and_null_object_for_vcoco(tmp_path):
    path = tmp_path / "p.json"  # gzip content under a .json name
    entry = good_entry(object_box=None, object_category=None)
    with gzip.open(path, "wt") as f:
        json.dump([entry], f)
    spec = PredictionSpec.from_metadata(vcoco_metadata())
    records = entries_to_records(load_predictions(str(path)), DICTS, spec)
    assert np.isnan(records[7]["object_boxes"]).all() and records[7]["object_classes"][0] == -1
    assert records_to_entries(records, DICTS)[0]["hoi"][0]["object_box"] is None


def test_lookup_by_file_name_when_image_id_is_missing():
    entry = good_entry()
    del entry["image_id"]
    assert list(entries_to_records([entry], DICTS, SPEC)) == [7]


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"file_name": "x.jpg", "image_id": 8, "hoi": []}, r"entry 0 \(image_id 8.*unknown image"),
        ({**good_entry(), "file_name": "other.jpg"}, "file_name does not match"),
        (good_entry(verb=5), r"hoi\[0\]: verb out of range \[0, 3\)"),
        (good_entry(verb=-1), "verb out of range"),
        (good_entry(object_category=3), r"object_category out of range \[0, 3\)"),
        (good_entry(object_category=2, verb=1), "not one of the dataset's HOI classes"),
        (good_entry(score=math.nan), "score is NaN or infinite"),
        (good_entry(score="high"), r"'high' is not a number"),
        (good_entry(subject_box=[1, 2, 3]), "not a list of 4 numbers"),
        (
            good_entry(subject_box=[5, 5, 1, 10]),
            r"subject_box is not \[x1, y1, x2, y2\] with x2 >= x1",
        ),
        (good_entry(object_box=[0, 0, math.inf, 1]), "object_box has a non-finite coordinate"),
        (good_entry(object_box=None), "object_box is null"),
        (good_entry(verb=1.0), "1.0 is not an integer"),
        ({"file_name": "img_00007.jpg", "image_id": 7}, "'hoi' must be a list"),
    ],
)
def test_bad_entries_give_clear_errors(entry, message):
    with pytest.raises(ValueError, match=message):
        entries_to_records([entry], DICTS, SPEC)


def test_missing_field_and_duplicate_entry_and_not_a_list(tmp_path):
    entry = good_entry()
    del entry["hoi"][0]["score"]
    with pytest.raises(ValueError, match=r"entry 0 .*hoi\[0\]: missing field 'score'"):
        entries_to_records([entry], DICTS, SPEC)
    with pytest.raises(ValueError, match="entry 1 .*a second entry for the same image"):
        entries_to_records([good_entry(), good_entry()], DICTS, SPEC)
    path = tmp_path / "p.json"
    path.write_text('{"image_id": 7}')
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_predictions(str(path))
