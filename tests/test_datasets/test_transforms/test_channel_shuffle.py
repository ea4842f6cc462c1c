# Copyright (c) mmsissi contributors. All rights reserved.
"""The RandomChannelShuffle augmentation
(mmsissi.datasets.transforms.channel_shuffle)."""
import itertools

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from transform_helpers import AUG_BOXES, aug_results, noise_image

from mmsissi.datasets.transforms.channel_shuffle import RandomChannelShuffle


def _channel_order(src, out):
    """For each output channel, the input channel it equals (exactly)."""
    order = []
    for c in range(out.shape[2]):
        same = [k for k in range(src.shape[2])
                if np.array_equal(out[..., c], src[..., k])]
        assert len(same) == 1, f'output channel {c} is no input channel'
        order.append(same[0])
    return tuple(order)


def test_channel_shuffle_prob_0_never_changes_thenoise_image():
    np.random.seed(0)
    tr = RandomChannelShuffle(prob=0.0)
    img = noise_image()
    for _ in range(50):
        out = tr(aug_results(img))
        assert out['img'] is img


def test_channel_shuffle_permutes_channels_and_keeps_content():
    np.random.seed(0)
    tr = RandomChannelShuffle(prob=1.0)
    img = noise_image()
    before = img.copy()
    orders = []
    for _ in range(200):
        out = tr(aug_results(img))
        assert out['img'].shape == img.shape
        assert out['img'].dtype == img.dtype
        assert out['img'].flags['C_CONTIGUOUS']
        order = _channel_order(img, out['img'])
        assert sorted(order) == [0, 1, 2]  # a permutation: nothing lost
        orders.append(order)
        np.testing.assert_array_equal(out['gt_bboxes'], AUG_BOXES)
    assert np.array_equal(img, before)  # the input array is not modified
    # every permutation occurs, at about 1/6 each
    counts = {p: orders.count(p) for p in itertools.permutations(range(3))}
    assert all(15 < n < 55 for n in counts.values()), counts


def test_channel_shuffle_prob_half():
    np.random.seed(1)
    tr = RandomChannelShuffle(prob=0.5)
    img = noise_image()
    changed = sum(not np.array_equal(tr(aug_results(img))['img'], img)
                  for _ in range(300))
    # shuffled half the time, and 1 in 6 shuffles is the identity
    assert 0.3 < changed / 300 < 0.55


@pytest.mark.parametrize('shape', [(32, 40), (32, 40, 1)])
def test_channel_shuffle_leaves_grayscale_alone(shape):
    tr = RandomChannelShuffle(prob=1.0)
    img = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    assert tr(aug_results(img))['img'] is img


def test_channel_shuffle_four_channels_and_build():
    np.random.seed(2)
    tr = TRANSFORMS.build(dict(type='RandomChannelShuffle', prob=1.0))
    assert isinstance(tr, RandomChannelShuffle) and 'prob=1.0' in repr(tr)
    img = noise_image(channels=4)
    orders = {_channel_order(img, tr(aug_results(img))['img'])
              for _ in range(100)}
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert len(orders) > 10
    with pytest.raises(AssertionError):
        RandomChannelShuffle(prob=1.5)
