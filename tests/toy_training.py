"""A toy regression task that exercises the training entry without any HOI model.

Used by ``tests/test_engine.py`` through ``tests/toy_train_config.py``: a linear model, a list
dataset with ids, an identity mapper and an evaluator that gathers across ranks. Setting the
environment variable ``TOY_LOG`` makes the model append every consumed sample id (with the rank)
to that file; ``TOY_KILL_AT_FORWARD=N`` kills the process with SIGKILL at its N-th training forward.
"""

import os
import signal

import numpy as np
import torch
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from torch import nn

NUM_SAMPLES = 24


def toy_dataset(num_samples: int = NUM_SAMPLES):
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(num_samples, 4, generator=g)
    ys = xs @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    return [{"id": i, "x": xs[i], "y": ys[i]} for i in range(num_samples)]


class IdentityMapper:
    def __call__(self, d):
        return d


class ToyRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self._forwards = 0

    @property
    def device(self):
        return self.linear.weight.device

    def forward(self, batched_inputs):
        x = torch.stack([d["x"] for d in batched_inputs]).to(self.device)
        y = torch.stack([d["y"] for d in batched_inputs]).to(self.device)
        pred = self.linear(x)[:, 0]
        if not self.training:
            return [{"pred": p} for p in pred]
        self._forwards += 1
        if os.environ.get("TOY_LOG"):
            with open(os.environ["TOY_LOG"], "a") as f:
                for d in batched_inputs:
                    f.write(f"{comm.get_rank()} {d['id']}\n")
        if int(os.environ.get("TOY_KILL_AT_FORWARD", 0)) == self._forwards:
            os.kill(os.getpid(), signal.SIGKILL)
        return {"loss_mse": ((pred - y) ** 2).mean()}


class ToyEvaluator(DatasetEvaluator):
    def reset(self):
        self._errors = {}

    def process(self, inputs, outputs):
        for d, o in zip(inputs, outputs):
            self._errors[d["id"]] = float((o["pred"].cpu() - d["y"]) ** 2)

    def evaluate(self):
        merged = {}
        for part in comm.gather(self._errors, dst=0):
            merged.update(part)
        if not comm.is_main_process():
            return {}
        ids = sorted(merged)
        return {"toy": {"mse": float(np.mean([merged[i] for i in ids])), "count": len(ids)}}
