# Copyright (c) mmsissi contributors. All rights reserved.
"""TightRandomAffine: boxes that stay tight on cells under rotation.

The measure is the one of the issue: the label box after the transform
against the tight box of the warped instance mask, as log(w) and log(h)
ratios over many cells."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import RandomAffine
from mmdet.structures.bbox import HorizontalBoxes
from transform_helpers import _shared_data

from mmsissi.datasets.transforms import TightRandomAffine
from mmsissi.datasets.transforms.tight_affine import ellipse_boxes

DSB = _shared_data() / 'dsb2018_stage1_train_fluo'
ARGS = dict(max_rotate_degree=15.0, max_translate_ratio=0.0625,
            scaling_ratio_range=(0.9, 1.1), max_shear_degree=0.0,
            border_val=(0, 0, 0))


def _tight(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _ellipse_masks(n=150, size=96, seed=0):
    """Masks of ellipses of random size, elongation and orientation."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        m = np.zeros((size, size), np.uint8)
        axes = (int(rng.uniform(6, 18)), int(rng.uniform(5, 12)))
        cv2.ellipse(m, (size // 2, size // 2), axes, rng.uniform(0, 180), 0,
                    360, 1, -1)
        yield m


def _dsb_masks(n_images=12):
    import glob
    for path in sorted(glob.glob(str(DSB / 'instances' / '*.png'))):
        lab = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if max(lab.shape) > 256:
            continue
        for k in range(1, int(lab.max()) + 1):
            m = (lab == k).astype(np.uint8)
            if 6 <= m.sum() and m.any(0).sum() >= 4 and m.any(1).sum() >= 4:
                yield m
        n_images -= 1
        if n_images == 0:
            return


def _log_ratios(transform, masks, seed=0):
    """log(w, h) of the transformed label box over the warped mask's tight
    box, for every cell that stays inside the image."""
    np.random.seed(seed)
    out = []
    for m in masks:
        res = dict(img=m * 255, img_shape=m.shape,
                   gt_bboxes=HorizontalBoxes(torch.tensor(
                       [_tight(m)], dtype=torch.float32)),
                   gt_bboxes_labels=np.zeros(1, np.int64),
                   gt_ignore_flags=np.zeros(1, bool))
        res = transform.transform(res)
        warped = res['img'] >= 128
        if not warped.any() or len(res['gt_bboxes']) != 1 or warped[
                [0, -1]].any() or warped[:, [0, -1]].any():
            continue  # left the image or touches its border
        x1, y1, x2, y2 = res['gt_bboxes'].numpy()[0]
        t = _tight(warped)
        out.append([np.log((x2 - x1) / (t[2] - t[0])),
                    np.log((y2 - y1) / (t[3] - t[1]))])
    return np.array(out)


def test_ellipse_boxes_are_exact_for_ellipses():
    rng = np.random.default_rng(1)
    for _ in range(20):
        t = np.radians(rng.uniform(-30, 30))
        s = rng.uniform(0.8, 1.2)
        m = np.array([[s * np.cos(t), -s * np.sin(t), rng.uniform(-5, 5)],
                      [s * np.sin(t), s * np.cos(t), rng.uniform(-5, 5)],
                      [0, 0, 1]])
        a, b = rng.uniform(5, 20, 2)
        box = np.array([[50 - a, 40 - b, 50 + a, 40 + b]])
        # sample the ellipse's outline, map it, take its box
        p = np.linspace(0, 2 * np.pi, 20000)
        pts = np.stack([50 + a * np.cos(p), 40 + b * np.sin(p),
                        np.ones_like(p)])
        q = m @ pts
        want = [q[0].min(), q[1].min(), q[0].max(), q[1].max()]
        np.testing.assert_allclose(ellipse_boxes(box, m)[0], want, atol=1e-3)
    eye = np.eye(3)
    box = np.array([[1., 2., 11., 7.]])
    np.testing.assert_allclose(ellipse_boxes(box, eye), box)


@pytest.mark.parametrize('source', ['ellipses', 'dsb'])
def test_boxes_stay_tight_under_rotation(source):
    if source == 'dsb' and not (DSB / 'instances').is_dir():
        pytest.skip(f'shared data not found at {DSB}')
    masks = list(_ellipse_masks() if source == 'ellipses' else _dsb_masks())
    corners = _log_ratios(RandomAffine(**ARGS), masks)
    tight = _log_ratios(TightRandomAffine(**ARGS), masks)
    assert len(tight) > 100 and len(corners) == len(tight)
    # mmdet's corner rule inflates the boxes (measured: log w / h +0.11
    # on the ellipses, +0.09 / +0.10 on 246 DSB nuclei) ...
    assert (corners.mean(0) > 0.07).all()
    # ... the ellipse rule is exact on ellipses (-0.005 / -0.013 here:
    # pixel rounding) and slightly small on real nuclei, which are boxier
    # than ellipses (-0.017 / -0.027): a quarter of the bias, not growing
    bound = 0.02 if source == 'ellipses' else 0.035
    assert (np.abs(tight.mean(0)) < bound).all()
    assert (np.abs(tight.mean(0)) < corners.mean(0) / 3).all()


def test_same_warp_and_the_corner_rule_is_mmdets():
    img = np.random.default_rng(0).integers(0, 255, (64, 80, 3), np.uint8)

    def run(t, seed=3):
        np.random.seed(seed)
        res = dict(img=img.copy(), img_shape=img.shape[:2],
                   gt_bboxes=HorizontalBoxes(torch.tensor(
                       [[10., 10., 30., 20.], [-50., -50., -40., -40.]])),
                   gt_bboxes_labels=np.array([0, 0]),
                   gt_ignore_flags=np.array([False, True]))
        return t.transform(res)
    ref = run(RandomAffine(**ARGS))
    ours = run(TightRandomAffine(**ARGS))
    corner = run(TightRandomAffine(box_rule='corners', **ARGS))
    np.testing.assert_array_equal(ours['img'], ref['img'])  # same draw
    assert len(ours['gt_bboxes']) == 1 == len(ref['gt_bboxes'])  # outside
    assert ours['gt_ignore_flags'].tolist() == [False]
    torch.testing.assert_close(corner['gt_bboxes'].tensor,
                               ref['gt_bboxes'].tensor)
    o, r = ours['gt_bboxes'].numpy()[0], ref['gt_bboxes'].numpy()[0]
    assert o[0] >= r[0] and o[1] >= r[1] and o[2] <= r[2] and o[3] <= r[3]
    with pytest.raises(ValueError, match='box_rule'):
        TightRandomAffine(box_rule='mask')
    assert "box_rule='ellipse'" in repr(TightRandomAffine())
