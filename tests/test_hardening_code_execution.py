"""No code runs from a weight file or a YAML config, whichever entry point reads it.

A battery: every (entry point, hostile file) pair is one row. Each file would run
``touch <marker>`` if it were unpickled or loaded unsafely; the row passes when the entry point
refuses the file with an error naming it and the marker never appears. A new entry point or a new
kind of hostile file is one more row.
"""

import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from hardening_payloads import (
    YAML_PAYLOADS,
    object_array_pickle,
    write_pkl,
    write_pth,
    write_stealth_pkl,
    write_yaml,
)
from script_loader import load_script

from rmlr.checkpoint import CheckpointError, UnsafeCheckpointError, read_checkpoint
from rmlr.config import ConfigError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
DETR_WEIGHTS = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")
NO_DETR = "model.entity_detector.checkpoint="


@pytest.fixture(scope="module")
def tiny_state():
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    torch.manual_seed(0)
    return instantiate(cfg.model).state_dict()


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "model.pth"
    torch.save({"model": tiny_state}, path)
    return str(path)


@pytest.fixture(scope="module")
def image():
    return DatasetCatalog.get("synthetic_hoi_test")[1]["file_name"]


# --- entry points: each reads `path` through its real code path ----------------------------------


def _train_net(argv):
    net = load_script("tools/lazyconfig_train_net.py", "hardening_train_net")
    return net.main(net.get_parser().parse_args(argv))


def via_training_init(path, tmp, image):
    opts = [f"train.init_checkpoint={path}", f"train.output_dir={tmp / 'out'}", "train.max_iter=1"]
    _train_net(["--config-file", TINY, NO_DETR, *opts])


def via_eval_only(path, tmp, image):
    opts = [f"train.init_checkpoint={path}", f"train.output_dir={tmp / 'out'}"]
    _train_net(["--config-file", TINY, "--eval-only", NO_DETR, *opts])


def via_resume(path, tmp, image):
    out = tmp / "run"
    out.mkdir()
    os.replace(path, out / os.path.basename(path))
    (out / "last_checkpoint").write_text(os.path.basename(path))
    opts = [
        f"train.output_dir={out}",
        "train.max_iter=1",
        "train.allow_random_entity_detector=True",
    ]
    _train_net(["--config-file", TINY, "--resume", NO_DETR, *opts])


def via_demo(path, tmp, image):
    demo = load_script("tools/demo.py", "hardening_demo")
    out = str(tmp / "demo")
    demo.main(
        ["--config-file", TINY, "--checkpoint", path, "--input", image, "--output", out, NO_DETR]
    )


def via_analysis(path, tmp, image):
    tool = load_script("tools/analyze_interaction_information.py", "hardening_analysis")
    tool.main(["--config-file", TINY, "--checkpoint", path, "--output", str(tmp / "a"), NO_DETR])


def via_entity_detector(path, tmp, image):
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = path
    instantiate(cfg.model)


def via_convert_tool(path, tmp, image):
    tool = load_script("tools/convert_detr_weights.py", "hardening_convert")
    if tool.main(["--format", "official", path, str(tmp / "converted.pth")]) != 0:
        raise CheckpointError(f"convert_detr_weights.py refused {path}")


ENTRY_POINTS = {
    "train.init_checkpoint": via_training_init,
    "--eval-only": via_eval_only,
    "--resume (last_checkpoint)": via_resume,
    "demo.py --checkpoint": via_demo,
    "analyze_interaction_information.py --checkpoint": via_analysis,
    "model.entity_detector.checkpoint": via_entity_detector,
    "convert_detr_weights.py INPUT": via_convert_tool,
}

FILES = {
    ".pkl payload": lambda tmp, marker, state: write_pkl(tmp / "weights.pkl", marker),
    "stealth .pkl (real weights + payload)": lambda tmp, marker, state: write_stealth_pkl(
        tmp / "model_final.pkl", marker, state
    ),
    ".pth payload + TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1": lambda tmp, marker, state: write_pth(
        tmp / "model_final.pth", marker, state
    ),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("kind", list(FILES))
def test_no_weight_file_runs_code(entry, kind, tiny_state, image, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "PAYLOAD_RAN"
    path = FILES[kind](tmp_path, marker, tiny_state)
    with pytest.raises(ValueError) as error:  # CheckpointError / WeightConversionError
        ENTRY_POINTS[entry](path, tmp_path, image)
    assert not marker.exists(), f"{entry} ran the code in {kind}"
    assert os.path.basename(path) in str(error.value)


def test_the_refusal_names_the_file_and_the_reason(tmp_path):
    path = write_pkl(tmp_path / "evil.pkl", tmp_path / "marker")
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pkl: refused: .*posix\.system"):
        read_checkpoint(path)
    path = write_pth(tmp_path / "evil.pth", tmp_path / "marker", {"w": torch.zeros(1)})
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth: refused: .*weights_only=True"):
        read_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError, match="array of Python objects"):
        read_checkpoint(object_array_pickle(tmp_path / "objects.pkl"))


def test_explicit_weights_only_is_not_overridden_by_the_environment(tmp_path, monkeypatch):
    """What the checkpointer relies on: torch lets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD override only
    calls that leave weights_only unset. If a torch release changes that, this fails."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "marker"
    path = write_pth(tmp_path / "evil.pth", marker, {"w": torch.zeros(1)})
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_model_zoo_pickles_of_numpy_arrays_still_load(protocol, tmp_path):
    """Detectron2 / Caffe2 model-zoo files: dicts of numpy arrays (and scalars, strings)."""
    state = {"conv1.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.int64(3)}
    path = tmp_path / "R-50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo"}, f, protocol=protocol)
    data = read_checkpoint(str(path))
    np.testing.assert_array_equal(data["model"]["conv1.weight"], state["conv1.weight"])
    assert data["model"]["n"] == 3 and data["__author__"] == "Detectron2 Model Zoo"


# --- YAML configs ---------------------------------------------------------------------------------


def _yaml_with_target(tmp_path, marker, kind):
    """The tiny config saved as YAML (complete, so an unsafe loader reaches instantiation), with
    the model replaced by a hostile ``_target_``."""
    LazyConfig.save(LazyConfig.load(TINY), str(tmp_path / "good.yaml"))
    with open(tmp_path / "good.yaml") as f:
        data = yaml.safe_load(f)
    data["model"] = yaml.safe_load(YAML_PAYLOADS[kind].format(marker=marker))["model"]
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


YAML_ENTRY_POINTS = {
    "lazyconfig_train_net.py --eval-only": lambda cfg, ckpt, tmp, image: _train_net(
        ["--config-file", cfg, "--eval-only", f"train.init_checkpoint={ckpt}"]
        + [f"train.output_dir={tmp / 'out'}"]
    ),
    "demo.py": lambda cfg, ckpt, tmp, image: load_script("tools/demo.py", "hardening_demo").main(
        ["--config-file", cfg, "--checkpoint", ckpt, "--input", image, "--output", str(tmp / "d")]
    ),
    "analyze_interaction_information.py": lambda cfg, ckpt, tmp, image: load_script(
        "tools/analyze_interaction_information.py", "hardening_analysis"
    ).main(["--config-file", cfg, "--checkpoint", ckpt, "--output", str(tmp / "a")]),
}


@pytest.mark.parametrize("entry", list(YAML_ENTRY_POINTS))
@pytest.mark.parametrize("kind", list(YAML_PAYLOADS))
def test_no_yaml_config_runs_code(entry, kind, tiny_checkpoint, image, tmp_path, capsys):
    marker = tmp_path / "PAYLOAD_RAN"
    if kind.startswith("_target_"):
        path = _yaml_with_target(tmp_path, marker, kind)
    else:
        path = write_yaml(tmp_path / "evil.yaml", marker, kind)
    # the library raises ConfigError; the demo checks its arguments first and turns it into a
    # one-line usage error (exit 2) that names the file
    with pytest.raises((ConfigError, SystemExit)) as refused:
        YAML_ENTRY_POINTS[entry](path, tiny_checkpoint, tmp_path, image)
    message = capsys.readouterr().err if refused.type is SystemExit else str(refused.value)
    if refused.type is SystemExit:
        assert refused.value.code == 2
    assert re.search(r"evil\.yaml.*refused", message), message
    assert not marker.exists(), f"{entry} ran the code of a YAML config ({kind})"


def test_saved_yaml_configs_still_load_and_build(tmp_path):
    cfg = LazyConfig.load(TINY)
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    again = load_config(str(tmp_path / "config.yaml"), ["train.max_iter=3"])
    assert again.train.max_iter == 3 and again.model.num_verbs == cfg.model.num_verbs
    again.model.entity_detector.checkpoint = ""
    assert type(instantiate(again.model)).__name__ == "RmLR"


@pytest.mark.parametrize(
    "script", ["tools/demo.py", "tools/analyze_interaction_information.py"], ids=os.path.basename
)
def test_refused_checkpoint_is_one_error_line_from_the_command_line(script, image, tmp_path):
    # What a user sees: exit status 1, "<tool>: error: <file> ... refused ..." and no traceback.
    marker = tmp_path / "PAYLOAD_RAN"
    weights = str(write_pkl(tmp_path / "weights.pkl", marker))
    argv = [sys.executable, os.path.join(REPO, script), "--config-file", TINY]
    if script.endswith("demo.py"):
        argv += ["--input", image]
    argv += ["--checkpoint", weights, "--output", str(tmp_path / "out"), NO_DETR]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{os.path.basename(script)}: error: ") and "weights.pkl" in last, last
    assert not marker.exists()
