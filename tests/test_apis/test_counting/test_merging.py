# Copyright (c) mmsissi contributors. All rights reserved.
"""Merging the detections of overlapping tiles
(mmsissi.apis.counting.merging): exact with an ideal detector."""
import numpy as np
import pytest
from counting_helpers import BIG, CELLS, FakeCounter, as_set

from mmsissi.apis import merge_tile_detections


@pytest.mark.parametrize('shrink', [0.0, 3.0])
def test_tiled_merge_is_exact(shrink):
    counter = FakeCounter(CELLS, shrink=shrink, tile_factor='auto')
    # auto: 512-px demo crops trained at 128 px -> 4 image px per net px
    assert counter.tile_factor == pytest.approx(4.0)
    assert counter.tile_size == 512
    img = np.zeros(BIG + (3, ), np.uint8)
    det = counter(img)
    (windows, tiled), = counter.calls
    assert tiled and len(windows) == 12
    assert det['windows'] is not None
    # every cell exactly once, in image coordinates, with its own score
    assert as_set(det['bboxes']) == as_set(CELLS)
    order = [int(np.flatnonzero((CELLS == b).all(1))[0])
             for b in det['bboxes']]
    np.testing.assert_allclose(det['scores'],
                               [0.9 - 0.05 * i for i in order], rtol=1e-6)
    assert (det['labels'] == 0).all()


def test_merge_drops_cut_box_held_whole_by_neighbour():
    """A spurious part cut by tile 0's border, whose region tile 1 sees
    whole without a cell there, is dropped (tile 1 has the full view)."""
    windows = np.array([[0, 0, 100, 100], [80, 0, 180, 100]])
    boxes = [np.array([[90, 10, 100, 30]]), np.zeros((0, 4))]
    scores = [np.array([0.9]), np.zeros(0)]
    labels = [np.zeros(1, int), np.zeros(0, int)]
    b, s, _ = merge_tile_detections(windows, boxes, scores, labels,
                                    (100, 180))
    assert len(b) == 0
    # ... but a cell of tile 0 touching only the image border stays
    boxes = [np.array([[10, 80, 40, 100]]), np.zeros((0, 4))]
    b, s, _ = merge_tile_detections(windows, boxes, scores, labels,
                                    (100, 180))
    assert b.tolist() == [[10, 80, 40, 100]]
    # different labels never merge
    boxes = [np.array([[85, 10, 95, 30]]), np.array([[5, 10, 15, 30]])]
    labels2 = [np.array([0]), np.array([1])]
    b, s, lab = merge_tile_detections(windows, boxes,
                                      [np.array([.9]), np.array([.8])],
                                      labels2, (100, 180))
    assert len(b) == 2 and sorted(lab.tolist()) == [0, 1]
