# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label pipeline (mmsissi.weak_labels.pipeline): folders, outputs,
errors and the CLI."""
import json
import os
import subprocess
import sys

import pytest
from weak_label_helpers import REPO_ROOT

from mmsissi.weak_labels import (DEFAULT_METHODS, WeakLabelWarning,
                                 run_weak_labels, write_json_atomic)

CLI = str(REPO_ROOT / 'tools' / 'weak_labels.py')


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
