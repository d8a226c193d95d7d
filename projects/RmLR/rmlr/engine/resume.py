"""``--resume``: the training state beyond the weights, and the repair of ``metrics.json``.

* :class:`StateCheckpointer`: Detectron2's ``PeriodicCheckpointer`` hook, registered on every
  rank. At each save it gathers every rank's random state and data-loader state
  (:meth:`~rmlr.engine.trainer.HOITrainer.rank_state`) into the trainer state that the main process
  writes, so a resumed run equals an uninterrupted one bit for bit.
* :func:`resume_training_state`: hands each rank its state back (or, for a checkpoint without it
  or one of another number of ranks, restarts the data stream after the samples already seen,
  with a warning that the run is no longer exact).
* :func:`repair_metrics_file`: a crash (kill, full disk) can leave ``metrics.json`` with a
  truncated last line, and rows of iterations after the checkpoint that the resumed run writes
  again. Both are dropped before the resumed run appends to the file.
"""

import json
import logging
import os

from detectron2.engine import hooks
from detectron2.utils import comm

from ..checkpoint import atomic_write

__all__ = ["StateCheckpointer", "resume_training_state", "repair_metrics_file"]

logger = logging.getLogger(__name__)


class StateCheckpointer(hooks.PeriodicCheckpointer):
    """``hooks.PeriodicCheckpointer`` that also saves every rank's random and data state.

    Register it on every rank (only the main process writes files).
    """

    def after_step(self):
        iteration = self.trainer.iter
        last = self.max_iter is not None and iteration >= self.max_iter - 1
        if (iteration + 1) % self.period == 0 or last:
            self.trainer.rank_states = comm.all_gather(self.trainer.rank_state())
            if comm.is_main_process():
                self.step(iteration)


def resume_training_state(trainer, *, samples_per_iter: int) -> None:
    """After ``trainer.load_state_dict`` of a resumed checkpoint: give this rank its saved state
    (exact resume), else skip the samples the earlier iterations used (same data order only)."""
    states = trainer.resumed_rank_states
    world = comm.get_world_size()
    if states is not None and len(states) == world:
        trainer.resume_rank_state(states[comm.get_rank()])
        return
    reason = (
        "it holds no random / data-loader state (saved by an older version)"
        if states is None
        else f"it was saved by {len(states)} process(es), this run has {world}"
    )
    logger.warning(
        f"--resume: {reason}; the data order continues, but augmentations and random layers "
        "will differ from an uninterrupted run"
    )
    if hasattr(trainer.data_loader, "skip_samples"):
        trainer.data_loader.skip_samples((trainer.iter + 1) * samples_per_iter)


def repair_metrics_file(path: str, last_iteration: int) -> int:
    """Keep only the complete JSON rows of ``path`` up to ``last_iteration`` (the checkpoint's);
    returns the number of lines dropped (logged)."""
    if not os.path.isfile(path):
        return 0
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    kept, truncated, later = [], 0, 0
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(line)
        except ValueError:
            truncated += 1
            continue
        if int(row.get("iteration", -1)) > last_iteration:
            later += 1
            continue
        kept.append(line)
    if truncated or later:
        atomic_write(path, lambda f: f.write("".join(line + "\n" for line in kept)), mode="w")
        logger.warning(
            f"--resume: {path}: dropped {truncated} incomplete line(s) (a crash while writing) "
            f"and {later} row(s) after iteration {last_iteration} (written again now)"
        )
    return truncated + later
