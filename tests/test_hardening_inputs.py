"""Bad annotation files, prediction files and images: a clear error naming the file and the entry,
never a silent wrong result or a bare traceback.

Batteries of rows: ``ANNOTATION_CASES`` (a mutation of a valid HICO-DET UPT-style, PPDM-style or
V-COCO file -> the message), ``PREDICTION_CASES`` (a predictions file -> the message, read by
``tools/evaluate_hoi.py``), and the decompression-bomb image read by the mapper, the PPDM loader
and the demo's image reader. A newly found case is one more row.
"""

import gzip
import json
import os
import re

import pytest
from detectron2.data import transforms as T
from hardening_payloads import BASES, RIDE_BICYCLE, hico_ppdm, hico_upt, write_bomb_png
from script_loader import load_script

from rmlr.data import HOIDatasetMapper, load_hico_det_json, load_vcoco_json, read_image_checked


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


ANN = ("annotation", 0)
PPDM_HOI = (0, "hoi_annotation", 0)
VC = ("annotations", 0)
# (base, path into the JSON, new value, message); the message follows "<file>: ..."
ANNOTATION_CASES = [
    ("hico_upt", ("filenames",), 5, r"'filenames' must be a list, got int"),
    ("hico_upt", ("filenames", 0), 5, r"image 0: file name must be a non-empty string"),
    ("hico_upt", ("size",), {"w": 1}, r"'size' must be a list, got dict"),
    ("hico_upt", ("size", 0), {"width": 100, "height": 80}, r"image 0 .*image size must be"),
    ("hico_upt", ANN + ("boxes_h",), 5, r"image 0 .*'boxes_h' must be a list, got int"),
    ("hico_upt", ANN, 5, r"image 0 .*annotation must be a dict"),
    ("hico_upt", ANN + ("object", 0), "1", r"image 0 .*pair 0: object '1' out of range"),
    (
        "hico_upt",
        ANN + ("verb", 0),
        10**30,
        r"image 0 .*pair 0: verb 1000000000000000000000000000000 out of range",
    ),
    ("hico_upt", ANN + ("boxes_h", 0), [1, 1, 20, "60"], r"pair 0: boxes_h must be 4 numbers"),
    ("hico_upt", ANN + ("boxes_o", 0), 7, r"pair 0: boxes_o must be 4 numbers"),
    ("hico_upt", ("objects",), 5, r"'objects' must be a list, got int"),
    ("hico_upt", ("correspondence",), "x", r"'correspondence' must be a list, got str"),
    ("hico_upt", ("filenames", 0), "/etc/passwd", r"image 0: file name '/etc/passwd' is absolute"),
    (
        "hico_upt",
        ("filenames", 0),
        "../secret.jpg",
        r"image 0: file name '../secret.jpg' is abs.*'\.\.'",
    ),
    ("hico_upt", ("filenames", 0), "a/../../b.jpg", r"image 0: file name 'a/../../b.jpg'"),
    (
        "hico_ppdm",
        (0, "annotations", 0, "category_id"),
        [1],
        r"image 0 .*annotation 0: category_id \[1\] is no COCO category",
    ),
    ("hico_ppdm", (0, "hoi_annotation"), 5, r"image 0 .*'hoi_annotation' must be a list, got int"),
    ("hico_ppdm", (0, "annotations"), 5, r"image 0 .*'annotations' must be a list, got int"),
    (
        "hico_ppdm",
        PPDM_HOI + ("subject_id",),
        True,
        r"hoi_annotation 0: subject_id / object_id must be integers",
    ),
    (
        "hico_ppdm",
        PPDM_HOI + ("category_id",),
        "77",
        r"hoi_annotation 0: verb category_id '77' out of range",
    ),
    ("hico_ppdm", PPDM_HOI, [0, 1, 77], r"hoi_annotation 0: expected keys"),
    (
        "hico_ppdm",
        (0, "file_name"),
        "../../x.jpg",
        r"image 0: file name '../../x.jpg' is absolute or contains",
    ),
    ("hico_ppdm", (0, "file_name"), 12, r"image 0: file name must be a non-empty string"),
    ("vcoco", VC + ("objects", 0), True, r"image 0 .*pair 0: object True out of range \[1, 80\]"),
    ("vcoco", VC + ("objects", 0), "42", r"image 0 .*pair 0: object '42' out of range"),
    ("vcoco", VC + ("objects",), 5, r"image 0 .*'objects' must be a list, got int"),
    ("vcoco", VC + ("boxes_h", 0), "box", r"pair 0: boxes_h must be 4 numbers"),
    ("vcoco", ("images", 1), 7, r"image 1 .*image id 7 is also the id of image 0"),
    ("vcoco", ("images",), "x", r"'images' must be a list, got str"),
    ("vcoco", ("images", 0), True, r"image 0 .*image id True out of range"),
    ("vcoco", VC + ("file_name",), "/abs/x.jpg", r"image 0: file name '/abs/x.jpg' is absolute"),
    ("vcoco", VC + ("file_name",), "../x.jpg", r"image 0: file name '../x.jpg' is absolute or"),
    ("vcoco", ("size", 0), {"w": 64}, r"image 0 .*image size must be"),
    ("vcoco", VC + ("agent_only_boxes_h",), 3, r"image 0 .*'agent_only_boxes_h' must be a list"),
]


def _load(base, data, tmp_path):
    path = tmp_path / f"{base}.json"
    path.write_text(json.dumps(data))
    if base == "vcoco":
        return load_vcoco_json(str(path), str(tmp_path))
    return load_hico_det_json(str(path), str(tmp_path))


@pytest.mark.parametrize("base", list(BASES))
def test_the_valid_bases_load(base, tmp_path):
    assert _load(base, BASES[base](), tmp_path)


@pytest.mark.parametrize(
    "base, path, value, message",
    ANNOTATION_CASES,
    ids=[f"{c[0]}:{'.'.join(map(str, c[1]))}={c[2]!r:.20}" for c in ANNOTATION_CASES],
)
def test_bad_annotation_files_name_the_file_and_entry(base, path, value, message, tmp_path):
    data = _set(BASES[base](), path, value)
    with pytest.raises(ValueError, match=rf"{base}\.json: .*{message}"):
        _load(base, data, tmp_path)


# --- prediction files, read by tools/evaluate_hoi.py ------------------------------------------


def _entry(**changes):
    hoi = {"subject_box": [1, 1, 20, 60], "object_box": [30, 40, 90, 80]}
    hoi.update(object_category=RIDE_BICYCLE[0], verb=RIDE_BICYCLE[1], score=0.9)
    hoi.update({k: v for k, v in changes.items() if k not in ("image_id", "file_name")})
    entry = {"file_name": "HICO_test2015_00000001.jpg", "image_id": 1, "hoi": [hoi]}
    entry.update({k: v for k, v in changes.items() if k in ("image_id", "file_name")})
    return entry


def _gzip_bytes(text: str) -> bytes:
    return gzip.compress(text.encode())


GOOD_TEXT = json.dumps([_entry()])
PREDICTION_CASES = [
    (
        "image_id true",
        json.dumps([_entry(image_id=True)]).encode(),
        r"entry 0 .*image_id must be an integer",
    ),
    (
        "image_id [1]",
        json.dumps([_entry(image_id=[1])]).encode(),
        r"entry 0 .*image_id must be an integer",
    ),
    (
        "image_id 1.0",
        json.dumps([_entry(image_id=1.0)]).encode(),
        r"entry 0 .*image_id must be an integer",
    ),
    (
        "file_name 5",
        json.dumps([_entry(image_id=None, file_name=5)]).encode(),
        r"entry 0 .*file_name must be a string",
    ),
    (
        "verb 10**30",
        json.dumps([_entry(verb=10**30)]).encode(),
        r"entry 0 .*hoi\[0\]: 1000000000000000000000000000000 is out of the int64 range",
    ),
    (
        "score 10**400",
        json.dumps([_entry(score=10**400)]).encode(),
        r"entry 0 .*hoi\[0\]: .* is too large",
    ),
    ("verb -1", json.dumps([_entry(verb=-1)]).encode(), r"entry 0 .*hoi\[0\]: verb out of range"),
    (
        "not gzip after the magic",
        b"\x1f\x8bnot gzip at all",
        r"corrupt or truncated gzip file \(BadGzipFile",
    ),
    ("truncated gzip", _gzip_bytes(GOOD_TEXT)[:-12], r"corrupt or truncated gzip file \(EOFError"),
    (
        "corrupt deflate data",
        _gzip_bytes(GOOD_TEXT)[:10] + b"\x07" + _gzip_bytes(GOOD_TEXT)[11:],
        r"corrupt or truncated gzip file \(error: .*invalid block type",
    ),
    ("empty file", b"", r"empty file"),
    ("malformed JSON", b'[{"image_id": 1, ', r"not a valid JSON predictions file"),
    ("not UTF-8", b"\xff\xfe\x00[", r"not a JSON text file"),
    ("deeply nested", b"[" * 100000, r"not a (valid )?JSON"),
    ("an object, not a list", b'{"image_id": 1}', r"expected a JSON list"),
]


@pytest.fixture(scope="module")
def hico_annotations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hico")
    path = folder / "test.json"
    path.write_text(json.dumps(hico_upt()))
    return str(path)


@pytest.mark.parametrize(
    "content, message", [c[1:] for c in PREDICTION_CASES], ids=[c[0] for c in PREDICTION_CASES]
)
def test_bad_prediction_files_name_the_file_and_entry(
    content, message, hico_annotations, tmp_path, capsys, request
):
    tool = load_script("tools/evaluate_hoi.py", "hardening_evaluate_hoi")
    predictions = tmp_path / "predictions.json.gz"
    predictions.write_bytes(content)
    name = f"hardening_{request.node.callspec.id}"
    argv = ["--dataset", name, "--json-file", hico_annotations, "--format", "hico_det"]
    assert tool.main(argv + ["--predictions", str(predictions)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(predictions) in error[0], error
    assert re.search(message, error[0]), error[0]


def test_a_good_prediction_file_evaluates(hico_annotations, tmp_path, capsys):
    tool = load_script("tools/evaluate_hoi.py", "hardening_evaluate_hoi")
    predictions = tmp_path / "p.json"
    predictions.write_text(GOOD_TEXT)
    argv = ["--dataset", "hardening_good", "--json-file", hico_annotations, "--format", "hico_det"]
    assert tool.main(argv + ["--predictions", str(predictions)]) == 0


# --- images ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return write_bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")


def test_decompression_bomb_in_the_mapper_names_the_path(bomb):
    mapper = HOIDatasetMapper(is_train=False, augmentations=[T.NoOpTransform()])
    with pytest.raises(OSError, match=r"cannot read image .*bomb\.png: .*decompression bomb"):
        mapper({"file_name": bomb, "image_id": 1, "annotations": [], "interactions": []})


def test_decompression_bomb_in_the_demo_reader_names_the_path(bomb):
    demo = load_script("tools/demo.py", "hardening_demo_reader")
    assert demo.read_image_checked is read_image_checked  # the demo reads images with it
    with pytest.raises(OSError, match=r"cannot read image .*bomb\.png"):
        read_image_checked(bomb, "RGB")


def test_decompression_bomb_as_a_ppdm_image_size_names_the_path(bomb, tmp_path):
    data = hico_ppdm()
    del data[0]["width"], data[0]["height"]
    data[0]["file_name"] = os.path.basename(bomb)
    path = tmp_path / "test_hico.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        OSError, match=r"image 0 \(bomb\.png\): cannot read the image header of .*bomb\.png"
    ):
        load_hico_det_json(str(path), os.path.dirname(bomb))
