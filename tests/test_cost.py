"""Cost utilities used by the benchmarks: MAC counting (attention included), parameters, timing."""

import torch
from torch import nn

from rmlr.utils.cost import count_macs, count_parameters, interleaved_latency, machine_info


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
