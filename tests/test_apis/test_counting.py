# Copyright (c) mmsissi contributors. All rights reserved.
"""tools/count.py and mmsissi.apis.counting: image conversion, tiling,
exact cross-tile merging (fake detector with known boxes), outputs, errors,
and a real CLI run of an untrained tiny detector on a folder of mixed
images (8/16-bit, gray/RGBA, PNG/TIFF/JPEG, one large, one corrupt)."""
import csv
import json
import os
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
import tifffile
import torch
from mmengine.config import Config

from mmsissi.apis import (CellCounter, CountingWarning, count_folder,
                          init_counter, merge_tile_detections, tile_windows,
                          to_detector_image)
from mmsissi.utils import apply_cpu_scale

DEMO_CONFIG = 'configs/demo/supervised_r18_256_cpu.py'
BIG = (1100, 1500)  # h, w of the large test image


def _tiny_cfg():
    """The demo config at 128 px with few proposals (fast on a CPU)."""
    cfg = apply_cpu_scale(Config.fromfile(DEMO_CONFIG), scale=(128, 128))
    cfg.model.test_cfg.rpn.nms_pre = 200
    cfg.model.test_cfg.rpn.max_per_img = 60
    cfg.model.test_cfg.rcnn.max_per_img = 40
    return cfg


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """(config file, checkpoint) of an untrained ResNet-18 Faster R-CNN."""
    from mmdet.registry import MODELS
    work = tmp_path_factory.mktemp('count_model')
    cfg = _tiny_cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = work / 'tiny.pth'
    torch.save(
        dict(state_dict=model.state_dict(),
             meta=dict(dataset_meta=dict(classes=('cell', )))), ckpt)
    cfg_path = work / 'tiny_cfg.py'
    cfg.dump(str(cfg_path))
    return str(cfg_path), str(ckpt)


def _crop(demo_data, i=0):
    names = sorted((demo_data / 'target' / 'train').glob('*.png'))
    return cv2.imread(str(names[i]), cv2.IMREAD_GRAYSCALE)


def _big_image(demo_data):
    """1500x1100 8-bit image tiled from demo crops."""
    crops = [_crop(demo_data, i) for i in range(6)]
    rows = [np.hstack(crops[0:3]), np.hstack(crops[3:6]),
            np.hstack(crops[0:3])]
    return np.vstack(rows)[:BIG[0], :BIG[1]]


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory, demo_data):
    """Mixed formats, one large image, one corrupt file, one non-image."""
    d = tmp_path_factory.mktemp('count_images')
    crop = _crop(demo_data, 0)
    cv2.imwrite(str(d / 'a_gray8.png'), crop)
    # 16-bit TIFF: the crop on a narrow 16-bit range
    tifffile.imwrite(str(d / 'b_16bit.tif'),
                     (crop.astype(np.uint16) * 16 + 3000))
    rgba = cv2.cvtColor(_crop(demo_data, 1), cv2.COLOR_GRAY2BGRA)
    rgba[..., 3] = 200
    cv2.imwrite(str(d / 'c_rgba.png'), rgba)
    cv2.imwrite(str(d / 'd_gray.jpg'), _crop(demo_data, 2))
    cv2.imwrite(str(d / 'e_large.png'), _big_image(demo_data))
    (d / 'f_broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 20)
    (d / 'notes.txt').write_text('not an image')
    return d


# --------------------------------------------------------------------------
# image conversion
# --------------------------------------------------------------------------


def test_to_detector_image_formats(demo_data):
    crop = _crop(demo_data)
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


# --------------------------------------------------------------------------
# tiling and merging
# --------------------------------------------------------------------------


def test_tile_windows_cover_with_overlap():
    h, w = BIG
    win = tile_windows(h, w, 512, 0.2)
    assert len(win) == 4 * 3
    assert (win[:, 2] - win[:, 0] == 512).all()
    assert (win[:, 3] - win[:, 1] == 512).all()
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in win:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs, ys = np.unique(win[:, 0]), np.unique(win[:, 1])
    assert (np.diff(xs) <= 512 * 0.8).all() and (np.diff(ys) <= 512 * 0.8)\
        .all()
    assert win[:, 2].max() == w and win[:, 3].max() == h
    # an axis shorter than the tile: one tile of its own length
    assert tile_windows(300, 2000, 512, 0.2)[:, 3].tolist() == [300] * 5
    assert tile_windows(400, 500, 512, 0.2).tolist() == [[0, 0, 500, 400]]


# Known cells of the 1500x1100 image (x1, y1, x2, y2). With 512-px tiles
# and 20 % overlap the tiles start at x 0/329/659/988 and y 0/294/588.
CELLS = np.array([
    [50, 50, 100, 90],  # inside one tile
    [400, 100, 450, 150],  # whole in two tiles (overlap zone)
    [480, 200, 540, 240],  # straddles x=512, whole in the next tile
    [300, 350, 560, 400],  # wider than the overlap, in 4 tiles: stitched
    [1000, 600, 1040, 640],  # whole in 4 tiles (overlap corner)
    [1460, 1050, 1500, 1100],  # on the image corner (outer borders)
    [700, 480, 760, 530],  # straddles y=512, whole in two lower tiles
    [1200, 250, 1260, 560],  # taller than the overlap: stitched
    [600, 1070, 700, 1100],  # on the bottom image border
], np.float64)


def _fake_tile_results(windows, cells, shrink=0.0):
    """What an ideal detector returns per tile: the visible part of every
    cell, in tile coordinates; ``shrink`` pulls edges cut by the tile in by
    that many pixels (detectors rarely end exactly on the border)."""
    results = []
    for x0, y0, x1, y1 in windows:
        boxes, scores = [], []
        for i, c in enumerate(cells):
            b = np.array([max(c[0], x0), max(c[1], y0), min(c[2], x1),
                          min(c[3], y1)])
            if b[2] - b[0] < 1 or b[3] - b[1] < 1:
                continue
            b[0] += shrink * (b[0] > c[0])
            b[1] += shrink * (b[1] > c[1])
            b[2] -= shrink * (b[2] < c[2])
            b[3] -= shrink * (b[3] < c[3])
            boxes.append(b - [x0, y0, x0, y0])
            scores.append(0.9 - 0.05 * i)
        results.append((np.array(boxes, np.float32).reshape(-1, 4),
                        np.array(scores, np.float32),
                        np.zeros(len(boxes), np.int64)))
    return results


class FakeCounter(CellCounter):
    """CellCounter whose detector returns the known cells per window."""

    def __init__(self, cells, shrink=0.0, **kwargs):
        stub = types.SimpleNamespace(
            cfg=_tiny_cfg(), dataset_meta=dict(classes=('cell', )))
        super().__init__(stub, **kwargs)
        self.cells = cells
        self.shrink = shrink
        self.calls = []

    def predict_windows(self, img, windows, tiled):
        self.calls.append((windows.copy(), tiled))
        return _fake_tile_results(windows, self.cells, self.shrink)


def _as_set(boxes):
    return sorted(tuple(np.round(b, 3)) for b in np.asarray(boxes))


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
    assert _as_set(det['bboxes']) == _as_set(CELLS)
    order = [int(np.flatnonzero((CELLS == b).all(1))[0])
             for b in det['bboxes']]
    np.testing.assert_allclose(det['scores'],
                               [0.9 - 0.05 * i for i in order], rtol=1e-6)
    assert (det['labels'] == 0).all()


def test_image_near_the_tile_size_takes_one_pass():
    counter = FakeCounter(np.array([[10, 10, 50, 50]], float),
                          tile_factor=4.0)
    det = counter(np.zeros((600, 640, 3), np.uint8))  # <= 1.25 * 512
    (windows, tiled), = counter.calls
    assert not tiled and windows.tolist() == [[0, 0, 640, 600]]
    assert det['windows'] is None and len(det['bboxes']) == 1
    counter = FakeCounter(CELLS, tile_factor=4.0, tile=False)
    counter(np.zeros(BIG + (3, ), np.uint8))
    assert not counter.calls[0][1]


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


# --------------------------------------------------------------------------
# folder counting with the fake detector: outputs and errors
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# the real detector
# --------------------------------------------------------------------------


@pytest.mark.slow  # runs a real (untrained) detector
def test_init_counter_cpu_scale(tiny_model):
    _, ckpt = tiny_model
    counter = init_counter(DEMO_CONFIG, ckpt, device='cpu', cpu_scale=True,
                           score_thr=0.01)
    assert counter.scale == (256, 256)
    assert counter.model.cfg.model.test_cfg.rcnn.score_thr == 0.01
    # demo crops (512 px) trained at 256 px: tiles of 512 px fed at 0.5x
    assert counter.tile_factor == pytest.approx(2.0)
    assert counter.tile_size == 512
    assert counter.class_names == ['cell']
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        init_counter(DEMO_CONFIG, ckpt + '.missing', device='cpu')


@pytest.mark.slow  # runs a real (untrained) detector
def test_auto_tile_factor_from_the_checkpoint_config(tmp_path, tiny_model):
    """'auto' prefers the training config saved in the checkpoint (e.g.
    trained with --cfg-options pointing at other images) to CONFIG's."""
    from mmsissi.apis import checkpoint_train_cfg
    cfg_path, ckpt = tiny_model
    assert checkpoint_train_cfg(ckpt) is None  # torch.save without cfg
    ann = tmp_path / 'big_images.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i}.png', width=1024, height=1022)
                for i in range(3)], annotations=[], categories=[])))
    train_cfg = _tiny_cfg()
    train_cfg.train_dataloader.dataset.datasets[0].ann_file = str(ann)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    state['meta']['cfg'] = train_cfg.pretty_text
    ckpt2 = tmp_path / 'with_cfg.pth'
    torch.save(state, ckpt2)
    assert checkpoint_train_cfg(str(ckpt2)).train_dataloader.dataset\
        .datasets[0].ann_file == str(ann)
    counter = init_counter(cfg_path, str(ckpt2), device='cpu')
    assert counter.tile_factor == pytest.approx(8.0)  # 1024 px / 128
    assert counter.tile_size == 1024
    assert 'checkpoint' in counter.describe()
    # explicit factors win; unreadable training images: 1.0 with a note
    assert init_counter(cfg_path, str(ckpt2), device='cpu',
                        tile_factor=2.0).tile_size == 256
    broken = Config.fromfile(cfg_path)
    broken.train_dataloader.dataset.datasets[0].ann_file = 'nope.json'
    counter = init_counter(broken, ckpt, device='cpu')
    assert counter.tile_factor == 1.0 and counter.tile_size == 128
    assert 'nope.json' in counter.describe()


@pytest.mark.slow  # runs a real (untrained) detector
def test_single_pass_matches_the_test_pipeline(tiny_model, demo_data):
    """An image near the training size gets exactly what tools/test.py
    gives it: the config's own test pipeline, reading the file."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import pseudo_collate

    from mmsissi.apis import read_detector_image
    cfg, ckpt = tiny_model
    counter = init_counter(cfg, ckpt, device='cpu', score_thr=0.0)
    pipe = Compose([
        t for t in get_test_pipeline_cfg(counter.cfg)
        if not t['type'].endswith('Annotations')
    ])
    path = str(sorted((demo_data / 'target' / 'test').glob('*.png'))[0])
    with torch.no_grad():
        ref = counter.model.test_step(
            pseudo_collate([pipe(dict(img_path=path, img_id=0))]))[0]
    ref = ref.pred_instances
    det = counter(read_detector_image(path))
    assert det['windows'] is None and len(det['bboxes']) == len(ref) > 0
    order = torch.argsort(ref.scores, descending=True, stable=True)
    np.testing.assert_allclose(det['bboxes'], ref.bboxes[order].numpy(),
                               atol=1e-4)
    np.testing.assert_allclose(det['scores'], ref.scores[order].numpy())


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
