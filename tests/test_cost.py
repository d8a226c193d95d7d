"""Cost utilities used by the benchmarks: MAC counting (attention included), parameters, timing."""

import torch
from torch import nn

from rmlr.utils.cost import (
    ForwardTimer,
    count_macs,
    count_parameters,
    interleaved_latency,
    machine_info,
    machine_summary,
)


class Attention(nn.Module):
    def forward(self, q, k, v):
        return nn.functional.scaled_dot_product_attention(q, k, v)


def test_linear_and_attention_macs_are_counted():
    linear = nn.Linear(8, 4)
    assert count_macs(linear, (torch.zeros(3, 8),)) == 3 * 8 * 4
    q, k, v = torch.zeros(2, 5, 6), torch.zeros(2, 7, 6), torch.zeros(2, 7, 3)
    # q k^T: 5 x 7 x 6, weights x v: 5 x 7 x 3, for each of the 2 batch entries
    assert count_macs(Attention(), (q, k, v)) == 2 * 5 * 7 * (6 + 3)


def test_parameters_and_trainable_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 15 + 8
    assert count_parameters(model, trainable_only=True) == 8


def test_interleaved_latency_runs_each_in_turn():
    order = []
    stats = interleaved_latency(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        device="cpu",
        warmup=1,
        runs=3,
    )
    assert order == ["a", "b"] * 4
    assert len(stats["a"]["all"]) == 3 and stats["a"]["max"] == max(stats["a"]["all"])
    assert (
        stats["a"]["runs"] == 3 and stats["a"]["min"] <= stats["a"]["median"] <= stats["a"]["max"]
    )
    info = machine_info("cpu")
    assert info["logical_cores"] >= 1 and info["torch"] == torch.__version__


def test_forward_timer_records_each_call_until_detached():
    outer = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    timer = ForwardTimer("cpu")
    timer.attach("outer", outer)
    timer.attach("inner", outer[0])
    x = torch.randn(2, 3)
    outer(x)
    outer(x)
    assert len(timer.calls["outer"]) == 2 and len(timer.calls["inner"]) == 2
    # the inner module's time is part of the outer one's, call by call
    assert all(i <= o for i, o in zip(timer.calls["inner"], timer.calls["outer"]))
    assert timer.measure("other", lambda: 7) == 7 and len(timer.calls["other"]) == 1
    assert timer.total("outer") == sum(timer.calls["outer"]) and timer.total("missing") == 0
    timer.detach()
    outer(x)
    assert len(timer.calls["outer"]) == 2


def test_machine_summary_names_cpu_cores_torch_and_cuda():
    info = machine_info("cpu")
    line = machine_summary(info)
    assert line.startswith("machine: ") and info["cpu"] in line and info["torch"] in line
    assert ("CUDA available" in line) == torch.cuda.is_available()
    assert f"{info['logical_cores']} logical cores" in line
