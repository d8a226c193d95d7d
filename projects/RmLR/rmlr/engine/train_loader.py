"""A training data loader whose state is checkpointed, so ``--resume`` sees the same batches.

:class:`ResumableTrainLoader` does what Detectron2's ``build_detection_train_loader`` does (an
infinite shuffled stream sharded over ranks and data-loader workers, samples mapped by the mapper,
batches of images with the same orientation when ``aspect_ratio_grouping``) with three changes
that make a resumed run equal an uninterrupted one bit for bit:

* each sample is mapped under :func:`~rmlr.engine.rng_state.sample_rng` seeded by the run's seed
  and the sample's global stream position, so its augmentation does not depend on which process
  maps it, on how many workers there are, or on what ran before;
* the loader counts the stream positions the training process consumed and remembers those
  waiting in a half-filled orientation bucket: :meth:`state_dict` is a few integers, saved in every
  checkpoint, and :meth:`load_state_dict` re-maps the waiting samples (same augmentation) and
  continues the stream after the last consumed position;
* its ``torch.utils.data.DataLoader`` draws its worker seeds from its own generator, not from
  torch's global one (which dropout uses), so creating the iterator draws nothing.

Shapes: ``B`` images per batch on this rank (``total_batch_size / world_size``).
"""

import itertools
import logging
from typing import Callable, Dict, List, Optional, Sequence

import torch
from detectron2.data.build import worker_init_reset_seed
from detectron2.data.common import DatasetFromList
from detectron2.utils import comm
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .rng_state import sample_rng
from .sampler import ResumableTrainingSampler

__all__ = ["ResumableTrainLoader"]

logger = logging.getLogger(__name__)


def _identity(x):
    return x


class _MappedStream(IterableDataset):
    """``(local position, mapped dict or None)`` from local position ``start`` on; worker ``k`` of
    ``W`` maps positions ``start + k``, ``start + k + W``, ... so the data loader's round-robin
    order is the stream order."""

    def __init__(
        self, loader: "ResumableTrainLoader", indices: ResumableTrainingSampler, start: int
    ):
        self.loader, self.indices, self.start = loader, indices, start

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for k, index in enumerate(itertools.islice(self.indices, worker, None, workers)):
            position = self.start + worker + k * workers
            yield position, self.loader.map_sample(index, position)


class ResumableTrainLoader:
    """An infinite iterable of training batches (lists of ``B`` mapped dicts) with a state.

    Args:
        dataset: a list of dataset dicts (or a map-style dataset).
        mapper: dataset dict -> model input dict (or None to skip the sample).
        total_batch_size: images per iteration over all ranks.
        seed: seed of the data order and of the augmentation (None: a random one shared by the
            ranks, stored in the state so a resume is still exact).
        aspect_ratio_grouping: batch images of the same orientation together (Detectron2's
            grouping, by the dicts' ``width`` / ``height``).
        num_workers: data-loader worker processes.
        collate_fn: applied to each batch (default: the list itself).
    """

    def __init__(
        self,
        dataset: Sequence,
        *,
        mapper: Callable,
        total_batch_size: int,
        seed: Optional[int],
        aspect_ratio_grouping: bool = True,
        num_workers: int = 0,
        collate_fn: Optional[Callable] = None,
    ):
        self.world_size, self.rank = comm.get_world_size(), comm.get_rank()
        if total_batch_size <= 0 or total_batch_size % self.world_size:
            raise ValueError(
                f"total_batch_size={total_batch_size} must be a positive multiple of the "
                f"{self.world_size} process(es)"
            )
        if len(dataset) == 0:
            raise ValueError("dataloader.train.dataset is empty")
        if isinstance(dataset, list):  # serialized: workers do not copy it page by page
            dataset = DatasetFromList(dataset, copy=False)
        self.dataset, self.mapper = dataset, mapper
        self.batch_size = total_batch_size // self.world_size
        self.seed = int(comm.shared_random_seed() if seed is None else seed)
        self.aspect_ratio_grouping = aspect_ratio_grouping
        self.num_workers, self.collate_fn = num_workers, collate_fn
        self.sampler = ResumableTrainingSampler(len(dataset), seed=self.seed)
        self.position = 0  # local stream positions consumed by this process
        self.pending: List[List[int]] = [[], []]  # positions waiting in each orientation bucket
        self._buckets: Optional[List[List]] = None

    # --- state --------------------------------------------------------------------------------

    def state_dict(self) -> Dict:
        pending = (
            self.pending if self._buckets is None else [[p for p, _ in b] for b in self._buckets]
        )
        return {
            "seed": self.seed,
            "position": self.position,
            "pending": [list(b) for b in pending],
            "world_size": self.world_size,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: Dict) -> None:
        """Continue after ``state`` (from :meth:`state_dict` of the same rank, same world size and
        batch size, before iterating)."""
        if self._buckets is not None:
            raise RuntimeError("ResumableTrainLoader: load_state_dict after iteration started")
        if (state["world_size"], state["batch_size"]) != (self.world_size, self.batch_size):
            raise ValueError(
                f"the checkpoint's data loader ran on {state['world_size']} process(es) with "
                f"{state['batch_size']} images each, this run on {self.world_size} with "
                f"{self.batch_size}"
            )
        self.seed = int(state["seed"])
        self.sampler = ResumableTrainingSampler(len(self.dataset), seed=self.seed)
        self.position = int(state["position"])
        self.pending = [[int(p) for p in b] for b in state["pending"]]

    def skip_samples(self, global_samples: int) -> None:
        """Start after ``global_samples`` samples of all ranks (checkpoints without a loader
        state: same data order, but augmentations and orientation buckets are not restored)."""
        self.position = global_samples // self.world_size

    # --- iteration ----------------------------------------------------------------------------

    def map_sample(self, index: int, position: int):
        """``mapper(dataset[index])`` with the augmentation of local stream ``position``."""
        global_position = position * self.world_size + self.rank
        in_worker = get_worker_info() is not None
        with sample_rng(self.seed, global_position, restore=not in_worker):
            return self.mapper(self.dataset[index])

    def map_at(self, position: int):
        """The mapped sample at local stream ``position`` (the same result in any process)."""
        index = self.sampler.index_at(position * self.world_size + self.rank)
        return self.map_sample(index, position)

    def _stream(self) -> DataLoader:
        # This rank's indices from its local position on (the sampler shards over ranks).
        indices = ResumableTrainingSampler(
            len(self.dataset), seed=self.seed, start=self.position * self.world_size
        )
        return DataLoader(
            _MappedStream(self, indices, self.position),
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_identity,
            worker_init_fn=worker_init_reset_seed,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def __iter__(self):
        self._buckets = [[(p, self.map_at(p)) for p in bucket] for bucket in self.pending]
        skipped = 0
        for position, data in self._stream():
            if position != self.position:
                raise RuntimeError(f"data loader out of order: {position} != {self.position}")
            self.position += 1
            if data is None:
                skipped += 1
                logger.warning(f"the mapper skipped a training sample ({skipped} so far)")
                continue
            bucket = self._buckets[0]
            if self.aspect_ratio_grouping and data["width"] <= data["height"]:
                bucket = self._buckets[1]
            bucket.append((position, data))
            if len(bucket) == self.batch_size:
                batch = [d for _, d in bucket]
                bucket.clear()  # before yielding: the state at a checkpoint is exact
                yield batch if self.collate_fn is None else self.collate_fn(batch)
