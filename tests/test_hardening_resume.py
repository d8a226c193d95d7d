"""``--resume`` after ``kill -9`` equals an uninterrupted run bit for bit, and a crash while writing
``metrics.json`` leaves no truncated line behind.

The end-to-end test trains the tiny RmLR config (augmentation, dropout, frozen DETR, teacher) three
times: uninterrupted; killed with SIGKILL at iteration 4 (checkpoints every 2); resumed. Before the
fix 192 of the 391 tensors of the final weights differed, by up to 4.2e-5 after only 2 resumed
iterations (the augmentation's and dropout's random states were not restored, and the text
teacher's outputs depended on its cache). The loader tests check the same property for every
combination of data-loader workers and orientation grouping, in seconds.
"""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from rmlr.engine import ResumableTrainLoader, repair_metrics_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
KILLER = os.path.join(REPO, "tests", "kill_at_iteration.py")
PRETRAINED_DETR = os.path.join(
    REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth"
)
OPTS = [
    # the pre-trained tiny DETR (what stage 1 starts from): it detects the synthetic entities, so
    # pairs exist and every loss, augmentation and dropout draw matters
    f"model.entity_detector.checkpoint={PRETRAINED_DETR}",
    "train.max_iter=6",
    "train.checkpointer.period=2",
    "train.log_period=1",
    "dataloader.train.total_batch_size=2",
]


def _run(script, output_dir, *extra, env=None):
    cmd = [
        sys.executable,
        script,
        "--config-file",
        TINY,
        *extra,
        *OPTS,
        f"train.output_dir={output_dir}",
    ]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=1200)


def _metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        rows = [json.loads(line) for line in f]  # every line must parse
    iterations = [r["iteration"] for r in rows if "total_loss" in r]
    assert len(iterations) == len(set(iterations)), iterations  # no row written twice
    return {r["iteration"]: r["total_loss"] for r in rows if "total_loss" in r}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _run(TRAIN_NET, out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_kill_then_resume_equals_an_uninterrupted_run_bit_for_bit(uninterrupted, tmp_path):
    killed = _run(KILLER, tmp_path, env={"KILL_AT_ITER": "4"})
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL: nothing ran after it
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000003.pth"
    # What a full disk leaves: the last row of metrics.json cut in the middle.
    with open(tmp_path / "metrics.json", "a") as f:
        f.write('{"data_time": 0.01, "iteration": 4, "loss_')

    resumed = _run(TRAIN_NET, tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    full = torch.load(uninterrupted / "model_final.pth", weights_only=True)["model"]
    again = torch.load(tmp_path / "model_final.pth", weights_only=True)["model"]
    assert full.keys() == again.keys()
    differ = [k for k in full if not torch.equal(full[k], again[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    losses = _metrics(uninterrupted)
    assert min(losses.values()) > 0  # the run trains: pairs were detected, the losses are real
    # every line parses, one row per iteration (the values are medians over each process's own
    # history, so the resumed process's rows differ from the uninterrupted one's)
    assert sorted(_metrics(tmp_path)) == sorted(losses)


# --- the loader alone: every worker count and grouping -------------------------------------------


class RandomMapper:
    """Returns the draws an augmentation would make (numpy and Python global generators)."""

    def __call__(self, d):
        return {**d, "draw": (float(np.random.rand()), random.random(), int(np.random.randint(9)))}


def _dataset(n=23):
    rng = np.random.default_rng(0)
    sizes = rng.integers(50, 100, size=(n, 2))
    return [{"id": i, "width": int(w), "height": int(h)} for i, (w, h) in enumerate(sizes)]


def _batches(loader, n):
    it = iter(loader)
    return [[(d["id"], d["draw"]) for d in next(it)] for _ in range(n)]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("grouping", [True, False])
def test_a_loader_restored_from_its_state_continues_with_the_same_batches(num_workers, grouping):
    def make():
        return ResumableTrainLoader(
            _dataset(),
            mapper=RandomMapper(),
            total_batch_size=3,
            seed=5,
            aspect_ratio_grouping=grouping,
            num_workers=num_workers,
        )

    full = _batches(make(), 24)
    first = make()
    it = iter(first)
    for done in range(1, 12):  # stop where an orientation bucket is half filled (with grouping)
        next(it)
        state = first.state_dict()
        if done >= 5 and (any(state["pending"]) or not grouping):
            break
    assert any(state["pending"]) == grouping, state
    second = make()
    second.load_state_dict(state)
    assert _batches(second, 24 - done) == full[done:]


def test_the_loader_draws_nothing_from_the_global_generators():
    loader = ResumableTrainLoader(_dataset(), mapper=RandomMapper(), total_batch_size=3, seed=1)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    it = iter(loader)
    for _ in range(3):
        next(it)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert (np.random.get_state()[1] == before[1]).all() and random.getstate() == before[2]


def test_metrics_repair_drops_truncated_lines_and_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.json"
    rows = [{"iteration": i, "total_loss": float(i)} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"iteration": 6, "tot')
    assert repair_metrics_file(str(path), last_iteration=3) == 3  # rows 4, 5 and the cut line
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [0, 1, 2, 3]
    assert repair_metrics_file(str(path), last_iteration=3) == 0  # nothing left to repair
