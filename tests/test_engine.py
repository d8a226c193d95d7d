"""The training entry: resume, data order, gradient accumulation, multi-process runs, refusals."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf
from toy_training import ToyRegressor, toy_dataset

from rmlr.engine import (
    HOITrainer,
    ResumableTrainingSampler,
    check_weight_sources,
    format_results_table,
    resolve_device,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
TOY_CONFIG = os.path.join(REPO, "tests", "toy_train_config.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_train_net(output_dir, *extra, env=None, check=True):
    full_env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "tests"), **(env or {}))
    # A fresh rendezvous port per run: back-to-back multi-process runs must not collide.
    cmd = [sys.executable, TRAIN_NET, "--config-file", TOY_CONFIG]
    cmd += ["--dist-url", f"tcp://127.0.0.1:{free_port()}", *extra]
    cmd.append(f"train.output_dir={output_dir}")
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out


def read_log(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


def final_weights(output_dir):
    state = torch.load(os.path.join(output_dir, "model_final.pth"), weights_only=True)
    return state["model"]


def lr_by_iter(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {r["iteration"]: r["lr"] for r in rows if "lr" in r}


# --- sampler ------------------------------------------------------------------------------------


def _take(sampler, n, rank=0, world_size=1):
    sampler._rank, sampler._world_size = rank, world_size  # as if launched on that many ranks
    it = iter(sampler)
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("start", [0, 5, 24, 61])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_resumable_sampler_continues_the_uninterrupted_stream(start, world_size):
    stream = _take(ResumableTrainingSampler(10, seed=3), 200)  # the global index stream
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]
    for rank in range(world_size):
        resumed = _take(ResumableTrainingSampler(10, seed=3, start=start), 20, rank, world_size)
        # Rank r continues with global positions start + r, start + r + W, ...
        assert resumed == stream[start + rank :: world_size][:20]


def test_resumable_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive int"):
        ResumableTrainingSampler(0, seed=1)
    with pytest.raises(ValueError, match="start"):
        ResumableTrainingSampler(3, seed=1, start=-1)


# --- trainer ------------------------------------------------------------------------------------


def _grads_after_one_step(batch_size, accum):
    torch.manual_seed(0)
    model = ToyRegressor()
    data = toy_dataset(8)
    batches = iter([data[i : i + batch_size] for i in range(0, 8, batch_size)])
    optim = torch.optim.SGD(model.parameters(), lr=0.0)
    trainer = HOITrainer(model, batches, optim, grad_accum_steps=accum)
    from detectron2.utils.events import EventStorage

    with EventStorage(0) as trainer.storage:
        trainer.iter = 0
        trainer.run_step()
    return [p.grad.clone() for p in model.parameters()]


def test_gradient_accumulation_equals_the_large_batch():
    big = _grads_after_one_step(batch_size=4, accum=1)
    accumulated = _grads_after_one_step(batch_size=2, accum=2)
    for a, b in zip(big, accumulated):
        torch.testing.assert_close(a, b)


def test_trainer_rejects_amp_without_cuda_and_bad_accumulation():
    model = ToyRegressor()
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        HOITrainer(model, None, optim, grad_accum_steps=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            HOITrainer(model, None, optim, amp=True)


# --- refusals and small helpers ---------------------------------------------------------------


def _cfg(**train):
    cfg = OmegaConf.create({"train": {"init_checkpoint": "", **train}, "model": {}})
    return cfg


def test_missing_init_checkpoint_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.init_checkpoint"):
        check_weight_sources(_cfg(init_checkpoint=str(tmp_path / "nope.pth")))
    with pytest.raises(ValueError, match="--eval-only"):
        check_weight_sources(_cfg(), eval_only=True)


def test_entity_detector_without_weights_is_refused(tmp_path):
    cfg = _cfg()
    cfg.model = {"entity_detector": {"checkpoint": ""}}
    with pytest.raises(ValueError, match="random weights"):
        check_weight_sources(cfg)
    cfg.model.entity_detector.checkpoint = str(tmp_path / "detr.pth")
    with pytest.raises(FileNotFoundError, match="model.entity_detector.checkpoint"):
        check_weight_sources(cfg)
    (tmp_path / "detr.pth").write_bytes(b"")
    check_weight_sources(cfg)  # exists: accepted
    cfg.model.entity_detector.checkpoint = ""
    cfg.train.allow_random_entity_detector = True
    check_weight_sources(cfg)  # explicit smoke-test opt-in


def test_missing_teacher_folder_is_refused(tmp_path):
    cfg = _cfg()
    cfg.model = {"text_teacher": {"model_name_or_path": str(tmp_path / "mobilebert")}}
    with pytest.raises(FileNotFoundError, match="text_teacher"):
        check_weight_sources(cfg)
    cfg.model.text_teacher.model_name_or_path = "google/mobilebert-uncased"  # a hub name
    check_weight_sources(cfg)


def test_resolve_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_results_table_layout():
    table = format_results_table(
        {
            "hico_det": {"full": 36.93, "rare": 29.03, "non_rare": 39.29},
            "vcoco": {"AP_role_S1": 63.78, "AP_role_S2": 69.81},
        }
    )
    assert "| Default | 36.93 | 29.03 | 39.29 |" in table
    assert "| Known Object | - | - | - |" in table
    assert "| AP | 63.78 | 69.81 | - |" in table


# --- the script end to end ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    run_train_net(str(out), env={"TOY_LOG": str(out / "ids.log")})
    return out


def test_kill_and_resume_continues_schedule_and_data_order(uninterrupted, tmp_path):
    # checkpoints every 4 iterations (3, 7, 11); SIGKILL during iteration 6 (7th forward)
    killed = run_train_net(
        str(tmp_path),
        env={"TOY_KILL_AT_FORWARD": "7", "TOY_LOG": str(tmp_path / "a.log")},
        check=False,
    )
    assert killed.returncode != 0
    with open(tmp_path / "last_checkpoint") as f:
        assert f.read().strip() == "model_0000003.pth"  # at most one period lost
    run_train_net(str(tmp_path), "--resume", env={"TOY_LOG": str(tmp_path / "b.log")})

    full = read_log(uninterrupted / "ids.log")
    resumed = read_log(tmp_path / "b.log")
    assert resumed == full[4 * 2 :]  # iterations 4..11, batch 2: the same samples in order
    lr_full, lr_resumed = lr_by_iter(uninterrupted), lr_by_iter(tmp_path)
    for it in range(5, 12, 2):
        assert lr_resumed[it] == pytest.approx(lr_full[it], rel=1e-12)
    for k, v in final_weights(uninterrupted).items():
        torch.testing.assert_close(final_weights(tmp_path)[k], v)


@pytest.mark.slow
def test_two_processes_train_and_evaluate_like_one(uninterrupted, tmp_path):
    two = run_train_net(str(tmp_path / "two"), "--num-gpus", "2")
    assert "Results:" in two.stdout + two.stderr
    # DDP over 2 ranks x 1 sample = 1 rank x 2 samples (same global batch, mean loss).
    for k, v in final_weights(uninterrupted).items():
        torch.testing.assert_close(final_weights(tmp_path / "two")[k], v, rtol=1e-5, atol=1e-6)

    ckpt = str(uninterrupted / "model_final.pth")
    results = {}
    for n in (1, 2):
        out_dir = tmp_path / f"eval{n}"
        run_train_net(
            str(out_dir), "--eval-only", "--num-gpus", str(n), f"train.init_checkpoint={ckpt}"
        )
        results[n] = (out_dir / "results.md").read_text()
    assert results[1] == results[2] and "| count | 24.00 |" in results[1]


def test_eval_only_refuses_missing_checkpoint(tmp_path):
    out = run_train_net(
        str(tmp_path), "--eval-only", f"train.init_checkpoint={tmp_path}/missing.pth", check=False
    )
    assert out.returncode != 0
    assert "missing.pth" in out.stderr and "no such file" in out.stderr
