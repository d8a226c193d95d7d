"""Property-based tests (hypothesis): random annotation files, prediction files and override
strings get a clear error naming the file / entry / key, or load (bad boxes are a documented,
counted skip); never another exception, never a hang.

Each property starts from a valid input and replaces one value anywhere in it (or deletes a key)
with a random JSON value; or, for prediction files, also takes random bytes, gzip-compressed or not.
Examples are bounded and derandomized (the same ones on every run, a few seconds per property);
``RMLR_HYPOTHESIS_PROFILE=thorough`` explores 2,000 new random examples per property.
"""

import contextlib
import copy
import gzip
import json
import os
import signal

import pytest
from hardening_payloads import BASES, hico_upt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmlr.config import ConfigError, apply_overrides
from rmlr.data import load_hico_det_json, load_vcoco_json
from rmlr.data.metadata import HICO_HOI_CLASSES, HICO_VERBS
from rmlr.evaluation import PredictionSpec, entries_to_records, evaluate_hico_det, load_predictions

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("RMLR_HYPOTHESIS_PROFILE", "ci"))

SECONDS_PER_EXAMPLE = 20  # far above the few milliseconds one takes: only a hang reaches it


@contextlib.contextmanager
def no_hang():
    def fail(signum, frame):
        raise TimeoutError(f"an example ran for more than {SECONDS_PER_EXAMPLE} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(SECONDS_PER_EXAMPLE)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


SPECIAL_STRINGS = ["", "../x.jpg", "/etc/passwd", "a.jpg", "C:\\x.jpg", "person", "NaN", "1"]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(SPECIAL_STRINGS),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
DELETE = object()


def _paths(node, prefix=()):
    """Every path to a value inside a JSON structure (lists are sampled: at most 3 items each)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in list(enumerate(node))[:3]:
            yield from _paths(value, prefix + (i,))


def _mutate(data, draw):
    paths = list(_paths(data))
    path = draw(st.sampled_from(paths))
    value = draw(JSON_VALUES | st.just(DELETE)) if path else draw(JSON_VALUES)
    if not path:
        return value
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def _assert_clear(error: BaseException, *names: str) -> None:
    assert isinstance(error, (ValueError, FileNotFoundError)), repr(error)
    assert any(name in str(error) for name in names), str(error)


@pytest.mark.parametrize("base", list(BASES))
@given(data=st.data())
def test_random_annotation_files_load_or_fail_clearly(base, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp(base)
    path = folder / f"{base}.json"
    content = _mutate(BASES[base](), data.draw)
    path.write_text(json.dumps(content))
    load = load_vcoco_json if base == "vcoco" else load_hico_det_json
    with no_hang():
        try:
            dicts = load(str(path), str(folder))
        except Exception as e:  # noqa: BLE001 (the property is about which exceptions)
            _assert_clear(e, str(path))
            return
    assert isinstance(dicts, list) and dicts
    for d in dicts:
        assert os.path.dirname(d["file_name"]).startswith(str(folder))  # never escapes the root
        for s, o, v in d["interactions"]:
            assert 0 <= s < len(d["annotations"]) and 0 <= o < len(d["annotations"])


@pytest.fixture(scope="module")
def hico_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hico_dataset")
    path = folder / "test.json"
    content = hico_upt()
    content["rare"], content["non_rare"] = [], list(range(len(HICO_HOI_CLASSES)))
    path.write_text(json.dumps(content))
    dicts = load_hico_det_json(str(path), str(folder))
    from detectron2.data import Metadata

    metadata = Metadata(
        name="hardening_property",
        thing_classes=[str(i) for i in range(80)],
        verb_classes=list(HICO_VERBS),
        hoi_classes=list(HICO_HOI_CLASSES),
        evaluator_type="hico_det",
        rare_hoi_ids=[],
        non_rare_hoi_ids=list(range(len(HICO_HOI_CLASSES))),
    )
    return dicts, metadata


def _good_predictions():
    obj, verb = HICO_HOI_CLASSES[0]
    hoi = {"subject_box": [0, 0, 19, 60], "object_box": [29, 39, 90, 80]}
    hoi.update(object_category=obj, verb=verb, score=0.5)
    return [{"file_name": "HICO_test2015_00000001.jpg", "image_id": 1, "hoi": [hoi, dict(hoi)]}]


@given(data=st.data(), compress=st.booleans(), raw=st.booleans(), noise=st.binary(max_size=64))
def test_random_prediction_files_evaluate_or_fail_clearly(
    data, compress, raw, noise, hico_dataset, tmp_path_factory
):
    dicts, metadata = hico_dataset
    path = tmp_path_factory.mktemp("predictions") / "predictions.json"
    text = noise if raw else json.dumps(_mutate(_good_predictions(), data.draw)).encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    with no_hang():
        try:
            entries = load_predictions(str(path))
            records = entries_to_records(
                entries, dicts, PredictionSpec.from_metadata(metadata), source=str(path)
            )
        except Exception as e:  # noqa: BLE001
            _assert_clear(e, str(path))
            return
        result = evaluate_hico_det(dicts, metadata, records)
    assert 0.0 <= result.summary()["default"]["full"] <= 100.0


@pytest.fixture(scope="module")
def tiny_config():
    from detectron2.config import LazyConfig

    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "projects/RmLR/configs/rmlr/rmlr_tiny_synthetic.py",
    )
    return LazyConfig.load(path)


KEYS = [
    "train.max_iter",
    "train.max_itr",
    "trian.x",
    "model.num_verbs",
    "model.ire",
    "model.ire.embed_dim",
    "model.irm.num_layers",
    "optimizer.lr",
    "train.amp.enabled",
    "train.init_checkpoint",
    "dataloader.train.total_batch_size",
    "dataloader.train.mapper.augmentations.scales",
    "model.entity_detector.keep_dropout",
    "train.checkpointer.period.x",
]
VALUES = st.one_of(
    st.sampled_from(
        ["abc", "2.5", "-1", "null", "None", "true", "[1,2]", "{a:1}", "${train.seed}"]
    ),
    st.sampled_from(["", "1e3", "'7'", "[", "}", "=", "a=b", "0x10", "${", "\\"]),
    st.text(alphabet="abc123.,[]{}:=$'\" _-", max_size=10),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
OVERRIDES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUES),
    st.builds(
        lambda k, v: f"{k}={v}",
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz._~", max_size=20),
        VALUES,
    ),
    st.text(max_size=20),
)


@given(override=OVERRIDES)
def test_random_overrides_apply_or_fail_with_one_line_naming_the_override(override, tiny_config):
    cfg = copy.deepcopy(tiny_config)
    with no_hang():
        try:
            apply_overrides(cfg, [override])
        except ConfigError as e:
            assert "\n" not in str(e) and repr(override)[1:-1][:20] in str(e), str(e)
