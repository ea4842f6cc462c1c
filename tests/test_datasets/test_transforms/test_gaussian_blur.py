# Copyright (c) mmsissi contributors. All rights reserved.
"""The RandomGaussianBlur augmentation
(mmsissi.datasets.transforms.gaussian_blur)."""
import cv2
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from transform_helpers import (AUG_BOXES, aug_results, image_laplacian_var,
                               noise_image)

import mmsissi.datasets.transforms.gaussian_blur as gaussian_blur_module
from mmsissi.datasets.transforms.gaussian_blur import RandomGaussianBlur


def _record_kernels(monkeypatch):
    kernels = []
    real = cv2.GaussianBlur

    def spy(img, ksize, sigma, *args, **kwargs):
        kernels.append(tuple(ksize))
        return real(img, ksize, sigma, *args, **kwargs)

    monkeypatch.setattr(gaussian_blur_module.cv2, 'GaussianBlur', spy)
    return kernels


def test_blur_prob_0_never_changes_thenoise_image(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(prob=0.0)
    img = noise_image()
    for _ in range(50):
        assert tr(aug_results(img))['img'] is img
    assert kernels == []


def test_blur_prob_1_blurs_with_odd_kernels_in_range(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(kernel_range=(3, 7), prob=1.0)
    img = noise_image()
    before = img.copy()
    sharp = image_laplacian_var(img)
    for _ in range(60):
        out = tr(aug_results(img))
        syn = out['img']
        assert syn.shape == img.shape and syn.dtype == img.dtype
        # really blurred: the fine texture is largely gone
        assert image_laplacian_var(syn) < 0.5 * sharp
        # exactly a Gaussian blur with the drawn kernel
        k = kernels[-1]
        assert np.array_equal(syn, cv2.GaussianBlur(img, k, 0))
        np.testing.assert_array_equal(out['gt_bboxes'], AUG_BOXES)
        assert out['img_shape'] == img.shape[:2]
    assert np.array_equal(img, before)
    assert len(kernels) == 60 + 60  # one drawn + one check per call
    drawn = kernels[::2]
    assert all(kx == ky and kx % 2 == 1 for kx, ky in drawn)
    assert {k[0] for k in drawn} == {3, 5, 7}


def test_blur_larger_kernel_blurs_more():
    img = noise_image(seed=3)
    lap = []
    for k in (3, 7, 15):
        np.random.seed(0)
        out = RandomGaussianBlur(kernel_range=(k, k), prob=1.0)(
            aug_results(img))['img']
        lap.append(image_laplacian_var(out))
    assert lap[0] > lap[1] > lap[2]


def test_blur_even_bounds_round_up_to_odd(monkeypatch):
    kernels = _record_kernels(monkeypatch)
    np.random.seed(0)
    tr = RandomGaussianBlur(kernel_range=(2, 4), prob=1.0)
    for _ in range(60):
        tr(aug_results(noise_image()))
    assert {k[0] for k in kernels} == {3, 5}


def test_blur_prob_half_grayscale_and_build():
    np.random.seed(1)
    tr = TRANSFORMS.build(
        dict(type='RandomGaussianBlur', kernel_range=(5, 5), prob=0.5))
    assert isinstance(tr, RandomGaussianBlur)
    assert tr.kernel_range == (5, 5) and 'prob=0.5' in repr(tr)
    img = noise_image()[..., 0].copy()  # grayscale
    outs = [tr(aug_results(img))['img'] for _ in range(200)]
    blurred = [o for o in outs if o is not img]
    assert 70 < len(blurred) < 130
    ref = cv2.GaussianBlur(img, (5, 5), 0)
    assert all(o.shape == img.shape and np.array_equal(o, ref)
               for o in blurred)
    # kernel 1 is no blur at all
    np.random.seed(0)
    assert RandomGaussianBlur((1, 1), prob=1.0)(aug_results(img))['img'] is img
    for bad in (dict(prob=-0.1), dict(kernel_range=(7, 3)),
                dict(kernel_range=(0, 3))):
        with pytest.raises(AssertionError):
            RandomGaussianBlur(**bad)
