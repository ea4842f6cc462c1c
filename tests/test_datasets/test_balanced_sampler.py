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
