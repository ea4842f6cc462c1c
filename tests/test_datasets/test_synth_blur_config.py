# Copyright (c) mmsissi contributors. All rights reserved.
"""The blur of a Table 1 row is configured in one place (the row's
PseudoLabelHook) and is the one applied; the presets are the authors'."""
import cv2
import numpy as np
import pytest

from mmsissi.datasets.transforms import SeamlessSynth
from mmsissi.datasets.transforms.seamless_synth import BLUR_PRESETS
from mmsissi.engine.hooks import PseudoLabelHook


def _image():
    rng = np.random.default_rng(0)
    img = np.full((160, 200, 3), 90, np.uint8)
    boxes = []
    for k in range(12):
        x, y = rng.integers(10, 170), rng.integers(10, 130)
        cv2.circle(img, (int(x), int(y)), 8, (200, 200, 200), -1)
        if k % 2 == 0:  # half the cells labelled
            boxes.append([x - 10, y - 10, x + 10, y + 10])
    noise = rng.normal(0, 6, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return img, np.array(boxes, np.float32)


def _run(t, img, boxes, **extra):
    return t(dict(img=img.copy(), gt_bboxes=boxes, **extra))['img']


def test_presets():
    assert BLUR_PRESETS['weak'] == (21, 0.0)
    assert BLUR_PRESETS['strong'] == (65, 12.0)
    assert BLUR_PRESETS['reference'] == (71, 30.0)  # the authors' code
    assert SeamlessSynth.parse_blur('reference') == (71, 30.0)


@pytest.mark.parametrize('blur', ['weak', 'strong', 'reference'])
def test_the_store_names_the_blur(blur):
    img, boxes = _image()
    pipeline = SeamlessSynth()  # as in the configs: no blur of its own
    got = _run(pipeline, img, boxes, sissi_synth=blur)
    want = _run(SeamlessSynth(blur=blur, always=True), img, boxes)
    np.testing.assert_array_equal(got, want)
    others = {b for b in BLUR_PRESETS if b != blur}
    for other in others:  # a different blur gives a different image
        assert not np.array_equal(
            got, _run(SeamlessSynth(blur=other, always=True), img, boxes))


def test_two_places_must_agree():
    img, boxes = _image()
    with pytest.raises(ValueError, match='one place'):
        _run(SeamlessSynth(blur='weak'), img, boxes, sissi_synth='strong')
    # the same blur named twice is fine
    _run(SeamlessSynth(blur='strong'), img, boxes, sissi_synth='strong')
    _run(SeamlessSynth(blur=(65, 12)), img, boxes, sissi_synth='strong')


def test_hook_names_a_valid_blur():
    with pytest.raises(ValueError, match='names no blur'):
        PseudoLabelHook(dataloader=None, synthesize=True)
    with pytest.raises(ValueError, match='unknown blur'):
        PseudoLabelHook(dataloader=None, synthesize='strnog')
    assert PseudoLabelHook(dataloader=None,
                           synthesize='reference').synthesize == 'reference'
    assert PseudoLabelHook(dataloader=None).synthesize is False


def test_auto_blur_scales_the_strong_blur_to_the_cells():
    from mmsissi.datasets.transforms.seamless_synth import auto_blur

    def square(side, n=5):
        return np.array([[i * 80, 0, i * 80 + side, side] for i in range(n)],
                        np.float32)
    # the paper's fibroblasts (median box side 64 px): exactly 'strong'
    assert auto_blur(square(64)) == BLUR_PRESETS['strong']
    # DSB-sized nuclei (21 px): about the 'weak' kernel
    assert auto_blur(square(21)) == (23, 3.938)
    mixed = np.concatenate([square(10, 2), square(40, 3)])
    assert auto_blur(mixed)[1] == pytest.approx(40 * 12 / 64, abs=1e-3)
    img, boxes = _image()  # 20 px boxes
    got = _run(SeamlessSynth(), img, boxes, sissi_synth='auto')
    want = _run(SeamlessSynth(blur=auto_blur(boxes), always=True), img,
                boxes)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, _run(SeamlessSynth(blur='strong',
                                                      always=True),
                                        img, boxes))
    PseudoLabelHook(dataloader={}, synthesize='auto')  # accepted
    with pytest.raises(ValueError, match="'auto'"):
        SeamlessSynth.parse_blur('automatic')
