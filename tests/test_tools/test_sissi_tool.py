# Copyright (c) mmsissi contributors. All rights reserved.
"""tools/sissi.py: a user's own folders -> checked inputs, weak labels,
source boxes, a child config that points every loader at them; then a
real short training and counting run on the demo data."""
import csv
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmsissi.apis.own_data import (OwnDataError, check_image_folder,
                                   check_reader, hook_roles, source_boxes)
from mmsissi.apis.own_data.prepare import (CONFIG_NAME, STATE_NAME,
                                           WEAK_NAME, prepare_own_data)
from mmsissi.apis.own_data.refit import prepare_refit
from mmsissi.datasets.label_store import LabelStore

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROWS = sorted(glob.glob(osp.join(REPO, 'configs', 'sissi', '*.py')) +
              glob.glob(osp.join(REPO, 'configs', 'sissi', 'levers',
                                 '*.py')))


def _instances(root, n=3):
    """An images/ + instances/ source set of n images with 2 cells each."""
    os.makedirs(osp.join(root, 'images'))
    os.makedirs(osp.join(root, 'instances'))
    for i in range(n):
        img = np.full((64, 64), 30, np.uint8)
        lab = np.zeros((64, 64), np.uint16)
        for k, (y, x) in enumerate([(10, 10), (40, 30)], start=1):
            img[y:y + 12, x:x + 9] = 200
            lab[y:y + 12, x:x + 9] = k
        cv2.imwrite(osp.join(root, 'images', f's{i}.png'), img)
        cv2.imwrite(osp.join(root, 'instances', f's{i}.png'), lab)
    return root


def test_image_folder_errors(tmp_path):
    with pytest.raises(OwnDataError, match='no such folder'):
        check_image_folder(str(tmp_path / 'nope'), 'target')
    with pytest.raises(OwnDataError, match=r'target image folder .*: no '
                       'images'):
        check_image_folder(str(tmp_path), 'target')
    (tmp_path / 'a.png').write_bytes(b'not a png')
    with pytest.raises(OwnDataError, match=r'a\.png: cannot be read'):
        check_image_folder(str(tmp_path), 'target')


def test_source_from_masks_is_split_and_boxed(tmp_path):
    root = _instances(str(tmp_path / 'src'), n=5)
    out = source_boxes(str(tmp_path), masks_dir=root, val_fraction=0.2)
    train = json.load(open(out['train']))
    val = json.load(open(out['val']))
    assert (len(train['images']), len(val['images'])) == (4, 1)
    names = {im['file_name'] for im in train['images'] + val['images']}
    assert names == {f'images/s{i}.png' for i in range(5)}
    boxes = sorted(tuple(a['bbox']) for a in train['annotations'])
    assert len(boxes) == 8 and boxes[0] == (10, 10, 9, 12)
    assert out['categories'] == ['cell'] and out['images'] == root


def test_source_without_masks_or_cells_is_refused(tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    cv2.imwrite(str(folder / 'x.png'), np.zeros((8, 8), np.uint8))
    with pytest.raises(OwnDataError, match='neither images/ .*instances'):
        source_boxes(str(tmp_path), masks_dir=str(folder))
    root = _instances(str(tmp_path / 'empty'), n=2)
    for p in glob.glob(osp.join(root, 'instances', '*.png')):
        cv2.imwrite(p, np.zeros((64, 64), np.uint16))
    with pytest.raises(OwnDataError, match='no cell'):
        source_boxes(str(tmp_path), masks_dir=root)
    one = _instances(str(tmp_path / 'one'), n=1)
    with pytest.raises(OwnDataError, match='at least 2'):
        source_boxes(str(tmp_path), masks_dir=one)
    assert not (tmp_path / 'source_train.json').exists()


def test_reader_naming_other_images_is_refused(tmp_path, demo_data):
    test = str(demo_data / 'target' / 'test')
    coco = json.load(open(demo_data / 'target' / 'test_manual.json'))
    # folders in file_name: matched by base name, the copy is relative
    fixed = check_reader('manual', str(demo_data / 'target' /
                                       'test_manual.json'), test)
    assert [im['file_name'] for im in fixed['images']] == [
        osp.basename(im['file_name']) for im in coco['images']]
    coco['images'][1]['file_name'] = 'test/other.png'
    bad = tmp_path / 'reader.json'
    bad.write_text(json.dumps(coco))
    with pytest.raises(OwnDataError, match=r"reader 'alice' .*reader\.json "
                       r'names 1 image\(s\) .*not in the test folder .*'
                       'other.png'):
        check_reader('alice', str(bad), test)


@pytest.mark.parametrize('row', ROWS, ids=lambda p: osp.basename(p))
def test_child_config_points_every_loader_at_the_users_data(
        tmp_path, demo_data, row):
    """Every dataset of the written config (training sets, every hook's
    and *_dataloader's loader, test) reads the user's files: none keeps
    the row's `data/` paths."""
    src = _instances(str(tmp_path / 'src'), n=3)
    prepare_own_data(
        str(tmp_path / 'w'), row, str(demo_data / 'target' / 'train'),
        source_masks=src, test_images=str(demo_data / 'target' / 'test'),
        readers=dict(alice=str(demo_data / 'target' / 'test_manual.json')))
    cfg = Config.fromfile(str(tmp_path / 'w' / CONFIG_NAME))
    assert osp.basename(cfg.filename) == 'sissi_config.py'
    datasets = list(cfg.train_dataloader.dataset.datasets)
    datasets += [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]
    datasets += [h.dataloader.dataset for h in cfg.get('custom_hooks', [])
                 if 'dataloader' in h]
    datasets += [v.dataset for k, v in cfg.items()
                 if k.endswith('_dataloader') and v and 'datasets' not in
                 v.dataset]
    for ds in datasets:
        assert ds.data_root is None
        assert ds.ann_file.startswith(str(tmp_path)) or \
            ds.ann_file.endswith('test_manual.json'), ds.ann_file
        assert ds.data_prefix.img.startswith((src, str(demo_data))), ds
        if ds.data_prefix.img.startswith(src):  # source: the user's map
            assert ds.category_map == {'cell': 'cell'}
    assert dict(cfg.val_evaluator.readers) == {
        'alice': str(tmp_path / 'w' / 'readers' / 'alice.json')}
    source = cfg.train_dataloader.dataset.datasets[1]
    assert source.category_map == {'cell': 'cell'}
    # hooks keep their options: only the loaders changed
    base = Config.fromfile(row)
    for h, b in zip(cfg.get('custom_hooks', []),
                    base.get('custom_hooks', [])):
        assert {k: v for k, v in h.items() if k != 'dataloader'} == \
            {k: v for k, v in b.items() if k != 'dataloader'}
    assert len(hook_roles(cfg)) == len(hook_roles(base))


def test_prepare_keeps_weak_labels_and_checks_before_writing(
        tmp_path, demo_data):
    work = tmp_path / 'w'
    target = str(demo_data / 'target' / 'train')
    src = _instances(str(tmp_path / 'src'), n=3)
    row = osp.join(REPO, 'configs', 'sissi', 'sissi_merge.py')
    with pytest.raises(OwnDataError, match='readers given without'):
        prepare_own_data(str(work), row, target, source_masks=src,
                         readers=dict(a='x.json'))
    assert not work.exists()  # refused before anything was written
    state = prepare_own_data(str(work), row, target, source_masks=src,
                             gt=str(demo_data / 'target' /
                                    'train_manual.json'))
    weak = work / WEAK_NAME
    assert 0.3 < state['weak_label_metrics']['recall'] < 0.9
    weak.write_text(json.dumps(dict(json.load(open(weak)), info=dict(
        edited='by hand'))))
    prepare_own_data(str(work), row, target, source_masks=src)
    assert json.load(open(weak))['info'] == dict(edited='by hand')
    cfg = Config.fromfile(str(work / CONFIG_NAME))
    assert cfg.val_dataloader is None and cfg.val_cfg is None


def test_refit_trains_from_scratch_on_the_corrected_labels(
        tmp_path, demo_data):
    work = tmp_path / 'w'
    t = demo_data / 'target'
    state = prepare_own_data(
        str(work), osp.join(REPO, 'configs', 'sissi', 'sissi_merge.py'),
        str(t / 'train'), source_masks=_instances(str(tmp_path / 'src')),
        test_images=str(t / 'test'),
        readers=dict(alice=str(t / 'test_manual.json')))
    with pytest.raises(OwnDataError, match='no corrected labels'):
        prepare_refit(str(work))
    weak = json.load(open(state['weak_labels']))
    store = LabelStore(str(work / 'labels'))
    boxes = {i['id']: np.array([[1., 1., 9., 9.]]) for i in weak['images']}
    store.write(3, weak['images'], boxes)
    last = store.write(4, weak['images'], boxes)
    refit = prepare_refit(str(work))
    assert refit['refit_labels'] == last and refit['refit_of'] == str(work)
    assert json.load(open(work / 'refit' / STATE_NAME)) == refit
    cfg = Config.fromfile(refit['config'])
    assert cfg.train_dataloader.dataset.datasets[0].ann_file == last
    assert cfg.train_dataloader.dataset.datasets[1].ann_file == \
        state['source']['train']
    assert cfg.get('custom_hooks', []) == [] and 'labels' not in \
        osp.dirname(refit['config'])  # the refit's own config folder
    assert cfg.model.train_cfg.rcnn.assigner.ignore_iof_thr == 0.5
    assert dict(cfg.test_evaluator.readers) == state['readers']
    old = dict(state)
    old.pop('data')  # a work dir of an older mmsissi
    (work / STATE_NAME).write_text(json.dumps(old))
    with pytest.raises(OwnDataError, match='prepare` again'):
        prepare_refit(str(work))


def test_run_passes_the_refit_only_the_options_that_apply(capsys):
    spec = importlib.util.spec_from_file_location(
        'sissi_tool', osp.join(REPO, 'tools', 'sissi.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    opts = ['train_cfg.max_epochs=2', 'custom_hooks.0.max_start_epoch=1',
            'custom_hooks.1.score_thr=0.3']
    assert tool._refit_options(opts, ['train_cfg.max_epochs=1']) == [
        'train_cfg.max_epochs=2', 'train_cfg.max_epochs=1']
    assert 'custom_hooks.0.max_start_epoch=1 custom_hooks.1.score_thr=0.3' \
        in capsys.readouterr().out
    assert tool._refit_options(None, []) is None
    run = ['run', 'imgs', '--source-masks', 'm', '--work-dir', 'w']
    assert tool.parse_args(run).refit is False
    assert tool.parse_args(run + ['--refit']).refit is True


@pytest.mark.slow
def test_run_end_to_end_on_demo_data(tmp_path, demo_data):
    """prepare + train (CPU scale, correction starting after epoch 1) +
    refit + count, through the command line, with the recommended row."""
    work = tmp_path / 'mine'
    t = demo_data / 'target'
    target = tmp_path / 'target'  # 4 of the 12 crops: one TTA pass ~1 min
    target.mkdir()
    for name in sorted(os.listdir(t / 'train'))[:4]:
        shutil.copy(t / 'train' / name, target / name)
    cmd = [sys.executable, osp.join(REPO, 'tools', 'sissi.py'), 'run',
           str(target), '--source-ann',
           str(demo_data / 'source' / 'annotations_bbox.json'),
           '--source-root', str(demo_data / 'source'), '--gt',
           str(t / 'train_manual.json'), '--test-images', str(t / 'test'),
           '--reader', f'manual={t / "test_manual.json"}', '--work-dir',
           str(work), '--cpu-scale', '--count', str(t / 'test'),
           '--cfg-options', 'train_cfg.max_epochs=2',
           'train_cfg.val_interval=2', 'custom_hooks.0.max_start_epoch=1',
           '--refit', '--refit-cfg-options', 'train_cfg.max_epochs=1',
           'train_cfg.val_interval=1']
    r = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=2400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'weak labels vs --gt (4 images) P ' in r.stdout
    assert (work / 'epoch_2.pth').is_file()
    index = json.load(open(work / 'labels' / 'index.json'))
    assert index['epoch'] >= 2, 'correction never ran'
    labels = json.load(open(work / 'labels' / index['file']))
    assert len(labels['images']) == 4
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'coco/manual/AP50' in log
    # a fresh detector on the corrected labels, one epoch, counts with it
    refit = work / 'refit'
    assert f'trains on {work / "labels" / index["file"]}' in r.stdout
    assert ('not passed to the refit (it has no correction hooks): '
            'custom_hooks.0.max_start_epoch=1') in r.stdout
    assert (refit / 'epoch_1.pth').is_file()
    assert not (refit / 'epoch_2.pth').exists()
    assert not (work / 'counts').exists()
    with open(refit / 'counts' / 'counts.csv') as f:
        rows = list(csv.DictReader(f))
    assert sorted(r['image'] for r in rows) == sorted(
        os.listdir(t / 'test'))
    ckpt = open(refit / 'last_checkpoint').read().strip()
    assert osp.dirname(ckpt) == str(refit)
