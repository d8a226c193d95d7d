"""A training sampler that resumes where a killed run stopped.

Detectron2's ``TrainingSampler`` restarts its infinite index stream from the seed whenever a run
starts, so a resumed run sees the first images of epoch 0 again. :class:`ResumableTrainingSampler`
produces the same stream (``shuffle(range(size)) + shuffle(range(size)) + ...`` drawn from one
seeded generator, sharded across ranks) but skips the first ``start`` indices, so after a resume
at iteration ``i`` the data order is exactly that of an uninterrupted run.
"""

import itertools
from typing import Optional

import torch
from detectron2.utils import comm
from torch.utils.data.sampler import Sampler

__all__ = ["ResumableTrainingSampler"]


class ResumableTrainingSampler(Sampler):
    def __init__(
        self, size: int, *, shuffle: bool = True, seed: Optional[int] = None, start: int = 0
    ):
        """
        Args:
            size: number of dataset entries.
            shuffle: shuffle each epoch (else sequential order).
            seed: seed of the stream, identical on every rank (None: a random seed shared by all
                ranks; such a stream cannot be resumed exactly).
            start: global number of indices (over all ranks) already consumed.
        """
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"ResumableTrainingSampler: size must be a positive int, got {size!r}")
        if start < 0:
            raise ValueError(f"ResumableTrainingSampler: start must be >= 0, got {start}")
        self._size = size
        self._shuffle = shuffle
        self._seed = int(comm.shared_random_seed() if seed is None else seed)
        self._start = start
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()

    def __iter__(self):
        # Whole epochs before `start` only advance the generator; the rest is sliced off.
        skipped_epochs, offset = divmod(self._start, self._size)
        stream = self._infinite_indices(skipped_epochs)
        yield from itertools.islice(stream, offset + self._rank, None, self._world_size)

    def index_at(self, position: int) -> int:
        """The dataset index at global ``position`` of the stream (any rank's)."""
        epoch, offset = divmod(position, self._size)
        if not self._shuffle:
            return offset
        g = torch.Generator()
        g.manual_seed(self._seed)
        for _ in range(epoch):
            torch.randperm(self._size, generator=g)
        return int(torch.randperm(self._size, generator=g)[offset])

    def _infinite_indices(self, skipped_epochs: int):
        g = torch.Generator()
        g.manual_seed(self._seed)
        if self._shuffle:
            for _ in range(skipped_epochs):
                torch.randperm(self._size, generator=g)
        while True:
            if self._shuffle:
                yield from torch.randperm(self._size, generator=g).tolist()
            else:
                yield from range(self._size)
