# Copyright (c) mmsissi contributors. All rights reserved.
"""PseudoLabelHook(ignore_band=...): uncertain new boxes become ignore
regions (iscrowd), stored, served and packed as mmdet's ignored
instances; assigners must use them."""
import json

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import tests.helpers.recorder  # noqa: F401  registers LabelRecorderHook
from mmsissi.datasets import LabelStore
from mmsissi.engine.hooks import PseudoLabelHook
from mmsissi.engine.hooks.label_update import split_new
from mmsissi.engine.hooks.utils import check_ignore_used
from mmsissi.structures import box_iou
from tests.helpers.tiny import tiny_cfg


def test_split_band_leaves_the_fixed_boxes_alone():
    boxes = {1: np.arange(16, dtype=np.float32).reshape(4, 4),
             2: np.zeros((0, 4), np.float32)}
    scores = {1: np.array([0.1, 0.2, 0.5, 0.9], np.float32),
              2: np.zeros(0, np.float32)}
    ignore, ign_s, text = split_new(boxes, scores, {1: 1}, (0.3, 0.6))
    # box 0 is fixed (an initial label) although it scores 0.1
    np.testing.assert_array_equal(boxes[1], np.arange(16).reshape(4, 4)[
        [0, 3]])
    np.testing.assert_allclose(scores[1], [0.1, 0.9])
    np.testing.assert_array_equal(ignore[1], np.arange(16).reshape(4, 4)[
        [2]])
    np.testing.assert_allclose(ign_s[1], [0.5])
    assert len(ignore[2]) == 0
    assert text == '1 ignore regions (score 0.3-0.6: 1; 1 below)'


def test_split_new_by_the_views_agreement():
    boxes = {1: np.arange(12, dtype=np.float32).reshape(3, 4)}
    scores = {1: np.array([0.9, 0.9, 0.2], np.float32)}
    spreads = {1: np.array([0.01, 0.3, 0.01])}
    ignore, _, text = split_new(boxes, scores, {}, None, spreads, 0.1)
    np.testing.assert_array_equal(boxes[1], np.arange(12).reshape(3, 4)[
        [0, 2]])  # no band: any score stays, if the views agree
    np.testing.assert_array_equal(ignore[1], np.arange(12).reshape(3, 4)[
        [1]])
    assert 'spread > 0.1: 1' in text
    boxes = {1: np.arange(12, dtype=np.float32).reshape(3, 4)}
    scores = {1: np.array([0.9, 0.9, 0.2], np.float32)}
    ignore, _, _ = split_new(boxes, scores, {}, (0.1, 0.5), spreads, 0.1)
    assert len(boxes[1]) == 1 and len(ignore[1]) == 2


def test_the_assigners_must_use_ignore_regions():
    cfg = Config.fromfile('configs/sissi/baseline.py')
    with pytest.raises(ValueError, match=r'model\.train_cfg\.rpn\.assigner'
                       r'\.ignore_iof_thr.*model\.train_cfg\.rcnn\.assigner'):
        check_ignore_used(cfg.model)
    cfg.model.train_cfg.rpn.assigner.ignore_iof_thr = 0.5
    cfg.model.train_cfg.rcnn.assigner.ignore_iof_thr = 0.5
    check_ignore_used(cfg.model)
    with pytest.raises(ValueError, match='an assigner with'):
        check_ignore_used(dict(train_cfg=dict()))
    with pytest.raises(ValueError, match='ignore_band'):
        PseudoLabelHook(dataloader={}, ignore_band=(0.6, 0.3))


def test_store_serves_ignore_regions_apart(tmp_path):
    store = LabelStore(str(tmp_path))
    images = [dict(id=1, file_name='a.png', height=50, width=50)]
    store.write(1, images, {1: np.array([[0, 0, 10, 10]])},
                ignore={1: np.array([[20, 20, 30, 30], [5, 5, 5.5, 9]])},
                ignore_scores={1: np.array([0.4, 0.5])})
    coco = json.load(open(tmp_path / 'epoch_1.json'))
    assert [a['iscrowd'] for a in coco['annotations']] == [0, 1]
    assert coco['annotations'][1]['score'] == 0.4
    assert json.load(open(tmp_path / 'index.json'))['dropped'] == 1
    reader = LabelStore(str(tmp_path))
    reader.refresh()
    np.testing.assert_array_equal(reader.boxes(1), [[0, 0, 10, 10]])
    np.testing.assert_array_equal(reader.ignore_boxes(1), [[20, 20, 30, 30]])
    assert len(reader.ignore_boxes(7)) == 0


def _by_image(coco, crowd):
    out = {i['id']: [] for i in coco['images']}
    for a in coco['annotations']:
        if bool(a.get('iscrowd', 0)) == crowd:
            x, y, w, h = a['bbox']
            out[a['image_id']].append([x, y, x + w, y + h])
    return {k: np.array(v, np.float64).reshape(-1, 4) for k, v in out.items()}


@pytest.mark.slow
def test_ignore_regions_reach_the_model(tmp_path, demo_data):
    """'merge' + a band over every added box: from epoch 3 the model gets
    the initial boxes as labels and the unmatched fused boxes as ignored
    instances, through the real pipeline, assigners using them; synthesis
    with the 'auto' blur runs on those images."""
    initial = demo_data / 'target' / 'train_manual.json'
    cfg = tiny_cfg(tmp_path, initial, epochs=3, deterministic_pipeline=True,
                   hooks=[
                       dict(type='PseudoLabelHook', start_epoch=2,
                            update='merge', merge_cfg=dict(add_score=0.0),
                            ignore_band=(0.0, 1.0), synthesize='auto',
                            views=((1.0, ), ('none', 'vertical')),
                            tta_cfg=dict(score_thr=0.0, skip_box_thr=0.0,
                                         nms_iou_thr=None, max_per_img=50)),
                       dict(type='LabelRecorderHook')])
    cfg.model.train_cfg.rpn.assigner.ignore_iof_thr = 0.5
    cfg.model.train_cfg.rcnn.assigner.ignore_iof_thr = 0.5
    Runner.from_cfg(cfg).train()
    got = json.load(open(tmp_path / 'labels' / 'epoch_3.json'))
    labels, ignore = _by_image(got, False), _by_image(got, True)
    weak = _by_image(json.load(open(initial)), False)
    assert sum(len(v) for v in ignore.values()) > 0
    for k, ini in weak.items():
        np.testing.assert_allclose(labels[k], ini, atol=0.01)
        if len(ini) and len(ignore[k]):
            assert (box_iou(ignore[k], ini) < 0.4).all()
    seen = json.load(open(tmp_path / 'seen_rank0.json'))
    n_ign = 0
    for img_id, rec in seen['3'].items():
        assert len(rec['boxes']) <= len(labels[int(img_id)])
        assert len(rec['ignore']) <= len(ignore[int(img_id)])
        n_ign += len(rec['ignore'])
    assert n_ign > 0  # ignored instances reached the model
    assert {r['synth'] for r in seen['3'].values()} == {'auto'}
    changed = [seen['3'][k]['md5'] != seen['2'][k]['md5'] for k in seen['3']]
    assert sum(changed) >= 6  # synthetic images (deterministic pipeline)
    assert all(len(r['ignore']) == 0 for r in seen['2'].values())


@pytest.mark.slow
def test_views_that_disagree_make_ignore_regions(tmp_path, demo_data):
    """'replace' with max_spread: the TTA model reports each fused box's
    spread, boxes the views disagree on become ignore regions."""
    initial = demo_data / 'target' / 'train_manual.json'
    cfg = tiny_cfg(tmp_path, initial, epochs=3, hooks=[
        dict(type='PseudoLabelHook', start_epoch=2, max_spread=0.02,
             views=((1.0, ), ('none', 'vertical')),
             tta_cfg=dict(score_thr=0.0, skip_box_thr=0.0, nms_iou_thr=None,
                          max_per_img=50))])
    cfg.model.train_cfg.rpn.assigner.ignore_iof_thr = 0.5
    cfg.model.train_cfg.rcnn.assigner.ignore_iof_thr = 0.5
    Runner.from_cfg(cfg).train()
    got = json.load(open(tmp_path / 'labels' / 'epoch_3.json'))
    crowd = [a['iscrowd'] for a in got['annotations']]
    assert 0 < sum(crowd) < len(crowd)  # both steady and unsteady boxes
    log = open(next(tmp_path.glob('*/*.log'))).read()
    n = int(log.split('views disagree, spread > 0.02: ')[1].split(')')[0])
    assert n == sum(crowd)


def test_a_band_merge_never_reaches_is_refused():
    """With update='merge' only added boxes (score >= add_score) reach the
    band: a band whose high end is at or below add_score would do nothing
    (a measured lever config once had it so)."""
    with pytest.raises(ValueError, match='no effect'):
        PseudoLabelHook(dataloader={}, update='merge',
                        merge_cfg=dict(add_score=0.5), ignore_band=(0.2, 0.5))
    hook = PseudoLabelHook(dataloader={}, update='merge',
                           merge_cfg=dict(add_score=0.2),
                           ignore_band=(0.2, 0.5))
    assert hook.ignore_band == (0.2, 0.5)
    PseudoLabelHook(dataloader={}, ignore_band=(0.2, 0.5))  # replace: fine
