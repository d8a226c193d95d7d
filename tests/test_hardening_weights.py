"""Weights for users: strict loading, one-file models, weights by URL, the sha256 and origin log,
atomic checkpoints and the fallback to the newest valid one on ``--resume``.

Batteries: ``MISMATCHES`` x ``STRICT_ENTRY_POINTS`` (a checkpoint that does not fit, read where
loading must be strict), ``URL_OPTIONS`` (every weight option, from a local HTTP server and
offline), ``DAMAGES`` (a broken last checkpoint). A newly found case is one more row.
"""

import errno
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils.file_io import Detectron2Handler
from hardening_payloads import LocalServer
from script_loader import load_script

from rmlr.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    RmLRCheckpointer,
    UnsafeCheckpointError,
)
from rmlr.checkpoint import checkpointer as checkpointer_module
from rmlr.checkpoint import find_resume_checkpoint, read_checkpoint
from rmlr.engine import HOIPredictor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
TOY = os.path.join(REPO, "tests", "toy_train_config.py")
DETR_WEIGHTS = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")
MISSING_DETR = "model.entity_detector.checkpoint=/nonexistent/stage1_detr.pth"


@pytest.fixture(autouse=True)
def rmlr_logs_reach_caplog(monkeypatch):
    """The tools' setup_logger(name="rmlr") stops propagation; caplog needs it."""
    monkeypatch.setattr(logging.getLogger("rmlr"), "propagate", True)


@pytest.fixture(scope="module")
def tiny_state():
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    torch.manual_seed(0)
    return instantiate(cfg.model).state_dict()


@pytest.fixture(scope="module")
def weights_dir(tiny_state, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    torch.save({"model": tiny_state}, folder / "rmlr_tiny.pth")
    shutil.copy(DETR_WEIGHTS, folder / "detr_tiny.pth")
    return folder


@pytest.fixture(scope="module")
def image():
    return DatasetCatalog.get("synthetic_hoi_test")[1]["file_name"]


def _train_net(argv):
    net = load_script("tools/lazyconfig_train_net.py", "hardening_train_net")
    return net.main(net.get_parser().parse_args(argv))


# --- strict loading -------------------------------------------------------------------------------


def _without(state, prefix):
    return {k: v for k, v in state.items() if not k.startswith(prefix)}


MISMATCHES = {
    # the case: the stage-1 DETR file given as the RmLR model
    "DETR weights (another architecture)": (
        lambda state: torch.load(DETR_WEIGHTS, weights_only=True)["model"],
        r"missing key\(s\): .*unexpected key\(s\): detr\.",
    ),
    "a missing module (irm)": (lambda state: _without(state, "irm."), r"missing key\(s\): irm\."),
    "an unexpected key": (
        lambda state: {**state, "extra.w": torch.zeros(1)},
        r"1 unexpected key\(s\): extra\.w",
    ),
    "a wrongly shaped tensor": (
        lambda state: (
            {**state, "irm.verb_head.weight": torch.zeros(3, 3)}
            if "irm.verb_head.weight" in state
            else {**state, next(k for k in state if k.startswith("irm.")): torch.zeros(1, 1, 1)}
        ),
        r"wrongly shaped key\(s\): irm\.",
    ),
}


def _strict_eval_only(path, tmp, image):
    opts = [f"train.init_checkpoint={path}", f"train.output_dir={tmp / 'out'}"]
    _train_net(
        [
            "--config-file",
            TINY,
            "--eval-only",
            f"model.entity_detector.checkpoint={DETR_WEIGHTS}",
            *opts,
        ]
    )


def _strict_demo(path, tmp, image):
    demo = load_script("tools/demo.py", "hardening_demo")
    argv = [
        "--config-file",
        TINY,
        "--checkpoint",
        path,
        "--input",
        image,
        "--output",
        str(tmp / "d"),
    ]
    demo.main(argv + [f"model.entity_detector.checkpoint={DETR_WEIGHTS}"])


def _strict_resume(path, tmp, image):
    out = tmp / "run"
    out.mkdir()
    state = torch.load(path, weights_only=True)
    torch.save({**state, "iteration": 3, "trainer": {"iteration": 3}}, out / "model_0000003.pth")
    (out / "last_checkpoint").write_text("model_0000003.pth")
    opts = [
        f"train.output_dir={out}",
        "train.max_iter=5",
        f"model.entity_detector.checkpoint={DETR_WEIGHTS}",
    ]
    _train_net(["--config-file", TINY, "--resume", *opts])


STRICT_ENTRY_POINTS = {
    "--eval-only": _strict_eval_only,
    "demo.py": _strict_demo,
    "--resume": _strict_resume,
}


@pytest.mark.parametrize("entry", list(STRICT_ENTRY_POINTS))
@pytest.mark.parametrize("mismatch", list(MISMATCHES))
def test_strict_loading_names_the_mismatching_keys(entry, mismatch, tiny_state, image, tmp_path):
    make, message = MISMATCHES[mismatch]
    path = tmp_path / "model.pth"
    torch.save({"model": make(tiny_state)}, path)
    with pytest.raises(CheckpointMismatchError, match=message) as error:
        STRICT_ENTRY_POINTS[entry](str(path), tmp_path, image)
    assert re.search(r"model(_0000003)?\.pth does not match the model \(RmLR\)", str(error.value))


def test_fine_tuning_from_a_partial_checkpoint_is_an_explicit_option(tiny_state, tmp_path):
    partial = tmp_path / "partial.pth"
    torch.save({"model": _without(tiny_state, "irm.")}, partial)
    opts = [
        f"train.init_checkpoint={partial}",
        "train.max_iter=1",
        "dataloader.train.total_batch_size=2",
    ]
    with pytest.raises(CheckpointMismatchError, match=r"missing key\(s\): irm\..*allow_partial"):
        _train_net(
            ["--config-file", TINY, MISSING_DETR, f"train.output_dir={tmp_path / 'a'}", *opts]
        )
    out = tmp_path / "b"
    opts += ["train.allow_partial_init_checkpoint=True", f"train.output_dir={out}"]
    _train_net(["--config-file", TINY, MISSING_DETR, *opts])
    assert (out / "model_final.pth").is_file()

    # ... but not with part of the frozen DETR missing: it would stay random
    detr_key = next(k for k in tiny_state if k.startswith("entity_detector."))
    torch.save({"model": {k: v for k, v in tiny_state.items() if k != detr_key}}, partial)
    with pytest.raises(ValueError, match="only part of the frozen DETR"):
        _train_net(
            ["--config-file", TINY, MISSING_DETR, *opts[:-1], f"train.output_dir={tmp_path / 'c'}"]
        )


# --- one-file models ------------------------------------------------------------------------------


def test_a_full_checkpoint_is_one_file_for_the_demo_and_evaluation(weights_dir, image, tmp_path):
    """The config names a stage-1 DETR file that does not exist: the checkpoint has the DETR."""
    ckpt = str(weights_dir / "rmlr_tiny.pth")
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = "/nonexistent/stage1_detr.pth"
    predictor = HOIPredictor(cfg, checkpoint=ckpt, device="cpu")
    state = torch.load(ckpt, weights_only=True)["model"]
    for k, v in predictor.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    demo = load_script("tools/demo.py", "hardening_demo")
    demo.main(
        [
            "--config-file",
            TINY,
            "--checkpoint",
            ckpt,
            "--input",
            image,
            "--output",
            str(tmp_path / "d"),
            MISSING_DETR,
        ]
    )
    assert (tmp_path / "d" / "predictions.json").is_file()
    opts = [f"train.init_checkpoint={ckpt}", f"train.output_dir={tmp_path / 'e'}"]
    results = _train_net(["--config-file", TINY, "--eval-only", MISSING_DETR, *opts])
    assert "hico_det" in results


def test_a_model_whose_frozen_detr_would_stay_random_is_still_refused(tiny_state, tmp_path):
    no_detr = tmp_path / "head_only.pth"
    torch.save({"model": _without(tiny_state, "entity_detector.")}, no_detr)
    opts = [f"train.init_checkpoint={no_detr}", f"train.output_dir={tmp_path / 'o'}"]
    opts += ["train.allow_partial_init_checkpoint=True", "model.entity_detector.checkpoint="]
    with pytest.raises(ValueError, match="holds no entity_detector.* tensors.*random weights"):
        _train_net(["--config-file", TINY, *opts])


# --- weights by URL -------------------------------------------------------------------------------


def _via_predictor(url, tmp):
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = "/nonexistent/stage1_detr.pth"
    HOIPredictor(cfg, checkpoint=url, device="cpu")


def _via_eval_only(url, tmp):
    opts = [f"train.init_checkpoint={url}", f"train.output_dir={tmp / 'e'}", MISSING_DETR]
    opts.append(
        "dataloader.test.dataset.names=synthetic_hoi_train"
    )  # any dataset: it only has to run
    _train_net(["--config-file", TINY, "--eval-only", *opts])


def _via_entity_detector(url, tmp):
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = url.replace("rmlr_tiny", "detr_tiny")
    instantiate(cfg.model)


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _via_convert(url, tmp):
    tool = load_script("tools/convert_detr_weights.py", "hardening_convert")
    url = url.replace("rmlr_tiny", "official_detr")
    errors = _Errors()
    logging.getLogger("convert_detr_weights").addHandler(errors)
    try:
        if tool.main(["--format", "official", url, str(tmp / "converted.pth")]) != 0:
            raise ValueError(" | ".join(errors.messages))  # the tool's one-line error
    finally:
        logging.getLogger("convert_detr_weights").removeHandler(errors)


URL_OPTIONS = {
    "demo --checkpoint (HOIPredictor)": _via_predictor,
    "train.init_checkpoint (--eval-only)": _via_eval_only,
    "model.entity_detector.checkpoint": _via_entity_detector,
    "convert_detr_weights.py INPUT": _via_convert,
}


@pytest.fixture(scope="module")
def served(weights_dir):
    from rmlr.modeling.entity_detection.detr_weights import export_state

    detr = torch.load(DETR_WEIGHTS, weights_only=True)["model"]
    torch.save(export_state(detr, "official"), weights_dir / "official_detr.pth")
    with LocalServer(weights_dir) as server:
        yield server


@pytest.mark.parametrize("option", list(URL_OPTIONS))
def test_weights_by_url_use_the_cache_and_name_the_url_offline(
    option, served, tmp_path, monkeypatch
):
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    # a query of its own: the path manager remembers each URL it downloaded in this process
    URL_OPTIONS[option](served.url(f"rmlr_tiny.pth?{tmp_path.name}"), tmp_path)
    assert list((tmp_path / "cache").rglob("*.pth*"))  # downloaded once, into the cache
    offline = f"http://127.0.0.1:{_closed_port()}/rmlr_tiny.pth"
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(
        (CheckpointError, ValueError), match=r"http://127\.0\.0\.1:\d+/\w+\.pth: cannot download"
    ):
        URL_OPTIONS[option](offline, tmp_path)


def test_detectron2_urls_go_through_the_path_manager(served, tmp_path, monkeypatch):
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Detectron2Handler, "S3_DETECTRON2_PREFIX", served.url(""))
    data = read_checkpoint("detectron2://rmlr_tiny.pth")
    assert "model" in data and (tmp_path / "cache" / "rmlr_tiny.pth").is_file()


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


# --- the log line: sha256 and origin ---------------------------------------------------------------


def test_loading_logs_the_sha256_and_the_origin(weights_dir, tmp_path, caplog):
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    model = instantiate(cfg.model)
    meta = {"config_file": "/configs/rmlr_tiny_synthetic.py", "rmlr_version": "0.1.0"}
    RmLRCheckpointer(model, str(tmp_path), metadata=meta).save("model_0000009", iteration=9)
    path = tmp_path / "model_0000009.pth"
    with caplog.at_level(logging.INFO, logger="rmlr"):
        HOIPredictor(cfg, checkpoint=str(path), device="cpu")
    line = next(r.getMessage() for r in caplog.records if r.name == "rmlr.checkpoint.safe_read")
    assert hashlib.sha256(path.read_bytes()).hexdigest() in line
    assert "config_file /configs/rmlr_tiny_synthetic.py" in line and "iteration 9" in line
    assert "entity_detector 193" in line  # tensors per module: the architecture at a glance


# --- atomic checkpoints and the resume fallback -----------------------------------------------------


def test_a_crash_while_saving_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    ckpt = RmLRCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001", iteration=1)

    def disk_full(data, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpointer_module.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save("model_0000003", iteration=3)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"


DAMAGES = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "zero bytes": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(b"not a checkpoint at all"),
    "missing": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_falls_back_to_the_newest_valid_checkpoint(damage, tmp_path, caplog):
    model = torch.nn.Linear(2, 2)
    ckpt = RmLRCheckpointer(model, str(tmp_path))
    for it in (1, 3, 5):
        ckpt.save(f"model_{it:07d}", iteration=it)
    DAMAGES[damage](tmp_path / "model_0000005.pth")
    with caplog.at_level(logging.WARNING):
        path, checkpoint = find_resume_checkpoint(str(tmp_path))
    assert path.endswith("model_0000003.pth") and checkpoint["iteration"] == 3
    assert "model_0000005.pth" in caplog.text and "newest valid" in caplog.text


def test_resume_with_no_valid_or_an_unsafe_checkpoint_stops(tmp_path):
    (tmp_path / "model_0000001.pth").write_bytes(b"")
    (tmp_path / "last_checkpoint").write_text("model_0000001.pth")
    with pytest.raises(
        CheckpointError, match=r"no valid checkpoint .*model_0000001\.pth \(.*empty"
    ):
        find_resume_checkpoint(str(tmp_path))
    from hardening_payloads import write_pkl

    write_pkl(tmp_path / "model_0000002.pkl", tmp_path / "marker")
    (tmp_path / "last_checkpoint").write_text("model_0000002.pkl")
    with pytest.raises(UnsafeCheckpointError, match="model_0000002.pkl: refused"):
        find_resume_checkpoint(str(tmp_path))
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("damage", ["truncated", "zero bytes"])
def test_the_training_entry_resumes_from_the_newest_valid_checkpoint(damage, tmp_path):
    """End to end (the toy config, 12 iterations, checkpoints every 4): the last checkpoint is
    damaged; --resume warns naming it and continues from the previous one."""
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "tests"))
    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "lazyconfig_train_net.py"),
        "--config-file",
        TOY,
    ]
    base = [f"train.output_dir={tmp_path}", "train.eval_period=0"]
    subprocess.run(cmd + base + ["train.max_iter=8"], env=env, check=True, capture_output=True)
    DAMAGES[damage](tmp_path / "model_final.pth")  # last_checkpoint names it
    out = subprocess.run(
        cmd + ["--resume"] + base + ["train.max_iter=12"], env=env, capture_output=True, text=True
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-2000:]
    assert "skipped invalid checkpoint(s)" in log and "model_final.pth (" in log
    assert "Resuming from" in log and "model_0000007.pth, the newest valid one" in log
    assert torch.load(tmp_path / "model_final.pth", weights_only=True)["iteration"] == 11
