# Copyright (c) mmsissi contributors. All rights reserved.
"""The training augmentations RandomChannelShuffle and RandomGaussianBlur."""
import itertools

import cv2
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS

import mmsissi.datasets.transforms.gaussian_blur as gaussian_blur_module
from mmsissi.datasets.transforms.channel_shuffle import RandomChannelShuffle
from mmsissi.datasets.transforms.gaussian_blur import RandomGaussianBlur

BOXES = np.array([[3.5, 4.0, 20.0, 30.5], [10.0, 0.0, 40.0, 12.0]],
                 np.float32)


def _image(h=48, w=64, channels=3, seed=0):
    """Noise with a different mean per channel, so channels are told apart."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 120, (h, w, channels)).astype(np.uint8)
    return img + (40 * np.arange(channels)).astype(np.uint8)


def _results(img):
    return dict(img=img, gt_bboxes=BOXES.copy(), img_shape=img.shape[:2])


def _laplacian_var(img):
    return float(
        np.var(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F)))


# --------------------------------------------------------------------------
# RandomChannelShuffle
# --------------------------------------------------------------------------
def _channel_order(src, out):
    """For each output channel, the input channel it equals (exactly)."""
    order = []
    for c in range(out.shape[2]):
        same = [k for k in range(src.shape[2])
                if np.array_equal(out[..., c], src[..., k])]
        assert len(same) == 1, f'output channel {c} is no input channel'
        order.append(same[0])
    return tuple(order)


def test_channel_shuffle_prob_0_never_changes_the_image():
    np.random.seed(0)
    tr = RandomChannelShuffle(prob=0.0)
    img = _image()
    for _ in range(50):
        out = tr(_results(img))
        assert out['img'] is img


def test_channel_shuffle_permutes_channels_and_keeps_content():
    np.random.seed(0)
    tr = RandomChannelShuffle(prob=1.0)
    img = _image()
    before = img.copy()
    orders = []
    for _ in range(200):
        out = tr(_results(img))
        assert out['img'].shape == img.shape
        assert out['img'].dtype == img.dtype
        assert out['img'].flags['C_CONTIGUOUS']
        order = _channel_order(img, out['img'])
        assert sorted(order) == [0, 1, 2]  # a permutation: nothing lost
        orders.append(order)
        np.testing.assert_array_equal(out['gt_bboxes'], BOXES)
    assert np.array_equal(img, before)  # the input array is not modified
    # every permutation occurs, at about 1/6 each
    counts = {p: orders.count(p) for p in itertools.permutations(range(3))}
    assert all(15 < n < 55 for n in counts.values()), counts


def test_channel_shuffle_prob_half():
    np.random.seed(1)
    tr = RandomChannelShuffle(prob=0.5)
    img = _image()
    changed = sum(not np.array_equal(tr(_results(img))['img'], img)
                  for _ in range(300))
    # shuffled half the time, and 1 in 6 shuffles is the identity
    assert 0.3 < changed / 300 < 0.55


@pytest.mark.parametrize('shape', [(32, 40), (32, 40, 1)])
def test_channel_shuffle_leaves_grayscale_alone(shape):
    tr = RandomChannelShuffle(prob=1.0)
    img = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    assert tr(_results(img))['img'] is img


def test_channel_shuffle_four_channels_and_build():
    np.random.seed(2)
    tr = TRANSFORMS.build(dict(type='RandomChannelShuffle', prob=1.0))
    assert isinstance(tr, RandomChannelShuffle) and 'prob=1.0' in repr(tr)
    img = _image(channels=4)
    orders = {_channel_order(img, tr(_results(img))['img'])
              for _ in range(100)}
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert len(orders) > 10
    with pytest.raises(AssertionError):
        RandomChannelShuffle(prob=1.5)


# --------------------------------------------------------------------------
# RandomGaussianBlur
# --------------------------------------------------------------------------
def _record_kernels(monkeypatch):
    kernels = []
    real = cv2.GaussianBlur

    def spy(img, ksize, sigma, *args, **kwargs):
        kernels.append(tuple(ksize))
        return real(img, ksize, sigma, *args, **kwargs)

    monkeypatch.setattr(gaussian_blur_module.cv2, 'GaussianBlur', spy)
    return kernels


def test_blur_prob_0_never_changes_the_image(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(prob=0.0)
    img = _image()
    for _ in range(50):
        assert tr(_results(img))['img'] is img
    assert kernels == []


def test_blur_prob_1_blurs_with_odd_kernels_in_range(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(kernel_range=(3, 7), prob=1.0)
    img = _image()
    before = img.copy()
    sharp = _laplacian_var(img)
    for _ in range(60):
        out = tr(_results(img))
        syn = out['img']
        assert syn.shape == img.shape and syn.dtype == img.dtype
        # really blurred: the fine texture is largely gone
        assert _laplacian_var(syn) < 0.5 * sharp
        # exactly a Gaussian blur with the drawn kernel
        k = kernels[-1]
        assert np.array_equal(syn, cv2.GaussianBlur(img, k, 0))
        np.testing.assert_array_equal(out['gt_bboxes'], BOXES)
        assert out['img_shape'] == img.shape[:2]
    assert np.array_equal(img, before)
    assert len(kernels) == 60 + 60  # one drawn + one check per call
    drawn = kernels[::2]
    assert all(kx == ky and kx % 2 == 1 for kx, ky in drawn)
    assert {k[0] for k in drawn} == {3, 5, 7}


def test_blur_larger_kernel_blurs_more():
    img = _image(seed=3)
    lap = []
    for k in (3, 7, 15):
        np.random.seed(0)
        out = RandomGaussianBlur(kernel_range=(k, k), prob=1.0)(
            _results(img))['img']
        lap.append(_laplacian_var(out))
    assert lap[0] > lap[1] > lap[2]


def test_blur_even_bounds_round_up_to_odd(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(kernel_range=(2, 4), prob=1.0)
    for _ in range(60):
        tr(_results(_image()))
    assert {k[0] for k in kernels} == {3, 5}


def test_blur_prob_half_grayscale_and_build():
    np.random.seed(1)
    tr = TRANSFORMS.build(
        dict(type='RandomGaussianBlur', kernel_range=(5, 5), prob=0.5))
    assert isinstance(tr, RandomGaussianBlur)
    assert tr.kernel_range == (5, 5) and 'prob=0.5' in repr(tr)
    img = _image()[..., 0].copy()  # grayscale
    outs = [tr(_results(img))['img'] for _ in range(200)]
    blurred = [o for o in outs if o is not img]
    assert 70 < len(blurred) < 130
    ref = cv2.GaussianBlur(img, (5, 5), 0)
    assert all(o.shape == img.shape and np.array_equal(o, ref)
               for o in blurred)
    # kernel 1 is no blur at all
    np.random.seed(0)
    assert RandomGaussianBlur((1, 1), prob=1.0)(_results(img))['img'] is img
    for bad in (dict(prob=-0.1), dict(kernel_range=(7, 3)),
                dict(kernel_range=(0, 3))):
        with pytest.raises(AssertionError):
            RandomGaussianBlur(**bad)
