# Copyright (c) mmsissi contributors. All rights reserved.
import os
import socket
from collections import Counter
from unittest import mock

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.dataset import BaseDataset, ConcatDataset

from mmsissi.datasets.samplers import BalancedMultiSourceSampler

MOD = 'mmdet.datasets.samplers.multi_source_sampler.get_dist_info'


class _Toy(BaseDataset):
    METAINFO = dict(classes=('cell', ))

    def __init__(self, n, name):
        self.n, self.name = n, name
        super().__init__(ann_file='', serialize_data=False)

    def load_data_list(self):
        return [dict(src=self.name, i=i) for i in range(self.n)]


def _concat(n_target=45, n_source=100):
    return ConcatDataset([_Toy(n_target, 't'), _Toy(n_source, 's')])


def _batches(sampler, batch_size):
    idx = list(sampler)
    assert len(idx) == len(sampler)
    return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]


def test_every_batch_balanced_and_epoch_is_one_target_pass():
    ds = _concat(45, 100)
    s = BalancedMultiSourceSampler(ds, batch_size=8, source_ratio=[1, 1],
                                   seed=3)
    assert s.num_per_source == [4, 4]
    batches = _batches(s, 8)
    assert len(batches) == 12  # ceil(45 / 4)
    target_seen = []
    for b in batches:
        assert len(b) == 8
        assert sum(i < 45 for i in b) == 4
        assert sum(i >= 45 for i in b) == 4
        target_seen += [i for i in b if i < 45]
    # every target image is seen, the 3 extra fill the last batch
    assert set(target_seen) == set(range(45))
    assert len(target_seen) == 48


def test_source_cycles_and_continues_across_epochs():
    ds = _concat(8, 10)  # 2 batches/epoch, 8 source draws per epoch
    s = BalancedMultiSourceSampler(ds, batch_size=8, seed=0)
    seen = []
    for epoch in range(5):
        s.set_epoch(epoch)
        seen += [i - 8 for i in s if i >= 8]
    # 40 draws over a source of 10 = exactly 4 full permutations
    assert Counter(seen) == {i: 4 for i in range(10)}
    for k in range(4):
        assert sorted(seen[10 * k:10 * (k + 1)]) == list(range(10))


def test_deterministic_and_set_epoch_reshuffles():
    ds = _concat()
    a = BalancedMultiSourceSampler(ds, 8, seed=7)
    b = BalancedMultiSourceSampler(ds, 8, seed=7)
    assert list(a) == list(b)
    e0 = list(a)
    a.set_epoch(1)
    e1 = list(a)
    assert e0 != e1
    assert sorted(set(i for i in e0 if i < 45)) == sorted(
        set(i for i in e1 if i < 45))
    b.set_epoch(1)  # resuming at epoch 1 gives the same batches
    assert list(b) == e1


def test_ratio_and_errors():
    ds = _concat(30, 30)
    s = BalancedMultiSourceSampler(ds, 6, source_ratio=[1, 2], seed=0)
    assert s.num_per_source == [2, 4]
    for b in _batches(s, 6):
        assert sum(i < 30 for i in b) == 2
    with pytest.raises(ValueError, match='empty'):
        BalancedMultiSourceSampler(_concat(0, 5), 8, seed=0)
    with pytest.raises(ValueError, match='at least one'):
        BalancedMultiSourceSampler(ds, 1, seed=0)
    d = BalancedMultiSourceSampler(_concat(10, 5), 8, seed=0, drop_last=True)
    assert len(d) == 16  # 2 full batches, 2 target images dropped


@pytest.mark.parametrize('world', [2, 3])
def test_ddp_split_patched(world):
    ds = _concat(45, 100)
    per_rank = []
    for rank in range(world):
        with mock.patch(MOD, return_value=(rank, world)):
            s = BalancedMultiSourceSampler(ds, 8, seed=11)
        s.set_epoch(2)
        per_rank.append(_batches(s, 8))
    n = {len(b) for b in per_rank}
    assert len(n) == 1  # same number of batches on every rank
    targets = [[i for b in r for i in b if i < 45] for r in per_rank]
    flat = [i for t in targets for i in t]
    assert set(flat) == set(range(45))
    # without overlap, but for the padding that completes the last batches
    assert len(flat) - len(set(flat)) == len(flat) - 45
    for r in per_rank:
        for b in r:
            assert sum(i < 45 for i in b) == 4 and len(b) == 8


def _ddp_streams(n_target, n_source, world, epochs, seed=11):
    """Per epoch, per rank: the (target, source) local indices each rank's
    sampler yields under a patched DDP rank / world size."""
    samplers = []
    for rank in range(world):
        with mock.patch(MOD, return_value=(rank, world)):
            samplers.append(
                BalancedMultiSourceSampler(
                    _concat(n_target, n_source), 8, seed=seed))
    assert [(s.rank, s.world_size) for s in samplers] == [
        (r, world) for r in range(world)]
    out = []
    for epoch in range(epochs):
        ranks = []
        for s in samplers:
            s.set_epoch(epoch)
            idx = list(s)
            ranks.append(([i for i in idx if i < n_target],
                          [i - n_target for i in idx if i >= n_target]))
        out.append(ranks)
    return out


@pytest.mark.parametrize('world', [2, 3, 4])
def test_ddp_source_indices_disjoint_across_ranks(world):
    """Within an epoch no two ranks train on the same source image (the
    source, 96 images, holds exactly two epochs' worth of draws over all
    ranks: 48 per epoch for 45 target images and 4 + 4 per batch), and the
    ranks together walk through whole permutations of the source."""
    streams = _ddp_streams(45, 96, world, epochs=4)
    for epoch, ranks in enumerate(streams):
        sources = [src for _, src in ranks]
        assert len({len(s) for s in sources}) == 1
        flat = [i for s in sources for i in s]
        assert len(flat) == 48
        assert len(set(flat)) == len(flat), (
            f'epoch {epoch}: ranks share source images')
        for a in range(world):
            for b in range(a + 1, world):
                assert not set(sources[a]) & set(sources[b])
        # the targets too (the padding of the last batches aside)
        targets = [i for t, _ in ranks for i in t]
        assert set(targets) == set(range(45))
        assert len(targets) - len(set(targets)) == len(targets) - 45
    # two consecutive epochs over all ranks = one whole source permutation
    for e in (0, 2):
        both = [i for ranks in streams[e:e + 2] for _, src in ranks
                for i in src]
        assert sorted(both) == list(range(96))


@pytest.mark.parametrize('world', [2, 3])
def test_ddp_source_stream_interleaves_ranks(world):
    """Rank r's j-th source draw is element ``r + j * world_size`` of one
    global stream of back-to-back permutations of the source, continued
    across epochs: every source image once per cycle, over all ranks."""
    n_source = 100
    streams = _ddp_streams(45, n_source, world, epochs=5)
    stream = []
    for ranks in streams:
        per_rank = [src for _, src in ranks]
        for j in range(len(per_rank[0])):
            stream += [per_rank[r][j] for r in range(world)]
    assert len(stream) == 5 * 48
    for k in range(len(stream) // n_source):
        assert sorted(stream[k * n_source:(k + 1) * n_source]) == list(
            range(n_source))
    tail = stream[(len(stream) // n_source) * n_source:]
    assert len(set(tail)) == len(tail)
    # and it is the stream a single process would draw, in the same order
    single = _ddp_streams(45, n_source, 1, epochs=1)[0][0][1]
    assert stream[:len(single)] == single


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        s = BalancedMultiSourceSampler(_concat(45, 100), 8)  # seed synced
        s.set_epoch(1)
        idx = torch.tensor(list(s))
        gathered = [torch.zeros_like(idx) for _ in range(world)]
        dist.all_gather(gathered, idx)
        if rank == 0:
            out.put([g.tolist() for g in gathered])
    finally:
        dist.destroy_process_group()


def test_ddp_split_real_gloo():
    ctx = mp.get_context('spawn')
    out = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(target=_worker, args=(r, 2, port, out)) for r in range(2)
    ]
    for p in procs:
        p.start()
    result = out.get(timeout=120)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    r0, r1 = result
    assert len(r0) == len(r1) == 6 * 8  # ceil(45 / 8) batches of 8
    t0 = [i for i in r0 if i < 45]
    t1 = [i for i in r1 if i < 45]
    assert set(t0) | set(t1) == set(range(45))
    assert len(set(t0) & set(t1)) <= 3  # only the padding may repeat
    for r in (r0, r1):
        for k in range(0, len(r), 8):
            assert sum(i < 45 for i in r[k:k + 8]) == 4
