"""Config overrides: a misspelled key or a wrongly typed value is refused with one line naming the
key (and the closest existing key); every legitimate override still applies.

Two batteries: ``REFUSED`` (override -> what the error must say) and ``ACCEPTED`` (override ->
the value the config must then hold). A newly found case is one more row.
"""

import os
import subprocess
import sys

import pytest

from rmlr.config import ConfigError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
DETR = os.path.join(REPO, "projects", "RmLR", "configs", "detr", "detr_tiny_synthetic.py")
TOY = os.path.join(REPO, "tests", "toy_train_config.py")

REFUSED = [
    ("train.max_itr=2", r"unknown config key 'train.max_itr'.*did you mean 'train.max_iter'"),
    ("trian.x=1", r"unknown config key 'trian'.*did you mean 'train'"),
    ("train.max_iter=abc", r"train.max_iter expects an integer.*'abc'"),
    ("train.max_iter=2.5", r"train.max_iter expects an integer.*2.5"),
    ("model.num_verbs=seven", r"model.num_verbs expects an integer.*'seven'"),
    ("train.amp.enabled=1", r"train.amp.enabled expects a boolean"),
    ("optimizer.lr=fast", r"optimizer.lr expects a number"),
    ("model.irm.num_layers=true", r"model.irm.num_layers expects an integer"),
    ("model.ire=3", r"model.ire is a config node"),
    ("dataloader.train.mapper.augmentations.scales=5", r"scales expects a list"),
    ("train.device=[1,2]", r"train.device expects a string"),
    (
        "model.entity_detector.keep_dropuot=True",
        r"did you mean 'model.entity_detector.keep_dropout'",
    ),
    ("model.irm.num_layer=2", r"did you mean 'model.irm.num_layers'"),
    ("dataloader.train.total_batch_size.x=1", r"dataloader.train.total_batch_size is a int"),
    ("train.max_iter", r"not key=value"),
    ("~train.max_iter", r"deleting a key is not supported"),
]


@pytest.mark.parametrize("override, message", REFUSED, ids=[o for o, _ in REFUSED])
def test_refused_overrides(override, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(TINY, [override])
    assert "\n" not in str(error.value)


# Every override the README, the tools and the tests use, plus the other kinds of values.
ACCEPTED = [
    (TINY, "train.max_iter=10", "train.max_iter", 10),
    (TINY, "dataloader.train.total_batch_size=2", "dataloader.train.total_batch_size", 2),
    (TINY, "train.grad_accum_steps=4", "train.grad_accum_steps", 4),
    (TINY, "train.amp.enabled=True", "train.amp.enabled", True),
    (TINY, "train.device=auto", "train.device", "auto"),
    (TINY, "train.eval_period=0", "train.eval_period", 0),
    (TINY, "train.output_dir=/tmp/x", "train.output_dir", "/tmp/x"),
    (TINY, "train.init_checkpoint=model_final.pth", "train.init_checkpoint", "model_final.pth"),
    (TINY, "train.init_checkpoint=https://h/m.pth", "train.init_checkpoint", "https://h/m.pth"),
    (TINY, "model.entity_detector.checkpoint=", "model.entity_detector.checkpoint", ""),
    (TINY, "model.irm.num_layers=2", "model.irm.num_layers", 2),
    (
        TINY,
        "model.cross_modal.ire_branch.num_layers=1",
        "model.cross_modal.ire_branch.num_layers",
        1,
    ),
    (TINY, "model.ire=None", "model.ire", None),
    (TINY, "model.cross_modal=null", "model.cross_modal", None),
    (TINY, "optimizer.lr=1", "optimizer.lr", 1.0),  # an int where a float is: converted
    (TINY, "optimizer.lr=1e-5", "optimizer.lr", 1e-5),
    (TINY, "train.output_dir=2024", "train.output_dir", "2024"),
    (TINY, "dataloader.evaluator.output_dir=/tmp/e", "dataloader.evaluator.output_dir", "/tmp/e"),
    (TINY, "dataloader.train.mapper.augmentations.scales=[128,160]", None, None),
    (TINY, "dataloader.test.dataset.names=synthetic_hoi_train", None, None),
    (TINY, "model.text_teacher.model_name_or_path=google/mobilebert-uncased", None, None),
    (TINY, "model.text_teacher.embed_dim=512", "model.text_teacher.embed_dim", 512),
    # a keyword argument of a LazyCall node's target that the config does not set
    (TINY, "model.entity_detector.keep_dropout=True", "model.entity_detector.keep_dropout", True),
    # an interpolation, and a key whose value is an interpolation
    (TINY, "train.output_dir=${train.init_checkpoint}", None, None),
    (TINY, "dataloader.test.mapper.dataset_name=synthetic_hoi_train", None, None),
    # keys the training entry reads with a default, absent from a config
    (TOY, "train.allow_partial_init_checkpoint=True", "train.allow_partial_init_checkpoint", True),
    (TOY, "train.allow_random_entity_detector=True", "train.allow_random_entity_detector", True),
    (
        DETR,
        "train.init_checkpoint=detectron2://x/y.pkl",
        "train.init_checkpoint",
        "detectron2://x/y.pkl",
    ),
]


@pytest.mark.parametrize("config, override, key, value", ACCEPTED, ids=[a[1] for a in ACCEPTED])
def test_accepted_overrides(config, override, key, value):
    sys.path.insert(0, os.path.join(REPO, "tests"))  # the toy config imports toy_training
    try:
        cfg = load_config(config, [override])
    finally:
        sys.path.remove(os.path.join(REPO, "tests"))
    if key is not None:
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert node == value and type(node) is type(value)


def test_the_training_entry_refuses_a_misspelled_key_in_one_line(tmp_path):
    """Before: ``train.max_itr=2`` was accepted and ignored (the run trained 400 iterations)."""
    cmd = [sys.executable, os.path.join(REPO, "tools", "lazyconfig_train_net.py")]
    cmd += ["--config-file", TINY, "train.max_itr=2", f"train.output_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "train.max_itr" in last and "did you mean 'train.max_iter'" in last
    assert "Traceback" not in out.stderr
    assert not os.path.exists(tmp_path / "last_checkpoint")
