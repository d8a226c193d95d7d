"""Measuring a model's cost: parameters, fvcore MACs, interleaved latency, per-module forward
time, and the machine.

Used by the scripts in ``benchmarks/``. Latency is measured
side by side: the candidates run in turn (A B A B ...) after a warm-up, so a drift in the
machine's speed affects all of them alike, and the median of each is reported with its ratio.
"""

import os
import platform
import statistics
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch

__all__ = [
    "ForwardTimer",
    "count_parameters",
    "count_macs",
    "interleaved_latency",
    "machine_info",
    "machine_summary",
    "pin_detections",
    "sdpa_macs",
]


def count_parameters(module: torch.nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def sdpa_macs(inputs, outputs) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention`` (unknown to fvcore 0.1.5):
    q (..., L, E), k (..., S, E), v (..., S, Ev) -> L*S*E MACs for q k^T plus L*S*Ev for the
    weighted sum of v."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def baddbmm_macs(inputs, outputs) -> int:
    """fvcore handle for ``aten::baddbmm`` (unknown to fvcore 0.1.5): bias + (B, n, k) @ (B, k, m)
    -> B*n*k*m MACs (the bias addition is not counted, as for ``addmm``)."""
    from fvcore.nn.jit_handles import get_shape

    a, b = get_shape(inputs[1]), get_shape(inputs[2])
    return a[0] * a[1] * a[2] * b[2]


def count_macs(module: torch.nn.Module, inputs, *, by_module_depth: int = 0):
    """Multiply-accumulates of one forward pass, counted by fvcore (fvcore's "flop" is one MAC),
    attention products included. ``inputs`` is the tuple of positional arguments; list-of-dict
    inputs and ``Instances`` outputs go through Detectron2's tracing adapter.

    Returns the total, or ``(total, {submodule: MACs})`` for submodules with
    ``by_module_depth`` dots in their name when that is > 0.
    """
    from detectron2.utils.analysis import FlopCountAnalysis as D2FlopCountAnalysis
    from fvcore.nn import FlopCountAnalysis

    tensors_only = all(isinstance(x, torch.Tensor) for x in inputs)
    if tensors_only:
        analysis = FlopCountAnalysis(module, inputs)
    else:
        (arg,) = inputs
        analysis = D2FlopCountAnalysis(module, arg)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_macs)
    analysis.set_op_handle("aten::baddbmm", baddbmm_macs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    total = float(analysis.total())
    if by_module_depth <= 0:
        return total
    by_module = {
        k: float(v) for k, v in analysis.by_module().items() if k.count(".") == by_module_depth - 1
    }
    return total, by_module


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_latency(
    fns: Dict[str, Callable[[], object]], *, device, warmup: int = 3, runs: int = 10
) -> Dict[str, Dict[str, float]]:
    """Seconds per call of each function, run in turn ``runs`` times after ``warmup`` rounds.

    Returns ``{name: {"median", "min", "max", "runs", "all"}}`` (``all``: every timed call, in
    order, so that callers can compare the functions round by round).
    """
    device = torch.device(device)
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for i in range(warmup + runs):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": len(v), "all": v}
        for k, v in times.items()
    }


class ForwardTimer:
    """Seconds of each forward call of chosen modules (forward pre / post hooks; CUDA is
    synchronised around each call), and of any other timed function.

    ``calls[name]`` lists the seconds of every call, in order.
    """

    def __init__(self, device):
        self.device = torch.device(device)
        self.calls: Dict[str, List[float]] = defaultdict(list)
        self._handles = []
        self._start: Dict[str, float] = {}

    def attach(self, name: str, module: torch.nn.Module) -> None:
        def before(mod, args):
            _sync(self.device)
            self._start[name] = time.perf_counter()

        def after(mod, args, out):
            _sync(self.device)
            self.calls[name].append(time.perf_counter() - self._start.pop(name))

        self._handles += [
            module.register_forward_pre_hook(before),
            module.register_forward_hook(after),
        ]

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def measure(self, name: str, fn: Callable[[], object]):
        """Call ``fn()`` and record its seconds under ``name``; returns its result."""
        _sync(self.device)
        start = time.perf_counter()
        out = fn()
        _sync(self.device)
        self.calls[name].append(time.perf_counter() - start)
        return out

    def total(self, name: str) -> float:
        return sum(self.calls.get(name, ()))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device="cpu") -> Dict[str, object]:
    """What a benchmark result must be published with."""
    import numpy as np

    device = torch.device(device)
    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_summary(info: Dict[str, object]) -> str:
    """One line for a benchmark's output from :func:`machine_info`."""
    cuda = "CUDA available" if info["cuda_available"] else "no CUDA"
    line = (
        f"machine: {info['cpu']}, {info['logical_cores']} logical cores, "
        f"{info['torch_threads']} torch threads, torch {info['torch']}, {cuda}, "
        f"device {info['device']}"
    )
    return line + (f" ({info['gpu']})" if "gpu" in info else "")


# Object classes given to the fixed detections (COCO-80 ids with HICO-DET verbs): bicycle, cup,
# sports ball, dining table, chair, book, bottle, umbrella.
OBJECT_CLASSES = (1, 41, 32, 60, 56, 73, 39, 25)


def fixed_detections(num_queries, num_classes, humans, objects):
    """Logits and pre-sigmoid boxes (1, 1, Q, .) that make queries 0..humans-1 persons and the
    next ``objects`` queries objects, on a grid of distinct boxes; the rest no-object."""
    logits = torch.full((num_queries, num_classes + 1), -10.0)
    logits[:, num_classes] = 10.0  # no-object
    for q in range(humans + objects):
        label = 0 if q < humans else OBJECT_CLASSES[(q - humans) % len(OBJECT_CLASSES)]
        logits[q, num_classes] = -10.0
        logits[q, label] = 10.0
    boxes = torch.zeros(num_queries, 4)
    side = int((humans + objects) ** 0.5) + 1
    for q in range(num_queries):
        cx, cy = (q % side + 0.5) / side, (q // side % side + 0.5) / side
        boxes[q] = torch.tensor([cx, cy, 0.6 / side, 0.8 / side])
    return logits[None, None], torch.logit(boxes.clamp(1e-4, 1 - 1e-4))[None, None]


def pin_detections(detr, humans: int, objects: int) -> None:
    """Make a (random-weight) ``DETR`` report ``humans`` persons and ``objects`` objects at
    distinct places: forward hooks replace its class and box heads' outputs (the heads still run,
    so the cost is unchanged). For benchmarks, where random weights would detect nothing."""
    logits, boxes = fixed_detections(detr.num_queries, detr.num_classes, humans, objects)

    def replace(value):
        return lambda module, args, out: value.to(out.device, out.dtype).expand_as(out).clone()

    detr.class_embed.register_forward_hook(replace(logits))
    detr.bbox_embed.register_forward_hook(replace(boxes))
