# Copyright (c) mmsissi contributors. All rights reserved.
"""The clone (mmsissi.datasets.transforms.seamless_clone): the fast DST
solve against one ``cv2.seamlessClone``, windows, alignment, masks."""
import cv2
import numpy as np
from transform_helpers import FLOOR_DENSE, make_cells, psnr, run

from mmsissi.datasets.transforms import SeamlessSynth
from mmsissi.datasets.transforms.seamless_clone import (
    boxes_to_mask, gaussian_blur, seamless_synth_fast,
    seamless_synth_reference)


def test_close_to_reference_dense_colour_and_border():
    img, boxes = make_cells(200, 260, n_cells=30, seed=3)
    rng = np.random.default_rng(1)
    img = img.copy()
    img[..., 1] = np.clip(img[..., 1] * 0.7 + 30, 0, 255)
    img[..., 2] = 255 - img[..., 2]
    boxes = np.vstack([boxes[:20], [[-5, -5, 40, 30], [230, 170, 270, 210],
                                    [0, 100, 15, 140]]])
    boxes += rng.uniform(-2, 2, boxes.shape)
    blurred = gaussian_blur(img, 65, 12)
    ref = seamless_synth_reference(img, boxes, blurred)
    ours = seamless_synth_fast(img, boxes, blurred)
    assert psnr(ours, ref) >= FLOOR_DENSE
    syn = run(SeamlessSynth(blur='strong', always=True), img.copy(),
              boxes)['img']
    assert psnr(syn, ref) >= FLOOR_DENSE
    # windows vs one full solve: both close to the reference
    # (measured: margin 0 66.1 dB, 16 56.0 dB, 48 66.1 dB)
    sparse = boxes[[0, 7, 19]]
    ref = seamless_synth_reference(img, sparse, blurred)
    for margin, floor in ((0, 62), (16, 52), (48, 62)):
        assert psnr(seamless_synth_fast(img, sparse, blurred,
                                        margin=margin), ref) >= floor


def test_pixel_alignment():
    """Neither implementation shifts the cloned cells."""
    rng = np.random.default_rng(0)
    img = np.full((120, 160, 3), 128, np.uint8)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (120, 160)).astype(np.uint8),
                           (3, 3), 0)
    img[...] = tex[..., None]
    # odd and even sizes, one box touching the image border
    boxes = np.array([[21, 17, 62, 60], [90, 40, 131, 99], [0, 0, 25, 20]],
                     float)
    blurred = gaussian_blur(img, 21, 0)
    for out in (seamless_synth_reference(img, boxes, blurred),
                seamless_synth_fast(img, boxes, blurred)):
        for x1, y1, x2, y2 in boxes.astype(int):
            x1, y1 = max(x1, 1) + 5, max(y1, 1) + 5
            x2, y2 = x2 - 5, y2 - 5
            a = out[y1:y2, x1:x2, 0].astype(float)
            a -= a.mean()
            scores = {}
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    b = img[y1 + dy:y2 + dy, x1 + dx:x2 + dx, 0].astype(float)
                    b -= b.mean()
                    scores[dy, dx] = (a * b).sum() / np.sqrt(
                        (a * a).sum() * (b * b).sum())
            assert max(scores, key=scores.get) == (0, 0)
            assert scores[0, 0] > 0.95


def test_boxes_to_mask():
    m = boxes_to_mask(np.array([[1.2, 2.7, 4.1, 5.0], [7, 7, 6, 9],
                                [-3, -3, 2, 2]]), (10, 12))
    assert m.dtype == np.uint8
    ys, xs = np.nonzero(m)
    # floor/ceil to whole pixels, outer ring cleared, inverted box dropped
    assert set(zip(ys.tolist(), xs.tolist())) == {
        (y, x) for y in range(2, 5) for x in range(1, 5)} | {(1, 1)}
    assert boxes_to_mask(np.zeros((0, 4)), (10, 12)).sum() == 0
    assert boxes_to_mask([[2, 2, 3, 9]], (10, 12), min_box_size=2).sum() == 0
