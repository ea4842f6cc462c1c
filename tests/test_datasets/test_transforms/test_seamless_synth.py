# Copyright (c) mmsissi contributors. All rights reserved.
"""The SeamlessSynth transform (mmsissi.datasets.transforms.seamless_synth):
what the synthetic image keeps and loses, blur settings, switching on and
off, inputs, a real image."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from transform_helpers import (FLOOR_CELLS, FLOOR_DENSE, FLOOR_REAL,
                               FLOOR_REAL_CROP, USIIGACI, box_region,
                               dense_colour, hard_paste, laplacian_var,
                               psnr, run)

from mmsissi.datasets.transforms.seamless_clone import (
    gaussian_blur, seamless_synth_fast, seamless_synth_reference)
from mmsissi.datasets.transforms.seamless_synth import (BLUR_PRESETS,
                                                        SeamlessSynth)


# --------------------------------------------------------------------------
# behaviour of the synthetic image
# --------------------------------------------------------------------------
def test_labelled_cells_kept_unlabelled_cells_blurred(cells):
    img, lab, unlab = cells
    out = run(SeamlessSynth(always=True), img.copy(),
              HorizontalBoxes(torch.tensor(lab, dtype=torch.float32)))
    syn = out['img']
    assert syn.shape == img.shape and syn.dtype == img.dtype
    # labelled cells (a few px inside their boxes) stay close to the original
    inner = box_region(img.shape, lab, shrink=4)
    diff = np.abs(syn.astype(int) - img.astype(int))[inner]
    blurred = gaussian_blur(img, 21, 0)
    assert diff.mean() < 7
    assert diff.mean() < 0.4 * np.abs(blurred.astype(int) - img)[inner].mean()
    assert psnr(syn[inner], img[inner]) > 28
    # structure stays: the cell's texture survives in the clone
    assert laplacian_var(syn, inner) > 0.7 * laplacian_var(img, inner)
    # unlabelled cells fade: their texture is gone, their contrast drops
    for x1, y1, x2, y2 in np.round(unlab).astype(int):
        cell = np.s_[y1:y2, x1:x2]
        assert laplacian_var(syn[cell]) < 0.05 * laplacian_var(img[cell])
        before = img[cell][..., 0].astype(float).std()
        assert syn[cell][..., 0].astype(float).std() < 0.8 * before
    # background outside the labelled boxes is blurred
    outside = ~box_region(img.shape, lab, shrink=-4)
    assert laplacian_var(syn, outside) < 0.1 * laplacian_var(img, outside)
    # all channels stay equal for a grey image loaded as BGR
    assert np.array_equal(syn[..., 0], syn[..., 2])
    # boxes are not touched
    assert np.allclose(out['gt_bboxes'].tensor.numpy(), lab, atol=1e-4)


def test_close_to_reference(cells):
    img, lab, _ = cells
    blurred = gaussian_blur(img, 21, 0)
    ref = seamless_synth_reference(img, lab, blurred)
    ours = seamless_synth_fast(img, lab, blurred)
    assert psnr(ours, ref) >= FLOOR_CELLS
    syn = run(SeamlessSynth(always=True), img.copy(), lab)['img']
    assert psnr(syn, ref) >= FLOOR_CELLS
    # the opencv method equals the reference pipeline
    tr = SeamlessSynth(always=True, method='opencv')
    assert np.array_equal(run(tr, img.copy(), lab)['img'], ref)


@pytest.mark.parametrize('case', ['cells', 'dense'])
def test_hard_paste_and_input_score_far_below_the_floor(cells, case):
    """The floors separate Poisson blending from no blending: a hard paste
    of the labelled boxes onto the blurred image, and the unmodified input,
    score 10+ dB below them, and the transform itself is above them."""
    if case == 'cells':
        img, boxes, _ = cells
        blur, floor = 'weak', FLOOR_CELLS
    else:
        (img, boxes), blur, floor = dense_colour(), 'strong', FLOOR_DENSE
    tr = SeamlessSynth(blur=blur, always=True)
    blurred = gaussian_blur(img, tr.ksize, tr.sigma)
    ref = seamless_synth_reference(img, boxes, blurred)
    assert psnr(run(tr, img.copy(), boxes)['img'], ref) >= floor
    assert psnr(hard_paste(img, boxes, blurred), ref) < floor - 10
    assert psnr(img, ref) < floor - 10
    assert psnr(blurred, ref) < floor - 10


def test_weak_vs_strong(cells):
    img, lab, unlab = cells
    weak = run(SeamlessSynth(blur='weak', always=True), img, lab)['img']
    strong = run(SeamlessSynth(blur='strong', always=True), img, lab)['img']
    assert BLUR_PRESETS['weak'] == (21, 0.0)
    outside = ~box_region(img.shape, lab, shrink=-4)
    # compare the large-scale structure left of the unlabelled cells
    big = [cv2.GaussianBlur(x[..., 0].astype(np.float32), (0, 0), 2)
           for x in (img, weak, strong)]
    var = [float(np.var(b[outside])) for b in big]
    assert var[2] < 0.5 * var[1] < 0.5 * var[0]
    for x1, y1, x2, y2 in np.round(unlab).astype(int):
        sw = weak[y1:y2, x1:x2, 0].astype(float).std()
        ss = strong[y1:y2, x1:x2, 0].astype(float).std()
        assert ss < 0.6 * sw
    # the tuple form is the same as the preset
    tup = run(SeamlessSynth(blur=(65, 12), always=True), img, lab)['img']
    assert np.array_equal(tup, strong)


# --------------------------------------------------------------------------
# switching on and off
# --------------------------------------------------------------------------
@pytest.mark.parametrize('extra', [{}, dict(sissi_synth=False),
                                   dict(sissi_synth=0)])
def test_noop_when_switched_off(cells, extra):
    img, lab, _ = cells
    img = img.copy()
    out = run(SeamlessSynth(), img, lab, **extra)
    assert out['img'] is img


def test_applies_when_sissi_synth_or_always(cells):
    img, lab, _ = cells
    img = img.copy()
    before = img.copy()
    out = run(SeamlessSynth(), img, lab, sissi_synth=True)
    assert out['img'] is not img and not np.array_equal(out['img'], img)
    assert np.array_equal(img, before)  # the input array is not modified
    out2 = run(SeamlessSynth(always=True), img, lab)
    assert np.array_equal(out2['img'], out['img'])
    out3 = run(SeamlessSynth(always=True), img, lab, sissi_synth=False)
    assert np.array_equal(out3['img'], out['img'])


@pytest.mark.parametrize('boxes', [
    np.zeros((0, 4), np.float32),
    HorizontalBoxes(torch.zeros((0, 4))),
    None,
    np.array([[50, 50, 40, 40], [10, 10, 10, 30], [np.nan, 0, 5, 5],
              [-30, -30, -10, -10], [400, 300, 500, 400]], float),
])
def test_noop_without_usable_boxes(cells, boxes):
    img, _, _ = cells
    img = img.copy()
    results = dict(img=img, sissi_synth=True)
    if boxes is not None:
        results['gt_bboxes'] = boxes
    out = SeamlessSynth()(results)
    assert out['img'] is img


def test_prob(cells):
    img, lab, _ = cells
    img = img.copy()
    tr = SeamlessSynth(prob=0.0, always=True)
    for _ in range(5):
        assert run(tr, img, lab)['img'] is img
    tr = SeamlessSynth(prob=0.5, always=True)
    np.random.seed(0)
    applied = [run(tr, img, lab)['img'] is not img for _ in range(40)]
    assert 5 < sum(applied) < 35


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


def test_box_formats_agree(cells):
    img, lab, _ = cells
    tr = SeamlessSynth(always=True)
    a = run(tr, img, lab)['img']
    b = run(tr, img, HorizontalBoxes(torch.tensor(lab)))['img']
    c = run(tr, img, torch.tensor(lab))['img']
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_grayscale_and_dtypes(cells):
    img, lab, _ = cells
    tr = SeamlessSynth(always=True)
    colour = run(tr, img, lab)['img']
    gray = run(tr, np.ascontiguousarray(img[..., 0]), lab)['img']
    assert gray.shape == img.shape[:2] and gray.dtype == np.uint8
    assert np.array_equal(gray, colour[..., 0])
    one = run(tr, np.ascontiguousarray(img[..., :1]), lab)['img']
    assert one.shape == img.shape[:2] + (1, )
    assert np.array_equal(one[..., 0], gray)
    # the opencv method also takes grey images
    ref_gray = run(SeamlessSynth(always=True, method='opencv'),
                   np.ascontiguousarray(img[..., 0]), lab)['img']
    assert ref_gray.shape == gray.shape
    assert psnr(ref_gray, gray) >= FLOOR_CELLS  # measured 62.4 dB
    for dtype, scale in ((np.uint16, 257.0), (np.float32, 1 / 255.0),
                         (np.float64, 1.0), (np.int32, 1.0)):
        x = (img.astype(np.float64) * scale).astype(dtype)
        y = run(tr, x, lab)['img']
        assert y.shape == x.shape and y.dtype == x.dtype
        assert np.isfinite(y.astype(np.float64)).all()
        back = y.astype(np.float64) / scale
        assert np.abs(back - colour).mean() < 1.5


def test_border_and_degenerate_boxes(cells):
    img, lab, _ = cells
    h, w = img.shape[:2]
    boxes = np.vstack([
        lab[:3],
        [[-20, -20, 40, 35],  # over the top-left corner
         [w - 30, h - 25, w + 50, h + 50],  # over the bottom-right corner
         [0, 60, 25, 120], [w - 1, 0, w, h],  # on the left / right edge
         [60, 60, 40, 40],  # inverted
         [100, 100, 100, 150],  # zero width
         [10, 200, 11, 201],  # tiny
         [np.inf, 0, 10, 10], [1e9, 1e9, 2e9, 2e9]]
    ])
    for method in ('fast', 'opencv'):
        out = run(SeamlessSynth(always=True, method=method), img.copy(),
                  boxes)
        assert out['img'].shape == img.shape
        assert out['img'].dtype == img.dtype
    fast = run(SeamlessSynth(always=True), img.copy(), boxes)['img']
    assert psnr(fast, out['img']) >= 63  # measured 67.2 dB
    # the corner cells are kept (inside, away from the image border)
    corner = np.s_[5:30, 5:35]
    assert np.abs(fast[corner].astype(int) - img[corner]).mean() < 8


def test_build_from_config_and_args():
    tr = TRANSFORMS.build(dict(type='SeamlessSynth', blur='strong'))
    assert isinstance(tr, SeamlessSynth)
    assert (tr.ksize, tr.sigma) == BLUR_PRESETS['strong'] == (65, 12.0)
    assert 'SeamlessSynth' in repr(tr)
    tr = TRANSFORMS.build(dict(type='SeamlessSynth', blur=(31, 5),
                               prob=0.5, always=True, method='opencv'))
    assert (tr.ksize, tr.sigma, tr.prob, tr.always) == (31, 5.0, 0.5, True)
    for bad in (dict(blur='medium'), dict(blur=(20, 3)), dict(blur=(0, 0)),
                dict(blur=(21, -1)), dict(blur=5), dict(prob=1.5),
                dict(method='poisson'), dict(margin=-1)):
        with pytest.raises(ValueError):
            SeamlessSynth(**bad)


@pytest.mark.skipif(not (USIIGACI / 'annotations_bbox.json').is_file(),
                    reason='usiigaci data not available')
def test_real_image():
    ann = json.loads((USIIGACI / 'annotations_bbox.json').read_text())
    image_id = next(i['id'] for i in ann['images']
                    if i['file_name'] == 'images/set01.png')
    boxes = np.array([a['bbox'] for a in ann['annotations']
                      if a['image_id'] == image_id], np.float32)
    boxes[:, 2:] += boxes[:, :2]
    img = cv2.imread(str(USIIGACI / 'images' / 'set01.png'))
    assert img is not None and len(boxes) > 10
    # keep two thirds of the cells as labels; the rest plays unlabelled
    lab, unlab = boxes[::3], np.vstack([boxes[1::3], boxes[2::3]])
    unlab = unlab[~box_region(img.shape, lab, shrink=-25)[
        ((unlab[:, 1] + unlab[:, 3]) / 2).astype(int),
        ((unlab[:, 0] + unlab[:, 2]) / 2).astype(int)]]
    results = dict(img=img, gt_bboxes=HorizontalBoxes(torch.tensor(lab)),
                   sissi_synth=True)
    syn = TRANSFORMS.build(dict(type='SeamlessSynth'))(results)['img']
    assert syn.shape == img.shape and syn.dtype == np.uint8
    inner = box_region(img.shape, lab, shrink=4)
    diff = np.abs(syn.astype(int) - img.astype(int))[inner].mean()
    blurred = gaussian_blur(img, 21, 0)
    assert diff < 6
    assert diff < 0.5 * np.abs(blurred.astype(int) - img)[inner].mean()
    outside = ~box_region(img.shape, lab, shrink=-4)
    assert laplacian_var(syn, outside) < 0.2 * laplacian_var(img, outside)
    drops = []
    for x1, y1, x2, y2 in np.round(unlab).astype(int):
        drops.append(syn[y1:y2, x1:x2, 0].std() / img[y1:y2, x1:x2, 0].std())
    assert np.median(drops) < 0.8
    # close to the one-seamlessClone reference, on the whole image
    ref = seamless_synth_reference(img, lab, blurred)
    assert psnr(syn, ref) >= FLOOR_REAL
    assert psnr(hard_paste(img, lab, blurred), ref) < FLOOR_REAL - 10
    assert psnr(img, ref) < FLOOR_REAL - 10
    # and on a crop
    crop = np.s_[:512, :512]
    sub = lab[(lab[:, 0] < 512) & (lab[:, 1] < 512)]
    blurred = gaussian_blur(img[crop], 21, 0)
    ref = seamless_synth_reference(img[crop], sub, blurred)
    assert psnr(seamless_synth_fast(img[crop], sub, blurred),
                ref) >= FLOOR_REAL_CROP
