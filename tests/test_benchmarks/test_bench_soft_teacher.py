# Copyright (c) mmsissi contributors. All rights reserved.
"""The benchmark's ``soft_teacher`` row: mmdet's SoftTeacher around the
benchmark's detector, branched from the supervised run."""
import csv
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.structures import InstanceData

from benchmarks import noisy_labels as nl
from benchmarks.noisy.configs import row_criterion, row_restores_best
from benchmarks.noisy.soft_teacher import teacher_student_optimizer
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample
from mmsissi.engine.hooks import TeacherLabelsHook
from tests.helpers.noisy_bench import bench_argv, coco, write


@pytest.fixture(scope='module')
def built(tmp_path_factory, demo_data):
    tmp = tmp_path_factory.mktemp('st')
    args = nl.parse_args(bench_argv(demo_data, tmp / 'bench') +
                         ['--epochs', '6'])
    paths = nl.prepare_data(args, str(tmp / 'data'))
    return (args, paths, nl.build_config('supervised', args, paths),
            nl.build_config('soft_teacher', args, paths))


def test_the_row_is_mmdets_soft_teacher_around_the_same_detector(built):
    args, paths, sup, st = built
    assert st.model.type == 'SoftTeacher'
    assert st.model.detector.to_dict() == sup.model.to_dict()
    assert st.model.data_preprocessor == dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=sup.model.data_preprocessor)
    assert st.model.semi_test_cfg == dict(predict_on='teacher')
    assert st.model.semi_train_cfg.cls_pseudo_thr == 0.5
    labelled, source, unlabelled = st.train_dataloader.dataset.datasets
    assert labelled.ann_file == unlabelled.ann_file == paths['train_noisy']
    assert source.ann_file == paths['source_train']
    assert st.train_dataloader.sampler.source_ratio == [1, 2, 1]
    assert st.train_dataloader.batch_size == sup.train_dataloader.batch_size
    assert st.train_dataloader.sampler.iters_per_epoch == \
        sup.train_dataloader.sampler.iters_per_epoch
    types = [t['type'] for t in labelled.pipeline]
    assert 'SeamlessSynth' not in types and types[-1] == 'MultiBranch'
    assert [t['type'] for t in unlabelled.pipeline][:2] == [
        'LoadCellImageFromFile', 'LoadEmptyAnnotations']
    hooks = {h['type']: h for h in st.custom_hooks}
    assert set(hooks) == {'MeanTeacherHook', 'TeacherLabelsHook'}
    assert hooks['MeanTeacherHook']['skip_buffer'] is False
    assert hooks['TeacherLabelsHook']['dataloader']['dataset'][
        'ann_file'] == paths['train_noisy']
    assert st.test_evaluator == sup.test_evaluator
    assert st.train_cfg == sup.train_cfg
    assert row_criterion(st, 'soft_teacher') == 'ValLossStartHook'
    assert not row_restores_best(st, 'soft_teacher')
    assert 'soft_teacher_lr_factor' not in st  # the lr as trained


def test_variants_change_only_their_option(built):
    args, paths, _, st = built
    w1 = nl.build_config('soft_teacher_w1', args, paths)
    assert w1.model.semi_train_cfg.unsup_weight == 1.0
    w1.model.semi_train_cfg.unsup_weight = st.model.semi_train_cfg\
        .unsup_weight
    assert w1.to_dict() == st.to_dict()
    bn = nl.build_config('soft_teacher_w1_bn', args, paths)
    assert {h['type']: h for h in bn.custom_hooks}['MeanTeacherHook'][
        'skip_buffer'] is True
    assert bn.model.semi_train_cfg.unsup_weight == 1.0
    bn.model.semi_train_cfg.unsup_weight = st.model.semi_train_cfg\
        .unsup_weight
    assert bn.model.to_dict() == st.model.to_dict()  # w1 set back above
    lr = nl.build_config('soft_teacher_lr01', args, paths)
    assert lr.soft_teacher_lr_factor == 0.1
    assert lr.model.to_dict() == st.model.to_dict()
    ne = nl.build_config('soft_teacher_ne', args, paths)
    assert st.model.detector.backbone.norm_eval is False
    assert ne.model.detector.backbone.norm_eval is True
    ne.model.detector.backbone.norm_eval = False
    assert ne.to_dict() == st.to_dict()
    w1_ne = nl.build_config('soft_teacher_w1_ne', args, paths)
    assert w1_ne.model.semi_train_cfg.unsup_weight == 1.0
    assert w1_ne.model.detector.backbone.norm_eval is True
    t03 = nl.build_config('soft_teacher_w1_ne_t03', args, paths)
    semi = t03.model.semi_train_cfg
    assert (semi.pseudo_label_initial_score_thr, semi.rpn_pseudo_thr,
            semi.cls_pseudo_thr) == (0.3, 0.3, 0.3)
    assert 'pseudo_thr' not in semi
    assert {h['type']: h for h in t03.custom_hooks}['TeacherLabelsHook'][
        'score_thr'] == 0.3
    for key in ('pseudo_label_initial_score_thr', 'rpn_pseudo_thr',
                'cls_pseudo_thr'):
        semi[key] = 0.5
    assert t03.model.to_dict() == w1_ne.model.to_dict()
    w0 = nl.build_config('soft_teacher_w0_ne', args, paths)  # the control
    assert w0.model.semi_train_cfg.unsup_weight == 0.0
    w0.model.semi_train_cfg.unsup_weight = 1.0
    assert w0.to_dict() == w1_ne.to_dict()


def test_pipelines_give_each_branch_its_view(built):
    _, _, _, st = built
    labelled, _, unlabelled = st.train_dataloader.dataset.datasets
    sample = DATASETS.build(unlabelled)[0]
    assert sample['inputs']['sup'] is None  # no labels: no sup view
    t, s = (sample['data_samples'][k] for k in ('unsup_teacher',
                                                 'unsup_student'))
    assert len(t.gt_instances) == len(s.gt_instances) == 0
    # one crop for both views: same size, homographies that map between
    assert sample['inputs']['unsup_teacher'].shape == \
        sample['inputs']['unsup_student'].shape
    assert t.homography_matrix.shape == s.homography_matrix.shape == (3, 3)
    sup = DATASETS.build(labelled)
    item = next(sup[i] for i in range(len(sup))
                if len(sup[i]['data_samples']['sup'].gt_instances))
    assert item['inputs']['unsup_teacher'] is None
    assert item['inputs']['sup'] is not None


def test_optimizer_state_moves_to_the_student(built):
    _, _, _, st = built
    detector = MODELS.build(st.model.detector)
    opt = torch.optim.SGD(detector.parameters(), lr=0.1, momentum=0.9)
    for i, p in enumerate(detector.parameters()):
        p.grad = torch.full_like(p, float(i))
    opt.step()
    semi = MODELS.build(st.model)
    names = [n for n, _ in semi.named_parameters()]
    assert names[0].startswith('student.') and len(names) == 2 * len(
        list(detector.parameters()))
    opt2 = torch.optim.SGD(semi.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(teacher_student_optimizer(opt.state_dict()))
    params = dict(semi.named_parameters())
    for i, (name, _) in enumerate(detector.named_parameters()):
        buf = opt2.state[params['student.' + name]]['momentum_buffer']
        assert torch.all(buf == float(i))
        assert params['teacher.' + name] not in opt2.state
    group = teacher_student_optimizer(opt.state_dict(), 0.1)[
        'param_groups'][0]
    assert group['lr'] == pytest.approx(0.01)
    assert opt.state_dict()['param_groups'][0]['lr'] == 0.1  # a copy
    with pytest.raises(ValueError, match='one parameter group'):
        teacher_student_optimizer(dict(state={}, param_groups=[{}, {}]))


class _Model(torch.nn.Module):
    """Predicts fixed boxes with scores 0.3 and 0.8 for every image."""

    def test_step(self, data):
        out = []
        for img_id in data:
            ds = DetDataSample(metainfo=dict(img_id=img_id))
            ds.pred_instances = InstanceData(
                bboxes=torch.tensor([[1., 2., 11., 22.], [5., 5., 9., 9.]]),
                scores=torch.tensor([0.3, 0.8]),
                labels=torch.zeros(2, dtype=torch.long))
            out.append(ds)
        return out


class _Loader:
    """Batches of image ids over a dataset stand-in."""

    def __init__(self, dataset, batches):
        self.dataset, self.batches = dataset, batches

    def __iter__(self):
        return iter(self.batches)


def test_teacher_labels_hook_writes_the_confident_boxes(tmp_path):
    ann = write(tmp_path / 'weak.json', coco(
        {'a.png': [[0, 0, 4, 4]], 'b.png': []}, category=7))
    hook = TeacherLabelsHook(dataloader=None, score_thr=0.5, start_epoch=3)
    hook._loader = _Loader(SimpleNamespace(
        ann_file=ann, category_map=dict(cell='cell')), [[1], [2]])
    model = _Model().train()
    logs = []
    runner = SimpleNamespace(
        model=model, work_dir=str(tmp_path), epoch=1, seed=0,
        logger=SimpleNamespace(info=logs.append))
    hook.before_train_epoch(runner)  # epoch 2 < start 3: nothing
    assert not (tmp_path / 'labels').exists()
    runner.epoch = 2
    hook.before_train_epoch(runner)
    out = json.load(open(tmp_path / 'labels' / 'epoch_3.json'))
    assert model.training  # back in training mode
    assert [i['file_name'] for i in out['images']] == ['images/a.png',
                                                       'images/b.png']
    assert [(a['image_id'], a['bbox'], a['category_id'], a['iscrowd'])
            for a in out['annotations']] == [(1, [5, 5, 4, 4], 7, 0),
                                             (2, [5, 5, 4, 4], 7, 0)]
    assert '2 boxes of score >= 0.5 on 2 images' in logs[0]
    with pytest.raises(ValueError, match='score_thr'):
        TeacherLabelsHook(dataloader=None, score_thr=1.5)


@pytest.mark.slow
def test_soft_teacher_row_trains_from_the_burn_in(tmp_path):
    """The row for real on the demo preset: branched from the supervised
    run at the validation-loss start, trained with mmdet's SoftTeacher,
    tested with the teacher; its label table is the teacher's boxes."""
    root = tmp_path / 'bench'
    cmd = [sys.executable, 'benchmarks/noisy_labels.py', '--preset', 'demo',
           '--rows', 'supervised', 'soft_teacher', '--epochs', '3',
           '--iters-per-epoch', '3', '--max-start-epoch', '2',
           '--work-dir', str(root)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    res = {row['row']: row for row in csv.DictReader(open(
        root / 'results.csv'))}
    assert list(res) == ['supervised', 'soft_teacher']
    assert res['soft_teacher']['start'] == '2'
    assert 0 <= float(res['soft_teacher']['AP50']) <= 1
    work = root / 'seed_0' / 'soft_teacher'
    log = open(work / 'train.log').read()
    assert 'resumed epoch: 2' in log and 'unsup_loss_rpn_cls' in log
    trained = [ln for ln in log.splitlines() if 'Epoch(train) [3]' in ln]
    assert trained and not any(re.search(r'(?<![a-z_])loss_cls:', ln)
                               for ln in trained)  # no stale burn-in loss
    store = json.load(open(work / 'labels' / 'epoch_3.json'))
    weak = json.load(open(root / 'data' / 'train_noisy.json'))
    assert store['images'] == weak['images']
    labels = {(r['row'], int(r['epoch'])): r for r in csv.DictReader(
        open(root / 'labels.csv'))}
    assert int(labels[('soft_teacher', 3)]['num_boxes']) == len(
        store['annotations'])
    assert labels[('soft_teacher', 2)]['num_boxes'] == \
        labels[('supervised', 2)]['num_boxes']  # burn-in: the weak labels
    ckpt = torch.load(work / 'epoch_3.pth', map_location='cpu',
                      weights_only=False)
    assert any(k.startswith('teacher.') for k in ckpt['state_dict'])
