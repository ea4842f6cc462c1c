# Copyright (c) mmsissi contributors. All rights reserved.
"""SISSI on top of any detector: the A+SISSI(S) row on RetinaNet and FCOS.

The configs are thin children of configs/sissi/a_sissi_s.py that only swap
the model (and its COCO checkpoint); each runs the whole loop for real at
CPU scale: ADELE measures AP50, correction starts, the one-stage detector
relabels the target set with TTA + WBF, synthetic-like images reach the
model, and the test reports per-reader metrics."""
import json

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import tests.helpers.recorder  # noqa: F401  registers LabelRecorderHook
from mmsissi.utils import apply_cpu_scale
from tests.helpers.tiny import shrink_relabelling, tiny_cfg

DETECTORS = {
    'retinanet_r50_fpn_a_sissi_s': ('RetinaNet', 'RetinaHead',
                                    'retinanet_r50_fpn_1x_coco'),
    'fcos_r50_fpn_a_sissi_s': ('FCOS', 'FCOSHead',
                               'fcos_r50_caffe_fpn_gn-head_1x_coco'),
}
BASE = 'configs/sissi/a_sissi_s.py'


def _path(name):
    return f'configs/detectors/{name}.py'


@pytest.mark.parametrize('name', list(DETECTORS))
def test_config_is_a_sissi_s_with_another_detector(name):
    det, head, zoo = DETECTORS[name]
    cfg = Config.fromfile(_path(name))
    base = Config.fromfile(BASE)
    # the experiment is A+SISSI(S): the same hooks, data and schedule
    assert cfg.custom_hooks == base.custom_hooks
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert set(hooks) == {'ADELEHook', 'PseudoLabelHook'}
    assert hooks['PseudoLabelHook']['synthesize'] == 'strong'
    assert hooks['PseudoLabelHook'].get('start_epoch') is None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'optim_wrapper', 'param_scheduler', 'train_cfg',
                'val_evaluator', 'test_evaluator', 'default_hooks',
                'tta_model', 'tta_pipeline'):
        assert cfg[key] == base[key], key
    # only the model changed, wholesale (nothing of Faster R-CNN left)
    model = cfg.model
    assert model.type == det
    assert not {'rpn_head', 'roi_head'} & set(model)
    assert model.bbox_head.type == head
    assert model.bbox_head.num_classes == 1
    assert model.test_cfg.max_per_img >= 300  # dense cells
    assert model.backbone.depth == 50
    assert model.backbone.frozen_stages == -1  # no frozen layer
    # the real COCO-pretrained checkpoint of the model zoo
    assert cfg.load_from.startswith(
        'https://download.openmmlab.com/mmdetection/v2.0/')
    assert f'/{zoo}/' in cfg.load_from and cfg.load_from.endswith('.pth')
    # CPU scale: ResNet-18, random init, nothing to download
    small = apply_cpu_scale(cfg)
    assert small.model.type == det
    assert small.model.backbone.depth == 18
    assert small.model.backbone.init_cfg is None
    assert small.model.neck.in_channels == [64, 128, 256, 512]
    assert small.load_from is None


def _record_synth_flag(cfg):
    """Pack ``sissi_synth`` so LabelRecorderHook sees what reached the
    model (the real training pipeline, augmentation included)."""
    for d in cfg.train_dataloader.dataset.datasets:
        for t in d.pipeline:
            if t['type'] == 'PackDetInputs':
                t['meta_keys'] = ('img_id', 'img_path', 'ori_shape',
                                  'img_shape', 'scale_factor', 'flip',
                                  'flip_direction', 'sissi_synth')


@pytest.mark.slow
@pytest.mark.parametrize('name', list(DETECTORS))
def test_a_sissi_s_runs_on_detector(name, tmp_path, demo_data):
    det, _, _ = DETECTORS[name]
    cfg = tiny_cfg(tmp_path, demo_data / 'target' / 'train_weak.json',
                   epochs=3, config=_path(name),
                   hooks=[dict(type='LabelRecorderHook')])
    _record_synth_flag(cfg)
    for h in cfg.custom_hooks:
        if h['type'] == 'ADELEHook':
            h['max_start_epoch'] = 2  # force the start to test the loop
    # 2 views; at most 100 labels per image keep synthesis cheap
    shrink_relabelling(cfg, view_score_thr=None, score_thr=0.001,
                       skip_box_thr=0.0, max_per_img=100)
    # a few-epoch random-init one-stage head scores ~0.01 (focal prior):
    # keep its boxes, so the pseudo labels are not empty
    cfg.model.test_cfg.score_thr = 0.001
    runner = Runner.from_cfg(cfg)
    assert type(runner.model).__name__ == det
    runner.train()
    metrics = runner.test()
    assert 0.0 <= metrics['coco/manual/AP50'] <= 1.0
    assert (tmp_path / 'epoch_3.pth').is_file()

    # ADELE measured AP50 after epochs 1 and 2, correction started after 2
    hub = runner.message_hub
    ap50 = hub.get_info('sissi/adele_ap50')
    assert len(ap50) == 2 and all(0.0 <= v <= 1.0 for v in ap50)
    assert hub.get_info('sissi/start_epoch') == 2
    assert (tmp_path / 'adele_curve.png').is_file()

    # the detector relabelled the target set before epoch 3 (TTA + WBF)
    index = json.load(open(tmp_path / 'labels' / 'index.json'))
    assert index['epoch'] == 3 and index['synthesize'] == 'strong'
    labels = json.load(open(tmp_path / 'labels' / index['file']))
    assert len(labels['images']) == 12
    assert 0 < len(labels['annotations']) <= 12 * 100
    assert {a['category_id'] for a in labels['annotations']} <= {1}
    n_pseudo = hub.get_info('sissi/num_pseudo_boxes')
    assert n_pseudo == len(labels['annotations'])

    # weak labels, no synthesis before the start; strong synthesis after
    seen = json.load(open(tmp_path / 'seen_rank0.json'))
    for ep in ('1', '2'):
        assert seen[ep] and all(r['synth'] is False
                                for r in seen[ep].values())
    assert seen['3'] and all(r['synth'] == 'strong'
                             for r in seen['3'].values())
    assert sum(len(r['boxes']) for r in seen['3'].values()) <= n_pseudo
