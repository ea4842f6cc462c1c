# Copyright (c) mmsissi contributors. All rights reserved.
import math
from typing import Iterator, List, Optional, Sized, Union

import torch
from mmdet.datasets.samplers import MultiSourceSampler
from mmdet.registry import DATA_SAMPLERS

__all__ = ['BalancedMultiSourceSampler']


@DATA_SAMPLERS.register_module()
class BalancedMultiSourceSampler(MultiSourceSampler):
    r"""Finite, epoch-based multi-source sampler (Balanced Gradient
    Contribution).

    mmdet's :class:`MultiSourceSampler` never ends, so it cannot drive
    epoch-based training. This sampler keeps its batch composition (every
    batch holds exactly ``num_per_source[i]`` samples of source ``i``, e.g.
    4 target + 4 source images for ``batch_size=8, source_ratio=[1, 1]``)
    but makes the epoch finite:

    - one epoch is one pass over the *epoch source* (``epoch_source``,
      the target set by default), reshuffled by :meth:`set_epoch`;
    - every other source cycles through its own reshuffled permutations
      and *continues* across epochs (it does not restart every epoch), so
      a small target set still sees the whole source set over time;
    - under DDP the epoch source's permutation is split across ranks
      without overlap (``perm[rank::world_size]``); each rank gets the same
      number of batches, and when the epoch source's size is not a multiple
      of ``world_size * num_per_source[epoch_source]``, the last batches are
      completed with the first images of the same permutation (like
      :class:`torch.utils.data.DistributedSampler`) unless ``drop_last``;
      the cycling sources are split across ranks the same way.

    With ``iters_per_epoch`` an epoch is instead a fixed number of batches,
    whatever the target set's size (e.g. the authors' relabel interval of
    56 iterations): the epoch source then cycles through its reshuffled
    permutations like the others, split across ranks without overlap, so
    every target image is seen equally often over time.

    Everything is a pure function of ``(seed, epoch, rank)``, so resuming at
    epoch ``e`` reproduces the uninterrupted run's batches.

    The dataloader must use this sampler with ``batch_size`` equal to
    ``batch_size`` here and no custom batch sampler
    (``batch_sampler=None``): e.g. mmdet's ``AspectRatioBatchSampler``
    would regroup the indices and break the balance.

    Args:
        dataset (Sized): A :class:`ConcatDataset` of the sources.
        batch_size (int): Samples per batch on each rank.
        source_ratio (list[int | float]): Share of each source in a batch.
            Defaults to ``[1, 1]``.
        shuffle (bool): Whether to shuffle. Defaults to True.
        seed (int, optional): Random seed shared by all ranks. If None, a
            random seed is drawn and synchronised across ranks.
        epoch_source (int): Index of the source that defines one epoch.
            Defaults to 0 (the target set).
        drop_last (bool): Drop the incomplete last batch of the epoch
            source instead of completing it. Defaults to False.
        iters_per_epoch (int, optional): Batches per epoch and rank; None
            (default) makes an epoch one pass over the epoch source.
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int,
                 source_ratio: Optional[List[Union[int, float]]] = None,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 epoch_source: int = 0,
                 drop_last: bool = False,
                 iters_per_epoch: Optional[int] = None) -> None:
        if source_ratio is None:
            source_ratio = [1] * len(getattr(dataset, 'datasets', [1, 1]))
        super().__init__(
            dataset=dataset,
            batch_size=batch_size,
            source_ratio=list(source_ratio),
            shuffle=shuffle,
            seed=seed)
        # The parent builds infinite per-rank generators we do not use.
        del self.source2inds
        num_sources = len(self.num_per_source)
        if not 0 <= epoch_source < num_sources:
            raise ValueError(f'epoch_source={epoch_source} is out of range '
                             f'for {num_sources} sources')
        if min(self.num_per_source) <= 0:
            raise ValueError(
                f'batch_size={batch_size} with source_ratio={source_ratio} '
                f'gives {self.num_per_source} samples per source: every '
                'source needs at least one sample per batch')
        self.sizes = [len(ds) for ds in dataset.datasets]
        for i, size in enumerate(self.sizes):
            if size == 0:
                raise ValueError(
                    f'Source {i} of the dataset is empty '
                    f'({_describe(dataset.datasets[i])}): the balanced '
                    'sampler needs images in every source')
        self.epoch_source = epoch_source
        self.drop_last = drop_last
        self.epoch = 0
        self.iters_per_epoch = iters_per_epoch
        if iters_per_epoch is not None:
            if int(iters_per_epoch) < 1:
                raise ValueError(f'iters_per_epoch must be >= 1, got '
                                 f'{iters_per_epoch}')
            self.num_batches = int(iters_per_epoch)
            return
        n_epoch = self.num_per_source[epoch_source] * self.world_size
        size = self.sizes[epoch_source]
        if drop_last:
            self.num_batches = size // n_epoch
            if self.num_batches == 0:
                raise ValueError(
                    f'drop_last=True leaves no batch: source {epoch_source} '
                    f'has {size} samples, fewer than '
                    f'{n_epoch} per step over all ranks')
        else:
            self.num_batches = math.ceil(size / n_epoch)

    def _perm(self, size: int, key: int) -> List[int]:
        """A permutation of ``range(size)``; deterministic in (seed, key)."""
        if not self.shuffle:
            return list(range(size))
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + key) % (2**63))
        return torch.randperm(size, generator=g).tolist()

    def _epoch_indices(self) -> List[int]:
        """Local indices of the epoch source on this rank for this epoch."""
        size = self.sizes[self.epoch_source]
        n_per_rank = self.num_batches * self.num_per_source[self.epoch_source]
        total = n_per_rank * self.world_size
        perm = self._perm(size, key=2 * self.epoch)
        if total > size:  # complete the last batches, as DistributedSampler
            perm = (perm * math.ceil(total / size))[:total]
        else:
            perm = perm[:total]
        return perm[self.rank:total:self.world_size]

    def _cycled_indices(self, source: int) -> List[int]:
        """Local indices of a cycling source for this rank and epoch.

        The global stream is the concatenation of permutations
        ``P_0, P_1, ...`` of the source; rank ``r`` takes every
        ``world_size``-th element starting at ``r``; epoch ``e`` takes the
        next ``num_batches * num_per_source`` of those.
        """
        size = self.sizes[source]
        count = self.num_batches * self.num_per_source[source]
        out = []
        cache = {}
        for j in range(self.epoch * count, (self.epoch + 1) * count):
            pos = self.rank + j * self.world_size
            k, off = divmod(pos, size)
            if k not in cache:
                cache.clear()
                cache[k] = self._perm(size, key=2 * k + 1 + 2 * source)
            out.append(cache[k][off])
        return out

    def __iter__(self) -> Iterator[int]:
        per_source = []
        for source in range(len(self.sizes)):
            if source == self.epoch_source and self.iters_per_epoch is None:
                local = self._epoch_indices()
            else:
                local = self._cycled_indices(source)
            offset = self.cumulative_sizes[source]
            per_source.append([i + offset for i in local])
        for b in range(self.num_batches):
            for source, num in enumerate(self.num_per_source):
                yield from per_source[source][b * num:(b + 1) * num]

    def __len__(self) -> int:
        """Number of samples this rank yields in one epoch."""
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: reshuffles the epoch source and moves the cycling
        sources on to their next chunk.

        Args:
            epoch (int): Epoch number.
        """
        self.epoch = epoch


def _describe(dataset) -> str:
    ann = getattr(dataset, 'ann_file', None)
    return f'ann_file={ann!r}' if ann else type(dataset).__name__
