"""The training loop: Detectron2's ``SimpleTrainer`` with gradient accumulation, clipping and AMP.

One trainer *iteration* is one optimizer step over ``grad_accum_steps`` micro-batches, so
``train.max_iter``, the LR schedule, checkpoints and evaluation periods count optimizer steps and a
run with ``total_batch_size=2, grad_accum_steps=4`` follows the same schedule as one with
``total_batch_size=8`` (the paper's total batch on fewer devices; UPT users report NaN losses with
small batches). Micro-batch losses are divided by ``grad_accum_steps`` so gradients are averaged,
and DDP all-reduces only on the last micro-batch (``no_sync``).

Mixed precision (``amp=True``) runs the forward pass under ``torch.autocast(amp_device,
amp_dtype)``: float16 with a ``GradScaler`` (losses scaled, gradients unscaled before clipping; a
step with non-finite gradients is skipped and the scale lowered), bfloat16 without one (its range
is float32's). ``amp_device`` is "cuda" (default) or "cpu" (CPU autocast, for tests and CPU
runs). Gradient clipping (``clip_grad_norm > 0``) clips the total norm of all trainable
parameters after unscaling, as UPT does (max norm 0.1).

The data loader iterator is created on the first step, not in the constructor, so the training
script can build the loader after resuming a checkpoint (the sampler then skips what was seen).

For an exact ``--resume`` the trainer's state (saved in every checkpoint) also holds, per rank, the
random state and the data loader's state (:meth:`HOITrainer.rank_state`, gathered from all ranks
by :class:`~rmlr.engine.resume.StateCheckpointer`); :meth:`HOITrainer.resume_rank_state` hands the
loader its state and restores the random state just before the first resumed step.
"""

import contextlib
import time

import torch
from detectron2.engine import SimpleTrainer
from detectron2.engine.train_loop import TrainerBase
from torch.nn.parallel import DistributedDataParallel

from .rng_state import capture_rng_state, restore_rng_state

__all__ = ["HOITrainer"]


class HOITrainer(SimpleTrainer):
    def __init__(
        self,
        model: torch.nn.Module,
        data_loader,
        optimizer: torch.optim.Optimizer,
        *,
        grad_accum_steps: int = 1,
        clip_grad_norm: float = 0.0,
        clip_grad_norm_type: float = 2.0,
        amp: bool = False,
        amp_device: str = "cuda",
        amp_dtype: torch.dtype = torch.float16,
    ):
        """
        Args:
            model: returns a dict of ``loss_*`` tensors in training mode.
            data_loader: an iterable of batches; may be None until the first step.
            optimizer: over the trainable parameters only.
            grad_accum_steps: micro-batches per optimizer step (>= 1).
            clip_grad_norm: max total gradient norm; 0 disables clipping.
            clip_grad_norm_type: the norm's p.
            amp: mixed precision.
            amp_device: autocast device type, "cuda" or "cpu".
            amp_dtype: torch.float16 (with a GradScaler) or torch.bfloat16.
        """
        if grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
        if amp_device not in ("cuda", "cpu"):
            raise ValueError(f"amp_device must be 'cuda' or 'cpu', got {amp_device!r}")
        if amp_dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"amp_dtype must be torch.float16 or torch.bfloat16, got {amp_dtype}")
        if amp and amp_device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "train.amp.enabled=True on device 'cuda' needs CUDA; use amp_device='cpu' for "
                "CPU autocast or set it to False"
            )
        TrainerBase.__init__(self)
        model.train()
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self.grad_accum_steps = grad_accum_steps
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_norm_type = clip_grad_norm_type
        self.amp = amp
        self.amp_device = amp_device
        self.amp_dtype = amp_dtype
        use_scaler = amp and amp_dtype == torch.float16
        self.grad_scaler = torch.amp.GradScaler(amp_device) if use_scaler else None
        self._iterator = None
        self.rank_states = None  # every rank's rank_state() at the last checkpoint
        self.resumed_rank_states = None  # the same, read from the checkpoint resumed from
        self._rng_to_restore = None

    @property
    def _data_loader_iter(self):
        if self._iterator is None:
            if self.data_loader is None:
                raise RuntimeError("HOITrainer: no data loader was given")
            self._iterator = iter(self.data_loader)
        return self._iterator

    def _params(self):
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]

    def run_step(self):
        assert self.model.training, "[HOITrainer] model was changed to eval mode!"
        self.optimizer.zero_grad(set_to_none=True)
        totals, data_time = {}, 0.0
        for micro in range(self.grad_accum_steps):
            start = time.perf_counter()
            data = next(self._data_loader_iter)
            data_time += time.perf_counter() - start
            last = micro == self.grad_accum_steps - 1
            sync = contextlib.nullcontext()
            if not last and isinstance(self.model, DistributedDataParallel):
                sync = self.model.no_sync()
            with sync:
                with torch.autocast(self.amp_device, dtype=self.amp_dtype, enabled=self.amp):
                    loss_dict = self.model(data)
                losses = sum(loss_dict.values()) / self.grad_accum_steps
                if self.grad_scaler is not None:
                    self.grad_scaler.scale(losses).backward()
                else:
                    losses.backward()
            for k, v in loss_dict.items():
                totals[k] = totals.get(k, 0.0) + v.detach() / self.grad_accum_steps

        self._write_metrics(totals, data_time)

        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(self.optimizer)
        if self.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(
                self._params(), self.clip_grad_norm, norm_type=self.clip_grad_norm_type
            )
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def rank_state(self) -> dict:
        """This process's random state and data-loader state (if the loader has one)."""
        loader_state = getattr(self.data_loader, "state_dict", None)
        return {"rng": capture_rng_state(), "data": loader_state() if loader_state else None}

    def resume_rank_state(self, state: dict) -> None:
        """Give the data loader its state now and restore the random state in
        :meth:`before_train`, after everything else that draws random numbers was built."""
        if state.get("data") is not None:
            self.data_loader.load_state_dict(state["data"])
        self._rng_to_restore = state["rng"]

    def before_train(self):
        super().before_train()
        if self._rng_to_restore is not None:
            restore_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    def state_dict(self):
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        if self.rank_states is not None:
            ret["rank_states"] = self.rank_states
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
        self.resumed_rank_states = state_dict.get("rank_states")
