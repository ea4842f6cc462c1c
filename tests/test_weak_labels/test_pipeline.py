# Copyright (c) mmsissi contributors. All rights reserved.
"""Pipeline: evaluation, de-duplication, parameters, folders and the CLI."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from weak_label_helpers import REPO_ROOT

from mmsissi.weak_labels import (DEFAULT_METHODS, WeakLabelWarning,
                                 dedupe_boxes, default_params,
                                 evaluate_boxes, load_params_file,
                                 match_boxes, parse_methods,
                                 parse_param_overrides, read_list_file,
                                 run_weak_labels, update_params,
                                 write_json_atomic)

CLI = str(REPO_ROOT / 'tools' / 'weak_labels.py')


# --------------------------------------------------------------- evaluation
def test_evaluate_boxes_hand_made():
    gt = {
        'a.png': np.array([[0, 0, 10, 10], [20, 20, 30, 30],
                           [50, 50, 60, 60]]),
        'b.png': np.zeros((0, 4)),
        'c.png': np.array([[0, 0, 5, 5]]),  # not predicted: not evaluated
    }
    pred = {
        'a.png':
        np.array([
            [0, 0, 10, 10],  # TP (IoU 1)
            [1, 1, 11, 11],  # duplicate of the same cell: FP
            [20, 20, 30, 32],  # TP (IoU 0.83)
            [100, 100, 110, 110],  # FP
        ]),
        'b.png':
        np.array([[0, 0, 5, 5, 0.9]]),  # FP; the score column is ignored
    }
    m = evaluate_boxes(pred, gt, iou_thr=0.5)
    assert (m['tp'], m['fp'], m['fn']) == (2, 3, 1)
    assert (m['num_pred'], m['num_gt'], m['num_images']) == (5, 3, 2)
    assert m['precision'] == pytest.approx(0.4)
    assert m['recall'] == pytest.approx(2 / 3)
    assert m['f1'] == pytest.approx(0.5)
    a = m['per_image']['a.png']
    assert (a['tp'], a['fp'], a['fn']) == (2, 2, 1)
    assert a['precision'] == pytest.approx(0.5)
    b = m['per_image']['b.png']
    assert (b['precision'], b['recall'], b['f1']) == (0.0, 0.0, 0.0)
    # a stricter threshold loses the 0.83 match
    assert evaluate_boxes(pred, gt, iou_thr=0.9)['tp'] == 1
    # nothing at all
    empty = evaluate_boxes({}, gt)
    assert empty['precision'] == 0 and empty['num_images'] == 0


def test_matching_is_greedy_by_iou_and_one_to_one():
    gt = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], float)
    pred = np.array([[2, 0, 12, 10], [3, 0, 13, 10]], float)
    # pred0 overlaps both (IoU 0.67 / 0.82), pred1 matches gt1 exactly
    matches = match_boxes(pred, gt, 0.5)
    assert sorted((i, j) for i, j, _ in matches) == [(0, 0), (1, 1)]
    assert matches[0][2] == pytest.approx(1.0)


def test_dedupe_boxes():
    boxes = np.array([
        [0, 0, 10, 10],
        [1, 1, 11, 11],  # IoU 0.68 with box 0
        [30, 30, 50, 50],
        [33, 33, 45, 45],  # inside box 2, IoU 0.36
        [0, 60, 40, 100],
        [5, 65, 12, 72],  # inside box 4 but tiny (IoU 0.03): another cell
    ], float)
    scores = np.array([0.5, 0.9, 0.8, 0.7, 0.6, 0.6])
    keep = dedupe_boxes(boxes, scores, 0.5)
    assert sorted(keep.tolist()) == [1, 2, 3, 4, 5]
    assert keep[0] == 1  # highest score first
    keep = dedupe_boxes(boxes, scores, 0.5, contain_thr=0.9,
                        contain_min_iou=0.2)
    assert sorted(keep.tolist()) == [1, 2, 4, 5]
    assert len(dedupe_boxes(np.zeros((0, 4)), np.zeros(0))) == 0


# --------------------------------------------------------------- parameters
def test_params_overrides_and_validation(tmp_path):
    p = default_params()
    assert p['methods'] == list(DEFAULT_METHODS)
    over = parse_param_overrides([
        'watershed.min_area=400', 'hough.min_radius=6.5', 'scale=0.5',
        'edges.split=false', 'read.percentiles=1,99', 'methods=edges,hough'
    ])
    q = update_params(p, over)
    assert q['watershed']['min_area'] == 400
    assert q['hough']['min_radius'] == 6.5
    assert q['edges']['split'] is False
    assert q['read']['percentiles'] == [1, 99]
    assert q['methods'] == ['edges', 'hough']
    assert all(q[m]['scale'] == 0.5 for m in ('watershed', 'hough', 'edges'))
    assert p['watershed']['min_area'] != 400  # the input is not modified
    with pytest.raises(KeyError, match='min_areaa'):
        update_params(p, parse_param_overrides(['watershed.min_areaa=1']))
    with pytest.raises(KeyError, match='nope'):
        update_params(p, {'nope': {}})
    with pytest.raises(ValueError, match='number'):
        update_params(p, parse_param_overrides(['watershed.min_area=big']))
    with pytest.raises(ValueError, match='SECTION.KEY=VALUE'):
        parse_param_overrides(['min_area400'])
    assert parse_methods('watershed, hough') == ['watershed', 'hough']
    assert parse_methods('all') == ['watershed', 'hough', 'edges']
    with pytest.raises(ValueError, match='unknown method'):
        parse_methods('watershed,magic')


def test_params_files(tmp_path):
    py = tmp_path / 'params.py'
    py.write_text("methods = ['watershed']\n"
                  'watershed = dict(min_area=500, thr_scale=0.8)\n')
    js = tmp_path / 'params.json'
    js.write_text(json.dumps({'hough': {'min_radius': 5}, 'scale': 2}))
    p = update_params(default_params(), load_params_file(str(py)))
    p = update_params(p, load_params_file(str(js)))
    assert p['methods'] == ['watershed']
    assert p['watershed']['min_area'] == 500
    assert p['watershed']['thr_scale'] == 0.8
    assert p['hough']['min_radius'] == 5
    assert p['edges']['scale'] == 2
    with pytest.raises(FileNotFoundError):
        load_params_file(str(tmp_path / 'missing.py'))
    lst = tmp_path / 'list.txt'
    lst.write_text('# training split\nset01.png\n\n images/set02.png \n')
    assert read_list_file(str(lst)) == ['set01.png', 'images/set02.png']


# ------------------------------------------------------------------ folders
def test_write_json_atomic(tmp_path):
    out = tmp_path / 'sub' / 'x.json'
    write_json_atomic({'a': 1}, str(out))
    write_json_atomic({'a': 2}, str(out))
    assert json.loads(out.read_text()) == {'a': 2}
    assert os.listdir(out.parent) == ['x.json']  # no temporary left
    with pytest.raises(TypeError):
        write_json_atomic({'a': object()}, str(out))
    assert json.loads(out.read_text()) == {'a': 2}  # old content intact
    assert os.listdir(out.parent) == ['x.json']


def test_run_on_folder_skips_corrupt_image(image_folder):
    images = image_folder / 'images'
    good = (images / 'cells0.png').read_bytes()
    (images / 'cut.png').write_bytes(good[:len(good) // 4])
    out = image_folder / 'weak.json'
    with pytest.warns(WeakLabelWarning, match='cut.png'):
        res = run_weak_labels(
            str(images),
            out=str(out),
            gt=str(image_folder / 'gt.json'),
            progress=False)
    assert [os.path.basename(p) for p, _ in res['skipped']] == ['cut.png']
    coco = json.loads(out.read_text())
    assert res['coco'] == coco
    assert [im['file_name'] for im in coco['images']] == [
        'images/cells0.png', 'images/cells1.png', 'images/cells2.png'
    ]
    assert coco['categories'] == [{'id': 1, 'name': 'cell'}]
    assert {im['height'] for im in coco['images']} == {512}
    ids = {im['id'] for im in coco['images']}
    assert len(coco['annotations']) > 30
    for ann in coco['annotations']:
        assert ann['image_id'] in ids and ann['category_id'] == 1
        assert ann['iscrowd'] == 0 and 0 <= ann['score'] <= 1
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and ann['area'] == pytest.approx(w * h, 0.01)
    assert len({a['id'] for a in coco['annotations']}) == len(
        coco['annotations'])
    m = res['metrics']
    assert m['num_images'] == 3
    assert m['precision'] >= 0.9 and m['recall'] >= 0.9
    assert set(res['metrics_per_method']) == set(DEFAULT_METHODS)


def test_run_selection_root_and_errors(image_folder, tmp_path):
    images = image_folder / 'images'
    res = run_weak_labels(
        str(images),
        names=['cells2.png', 'images/cells0.png'],
        root=str(images),
        methods='hough',
        progress=False)
    assert [im['file_name'] for im in res['coco']['images']
            ] == ['cells0.png', 'cells2.png']
    assert {a['method'] for a in res['coco']['annotations']} == {'hough'}
    res = run_weak_labels(
        str(images), pattern='cells1.*', progress=False)
    assert res['num_images'] == 1 and res['out'] is None
    with pytest.warns(WeakLabelWarning, match='nothere.png'):
        res = run_weak_labels(
            str(images), names=['cells1.png', 'nothere.png'], progress=False)
    assert res['missing'] == ['nothere.png']
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match=str(empty)):
        run_weak_labels(str(empty), progress=False)
    with pytest.raises(ValueError, match='no images'):
        run_weak_labels(str(images), pattern='*.tif', progress=False)
    with pytest.raises(FileNotFoundError, match='missing_dir'):
        run_weak_labels(str(tmp_path / 'missing_dir'), progress=False)
    gt = image_folder / 'gt.json'
    before = gt.read_bytes()
    with pytest.raises(ValueError, match='ground-truth'):
        run_weak_labels(str(images), out=str(gt), gt=str(gt), progress=False)
    assert gt.read_bytes() == before
    # a folder of unreadable files only
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'x.png').write_bytes(b'nope')
    with pytest.warns(WeakLabelWarning), pytest.raises(
            ValueError, match='could be read'):
        run_weak_labels(str(bad), progress=False)


# ---------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, CLI, *map(str, args)],
                          capture_output=True,
                          text=True,
                          cwd=str(REPO_ROOT),
                          timeout=120)


def test_cli_end_to_end(image_folder):
    images = image_folder / 'images'
    good = (images / 'cells0.png').read_bytes()
    (images / 'broken.png').write_bytes(good[:300])
    out = image_folder / 'out' / 'weak.json'
    gt = image_folder / 'gt.json'
    proc = _cli(images, '--out', out, '--gt', gt, '--per-image',
                '--methods', 'watershed,hough', '--param',
                'watershed.min_area=700')
    assert proc.returncode == 0, proc.stderr
    coco = json.loads(out.read_text())
    assert len(coco['images']) == 3
    assert coco['images'][0]['file_name'] == 'images/cells0.png'
    assert coco['info']['params']['watershed']['min_area'] == 700
    assert len(coco['annotations']) > 30
    assert 'broken.png' in proc.stderr and 'WARNING' in proc.stderr
    assert 'skipped 1' in proc.stdout
    assert 'watershed alone' in proc.stdout and 'hough alone' in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert 'watershed+hough' in last
    assert ' P ' in last and ' R ' in last and ' F1 ' in last
    precision = float(last.split(' P ')[1].split()[0])
    recall = float(last.split(' R ')[1].split()[0])
    assert precision >= 0.9 and recall >= 0.9
    for i in range(3):
        assert f'cells{i}.png' in proc.stdout  # --per-image rows
    assert 'Traceback' not in proc.stderr


def _load_cli():
    """The CLI module, imported in-process (fast, no interpreter start)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('weak_labels_cli', CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_errors_subprocess(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc = _cli(empty, '--out', tmp_path / 'x.json')
    assert proc.returncode != 0
    assert 'error:' in proc.stderr and str(empty) in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'x.json').exists()


def test_cli_errors_in_process(image_folder, tmp_path, capsys):
    main = _load_cli().main
    x = tmp_path / 'x.json'
    assert main([str(tmp_path / 'missing'), '--out', str(x)]) != 0
    assert 'not found' in capsys.readouterr().err
    gt = image_folder / 'gt.json'
    before = gt.read_bytes()
    assert main([str(image_folder / 'images'), '--out', str(gt), '--gt',
                 str(gt)]) != 0
    assert 'ground-truth' in capsys.readouterr().err
    assert gt.read_bytes() == before
    assert main([
        str(image_folder / 'images'), '--out',
        str(x), '--param', 'watershed.bogus=1'
    ]) != 0
    assert 'bogus' in capsys.readouterr().err
    assert main([str(image_folder / 'images'), '--out', str(x),
                 '--methods', 'magic']) != 0
    assert 'unknown method' in capsys.readouterr().err
    assert not x.exists()
    with pytest.raises(SystemExit):  # argparse: neither --out nor --gt
        main([str(image_folder / 'images')])
    # only evaluate, several patterns, config file, no output written
    cfg = tmp_path / 'p.py'
    cfg.write_text("methods = ['edges']\n")
    assert main([
        str(image_folder / 'images'), '--gt',
        str(gt), '--pattern', 'cells0.png', '--pattern', 'cells2.png',
        '--config',
        str(cfg), '--no-progress'
    ]) == 0
    captured = capsys.readouterr().out
    assert 'methods: edges' in captured and 'labelled 2 image(s)' in captured
    assert ' P ' in captured and not x.exists()
