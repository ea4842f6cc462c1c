# Copyright (c) mmsissi contributors. All rights reserved.
"""Counting a folder (mmsissi.apis.counting.count_folder and
tools/count.py): image conversion, outputs, errors, and a real CLI run of
an untrained tiny detector on a folder of mixed images (8/16-bit,
gray/RGBA, PNG/TIFF/JPEG, one large, one corrupt)."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from counting_helpers import CELLS, FakeCounter, demo_crop

from mmsissi.apis import CountingWarning, count_folder, to_detector_image


def test_to_detector_image_formats(demo_data):
    crop = demo_crop(demo_data)
    out = to_detector_image(crop)
    assert out.dtype == np.uint8 and out.shape == crop.shape + (3, )
    # 8-bit data unchanged (what LoadImageFromFile gives)
    assert (out == crop[..., None]).all()
    bgra = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGRA)
    assert (to_detector_image(bgra) == out).all()
    assert (to_detector_image(np.dstack([crop, crop])) == out).all()
    # 16-bit: 0.1-99.9 percentile stretch to 8 bits
    img16 = crop.astype(np.uint16) * 16 + 3000
    out16 = to_detector_image(img16)[..., 0].astype(float)
    lo, hi = np.percentile(img16, (0.1, 99.9))
    ref = np.clip((img16 - lo) / (hi - lo), 0, 1) * 255
    assert np.abs(out16 - ref).max() <= 1.0
    assert out16.min() == 0 and out16.max() == 255
    with pytest.raises(ValueError):
        to_detector_image(np.zeros((4, 4, 5), np.uint8))


def test_count_folder_outputs(tmp_path, image_folder):
    counter = FakeCounter(CELLS, tile_factor=4.0)
    out = tmp_path / 'out'
    with pytest.warns(CountingWarning, match='f_broken.png'):
        res = count_folder(counter, str(image_folder), str(out),
                           score_thr=0.62, progress=False)
    # the cells with score >= 0.62 inside each image
    assert res['num_images'] == 5 and res['num_tiled'] == 1
    assert [r for r, _ in res['skipped']] == ['f_broken.png']
    rows = list(csv.DictReader(open(out / 'counts.csv')))
    assert [r['image'] for r in rows] == [
        'a_gray8.png', 'b_16bit.tif', 'c_rgba.png', 'd_gray.jpg',
        'e_large.png'
    ]
    assert list(rows[0]) == ['image', 'count', 'mean_score', 'width',
                             'height']
    large = rows[-1]
    assert (large['width'], large['height']) == ('1500', '1100')
    assert int(large["count"]) == 6  # scores 0.9 ... 0.65
    assert float(large['mean_score']) == pytest.approx(0.775, abs=1e-4)
    small_expected = int(((CELLS[:, 0] < 512) & (CELLS[:, 1] < 512)
                          & (0.9 - 0.05 * np.arange(len(CELLS)) >= 0.62)
                          ).sum())
    assert all(int(r['count']) == small_expected for r in rows[:-1])
    coco = json.load(open(out / 'detections.json'))
    assert coco['categories'] == [dict(id=1, name='cell')]
    assert res['num_cells'] == len(coco['annotations']) == sum(
        int(r['count']) for r in rows)
    for o in sorted(os.listdir(out / 'overlays')):
        assert o.endswith('.png')
    assert sorted(os.listdir(out / 'overlays')) == [
        'a_gray8.png', 'b_16bit.png', 'c_rgba.png', 'd_gray.png',
        'e_large.png'
    ]
    assert not [f for f in os.listdir(out) if f.endswith('.tmp')]


def test_count_folder_errors(tmp_path, image_folder):
    counter = FakeCounter(CELLS, tile_factor=4.0)
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('x')
    with pytest.raises(ValueError, match='no images'):
        count_folder(counter, str(empty), str(tmp_path / 'o'),
                     progress=False)
    with pytest.raises(FileNotFoundError, match='not found'):
        count_folder(counter, str(tmp_path / 'missing'), str(tmp_path / 'o'),
                     progress=False)
    with pytest.raises(ValueError, match=r'\*.bmp'):
        count_folder(counter, str(image_folder), str(tmp_path / 'o'),
                     pattern='*.bmp', progress=False)
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'x.png').write_bytes(b'')
    with pytest.warns(CountingWarning, match=r'x\.png: empty file'), \
            pytest.raises(ValueError, match='could be read'):
        count_folder(counter, str(bad), str(tmp_path / 'o'), progress=False)
    # --pattern (several globs)
    res = count_folder(counter, str(image_folder), str(tmp_path / 'p'),
                       pattern=['*.tif', '*.jpg'], overlays=False,
                       progress=False)
    assert [r['image'] for r in res['rows']] == ['b_16bit.tif', 'd_gray.jpg']
    assert res['overlays'] is None
    assert not (tmp_path / 'p' / 'overlays').exists()


def _run(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, 'tools/count.py', *args],
                          capture_output=True, text=True, env=env,
                          timeout=600)


def _iou_matrix(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter)


@pytest.mark.slow  # runs a real (untrained) detector
def test_cli_counts_a_folder(tmp_path, tiny_model, image_folder):
    cfg, ckpt = tiny_model
    out = tmp_path / 'cli'
    r = _run([cfg, ckpt, str(image_folder), '--out', str(out),
              '--score-thr', '0', '--device', 'cpu'])
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert 'Traceback' not in log
    assert 'f_broken.png' in r.stderr  # named when it is skipped
    assert 'counted 5 image(s) (1 tiled)' in r.stdout
    assert 'skipped 1 unreadable file(s)' in r.stdout
    assert 'tile factor 4' in r.stdout

    rows = list(csv.DictReader(open(out / 'counts.csv')))
    assert len(rows) == 5
    by_name = {row['image']: row for row in rows}
    assert by_name['e_large.png']['width'] == '1500'
    assert by_name['e_large.png']['height'] == '1100'
    assert by_name['b_16bit.tif']['width'] == '512'
    # COCO: valid for pycocotools and consistent with the CSV
    from pycocotools.coco import COCO
    coco_path = out / 'detections.json'
    coco = COCO(str(coco_path))
    data = json.load(open(coco_path))
    names = {img['file_name'] for img in data['images']}
    assert names == set(by_name)
    for img in data['images']:
        anns = coco.imgToAnns[img['id']]
        row = by_name[img['file_name']]
        assert len(anns) == int(row['count']) > 0
        assert float(row['mean_score']) == pytest.approx(
            np.mean([a['score'] for a in anns]), abs=2e-4)
        boxes = np.array([a['bbox'] for a in anns], float)
        boxes[:, 2:] += boxes[:, :2]
        # inside the image, not empty
        assert (boxes[:, :2] >= 0).all()
        assert (boxes[:, 2] <= img['width'] + 1e-3).all()
        assert (boxes[:, 3] <= img['height'] + 1e-3).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        if img['file_name'] == 'e_large.png':
            # tiled: many boxes across the whole image, no duplicates
            assert boxes[:, 2].max() > 1000 and boxes[:, 3].max() > 800
            iou = _iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0)
            assert iou.max() < 0.9
    overlays = sorted(os.listdir(out / 'overlays'))
    assert overlays == [
        'a_gray8.png', 'b_16bit.png', 'c_rgba.png', 'd_gray.png',
        'e_large.png'
    ]
    ov = cv2.imread(str(out / 'overlays' / 'e_large.png'))
    assert ov.shape == (1100, 1500, 3)


def _count_tool():
    """tools/count.py imported as a module (in-process runs of main)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('count_tool',
                                                  'tools/count.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_errors(tmp_path, tiny_model, image_folder, capsys):
    tool = _count_tool()
    cfg, ckpt = tiny_model
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('x')
    cases = [
        ([cfg, ckpt, str(empty)], f'no images (.png, .tif, .tiff, .jpg, '
         f'.jpeg, .bmp) found in {empty}'),
        ([cfg, ckpt, str(tmp_path / 'missing')],
         f'image folder not found: {tmp_path / "missing"}'),
        ([cfg, ckpt, str(image_folder), '--pattern', '*.gif'],
         'no files matching *.gif found in'),
        ([cfg, ckpt + '.nope', str(image_folder)], 'checkpoint not found'),
        (['nope.py', ckpt, str(image_folder)], 'config not found: nope.py'),
    ]
    for args, message in cases:
        rc = tool.main(args + ['--out', str(tmp_path / 'o'), '--device',
                               'cpu'])
        err = capsys.readouterr().err
        assert rc == 2, args
        assert f'error: {message}' in err
    assert not (tmp_path / 'o').exists()
    with pytest.raises(SystemExit):
        tool.main(['--help'])
    out = capsys.readouterr().out
    assert '--tile-factor' in out and 'resolution and tiling' in out
    with pytest.raises(SystemExit):
        tool.main([cfg, ckpt, str(image_folder), '--out', 'o',
                   '--tile-factor', 'big'])
    assert "--tile-factor must be a number or 'auto'" in \
        capsys.readouterr().err
