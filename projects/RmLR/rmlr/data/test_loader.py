"""The evaluation loader: Detectron2's test loader with a batch size.

Detectron2 v0.6's ``build_detection_test_loader`` always gives one image per batch. RmLR's model
gives the same predictions for an image whatever the other images of its batch (the entity stage
runs each image size on its own, the HOI head ignores padding; ``tests/test_batched_inference.py``
compares batch 4 with batch 1), so evaluation can batch: ``dataloader.test.batch_size`` images per
forward. Later Detectron2 versions added the same argument to ``build_detection_test_loader``.
"""

from typing import Callable, Optional

import torch.utils.data as torchdata
from detectron2.data.common import DatasetFromList, MapDataset
from detectron2.data.samplers import InferenceSampler

__all__ = ["build_hoi_test_loader"]


def _list_collate(batch):
    return batch  # a list of mapper outputs, as Detectron2's models take


def build_hoi_test_loader(
    dataset,
    *,
    mapper: Optional[Callable],
    batch_size: int = 1,
    num_workers: int = 0,
    sampler: Optional[torchdata.Sampler] = None,
) -> torchdata.DataLoader:
    """A loader over every image once, in dataset order (split across ranks by
    :class:`InferenceSampler`), ``batch_size`` images per batch (the last one may be smaller).

    Args:
        dataset: dataset dicts (a list) or a map-style dataset.
        mapper: maps a dataset dict to the model's input (None: the dicts as they are).
        batch_size: images per batch on each process, >= 1.
        num_workers: loader worker processes.
        sampler: indices to load (default: :class:`InferenceSampler` over the dataset).
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"dataloader.test.batch_size must be a positive integer, got {batch_size!r}"
        )
    if isinstance(dataset, list):
        dataset = DatasetFromList(dataset, copy=False)
    if mapper is not None:
        dataset = MapDataset(dataset, mapper)
    if sampler is None:
        sampler = InferenceSampler(len(dataset))
    return torchdata.DataLoader(
        dataset,
        batch_size=int(batch_size),
        sampler=sampler,
        drop_last=False,
        num_workers=num_workers,
        collate_fn=_list_collate,
    )
