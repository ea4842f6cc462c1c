# Copyright (c) mmsissi contributors. All rights reserved.
"""benchmarks/noisy_labels.py as the deciding instrument: training labels
given in a file, presets, seeds, the gap recovered, and rows that resume
after a killed run (real short runs)."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks import noisy_labels as nl
from benchmarks.noisy import report
from benchmarks.noisy.cli import _check_settings
from mmsissi.datasets.noisy_labels import split_coco
from tests.helpers.noisy_bench import bench_argv, coco
from tests.helpers.noisy_bench import write as _write


def _coco(boxes_by_name, folder='images', ids=None):
    return coco(boxes_by_name, folder=folder, ids=ids, category=7)


TRUTH = {'a.png': [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]],
         'b.png': [[5, 5, 15, 15]]}


def test_given_labels_take_the_split_images_and_the_given_boxes(tmp_path):
    truth = _coco(TRUTH)
    # other ids, another folder, another category id, an extra score
    given = _coco({'b.png': [], 'a.png': [[0, 0, 10, 11], [40, 40, 45, 45],
                                          [55, 0, 60, 5]]},
                  folder='weak/imgs', ids=[31, 30])
    given['categories'][0]['id'] = 1
    for a in given['annotations']:
        a['category_id'], a['score'] = 1, 0.5
    out = nl.given_labels(given, 'given.json', truth, 'truth.json')
    assert out['images'] == truth['images']  # the split's entries
    assert [a['image_id'] for a in out['annotations']] == [1, 1, 1]
    assert {a['category_id'] for a in out['annotations']} == {7}
    assert out['annotations'][0]['bbox'] == [0, 0, 10, 11]
    truth_file = _write(tmp_path / 'truth.json', truth)
    q = nl.label_quality({0: _write(tmp_path / 'g.json', out)}, truth_file)
    # a: one hit, one miss (IoU 0.25), one false box; b: no label at all
    assert q[0]['num_boxes'] == 3
    assert q[0]['precision'] == pytest.approx(1 / 3)
    assert q[0]['recall'] == pytest.approx(1 / 4)


def test_given_labels_must_cover_exactly_the_training_split():
    truth = _coco(TRUTH)
    extra = _coco(dict(TRUTH, **{'c.png': []}))
    with pytest.raises(SystemExit) as e:
        nl.given_labels(extra, 'my_weak.json', truth, 'clean.json')
    msg = str(e.value)
    assert 'my_weak.json' in msg and 'clean.json' in msg
    assert '1 image(s) not in the training split (c.png)' in msg
    lost = _coco({'a.png': []})
    with pytest.raises(SystemExit, match=r'1 training image\(s\) missing '
                       r'\(b.png\)'):
        nl.given_labels(lost, 'my_weak.json', truth, 'clean.json')
    dup = _coco(TRUTH)
    dup['images'].append(dict(dup['images'][0], id=9))
    with pytest.raises(SystemExit, match='more than once'):
        nl.given_labels(dup, 'my_weak.json', truth, 'clean.json')


def _args(tmp_path, demo_data, *extra):
    return nl.parse_args(bench_argv(demo_data, tmp_path / 'bench') +
                         list(extra))


def test_prepare_data_with_a_given_file(tmp_path, demo_data):
    args = _args(tmp_path, demo_data)
    clean = json.load(open(args.target_ann))
    train = split_coco(clean, args.split, seed=args.seed)['train']
    given = json.loads(json.dumps(train))
    given['annotations'] = given['annotations'][::3]  # a third of the boxes
    path = _write(tmp_path / 'given.json', given)
    args = _args(tmp_path, demo_data, '--target-train-ann', path)
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    noisy = json.load(open(paths['train_noisy']))
    assert noisy['images'] == train['images']
    assert len(noisy['annotations']) == len(given['annotations'])
    q = nl.label_quality({0: paths['train_noisy']}, paths['train_clean'])
    assert q[0]['precision'] == 1.0
    assert q[0]['recall'] == pytest.approx(
        len(given['annotations']) / len(train['annotations']))
    assert nl.build_config('supervised', args, paths).train_dataloader\
        .dataset.datasets[0]['ann_file'] == paths['train_noisy']
    given['images'] = given['images'][1:]
    _write(tmp_path / 'given.json', given)
    with pytest.raises(SystemExit, match='training image'):
        nl.prepare_data(args, str(tmp_path / 'data2'))


def test_presets_and_quick_regime_defaults_yield_to_flags():
    a = nl.parse_args(['--preset', 'usiigaci-weak'])
    assert a.weak_labels and a.split == [30, 8, 12]
    assert a.target_ann.endswith('usiigaci_nih3t3_phc/annotations_bbox.json')
    assert a.source_ann.endswith('dsb2018_stage1_train_fluo/'
                                 'annotations_bbox.json')
    assert a.target_scale == 0.375 and a.source_max_side == 256
    assert a.work_dir == 'work_dirs/noisy_labels/usiigaci-weak'
    a = nl.parse_args(['--preset', 'usiigaci-weak', '--split', '20', '10',
                       '20', '--target-train-ann', 'x.json'])
    assert a.split == [20, 10, 20] and not a.weak_labels
    d = nl.parse_args([])
    assert not d.weak_labels and d.max_side == 256 and d.seeds == [0]
    assert d.rows == ['clean', 'supervised', 'baseline', 'a_sissi_s']
    q = nl.parse_args(['--quick', '--epochs', '9'])
    assert q.rows == ['clean', 'supervised', 'baseline']
    assert (q.epochs, q.iters_per_epoch, q.lr_step, q.max_start_epoch) == (
        9, 60, 7, 5)
    assert q.work_dir == 'work_dirs/noisy_labels_quick/dsb-synthetic'
    with pytest.raises(SystemExit):
        nl.parse_args(['--target-train-ann', 'x.json', '--weak-labels'])


def test_seeds_change_training_not_data(tmp_path, demo_data):
    args = _args(tmp_path, demo_data, '--seeds', '0', '1', '2')
    assert args.seeds == [0, 1, 2] and args.seed == 0
    p1 = nl.prepare_data(args, str(tmp_path / 'd1'))
    p2 = nl.prepare_data(_args(tmp_path, demo_data, '--seeds', '5'),
                         str(tmp_path / 'd2'))
    for k in p1:  # split and corruption depend on the data seed only
        assert open(p1[k]).read() == open(p2[k]).read(), k
    seeds = [nl.build_config('clean', args, p1, seed=s).randomness.seed
             for s in args.seeds]
    assert seeds == [0, 1, 2]
    p3 = nl.prepare_data(_args(tmp_path, demo_data, '--seed', '1'),
                         str(tmp_path / 'd3'))
    assert open(p3['test']).read() != open(p1['test']).read()
    with pytest.raises(SystemExit):
        _args(tmp_path, demo_data, '--seeds', '1', '1')


def test_target_scale_reaches_every_target_pipeline(tmp_path, demo_data):
    args = _args(tmp_path, demo_data, '--target-scale', '0.5')
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    cfg = nl.build_config('baseline', args, paths)
    train = [t['type'] for t in
             cfg.train_dataloader.dataset.datasets[0]['pipeline']]
    assert train.index('SeamlessSynth') < train.index('Resize')
    resize = cfg.train_dataloader.dataset.datasets[0]['pipeline'][3]
    assert resize['scale_factor'] == 0.5
    assert cfg.test_dataloader.dataset.pipeline[1]['scale_factor'] == 0.5
    tta = cfg.tta_pipeline[1]['transforms'][0]
    assert [t['scale_factor'] for t in tta] == [0.4, 0.45, 0.5, 0.55, 0.6]
    hook = {h['type']: h for h in cfg.custom_hooks}['PseudoLabelHook']
    assert hook['dataloader']['dataset']['pipeline'] == cfg.tta_pipeline


def test_gap_recovered():
    assert report.gap_recovered(0.40, 0.30, 0.50) == pytest.approx(0.5)
    assert report.gap_recovered(0.25, 0.30, 0.50) == pytest.approx(-0.25)
    assert report.gap_recovered(0.50, 0.30, 0.50) == pytest.approx(1.0)
    assert math.isnan(report.gap_recovered(0.4, 0.3, 0.3))
    assert math.isnan(report.gap_recovered(0.4, None, 0.5))


def _result(row, seed, ap, ar, p=0.8, r=0.5, start=None):
    labels = {e: dict(num_boxes=10 + e, precision=p, recall=r + 0.1 * e,
                      f1=0.5) for e in range(3)}
    return dict(row=row, seed=seed, ap=[0.9, 0.5, ap, ar], start=start,
                cause='-' if start is None else 'cap', seconds=10.0,
                labels=labels)


def test_summary_over_seeds_and_csvs(tmp_path):
    results = [
        _result('supervised', 0, 0.30, 0.40), _result('clean', 0, 0.50, 0.60),
        _result('baseline', 0, 0.40, 0.30, start=2),
        _result('supervised', 1, 0.34, 0.40), _result('clean', 1, 0.46, 0.60),
        _result('baseline', 1, 0.20, 0.50, r=0.3, start=1)]
    s = report.summarize(results)
    assert list(s) == ['clean', 'supervised', 'baseline']
    b = s['baseline']
    assert b['seeds'] == [0, 1] and b['starts'] == [2, 1]
    assert b['mean']['AP'] == pytest.approx(0.30)
    assert (b['min']['AP'], b['max']['AP']) == (0.20, 0.40)
    # gap of the means: AP (0.30 - 0.32) / (0.48 - 0.32); AR (0.4 - 0.4)
    assert b['gap']['AP'] == pytest.approx(-0.125)
    assert b['gap']['AR'] == pytest.approx(0.0)
    assert s['clean']['gap']['AP'] == pytest.approx(1.0)
    assert b['labels'][2]['recall'] == pytest.approx((0.7 + 0.5) / 2)
    report.write_csvs(results, str(tmp_path / 'r.csv'),
                      str(tmp_path / 'l.csv'))
    rows = list(csv.DictReader(open(tmp_path / 'r.csv')))
    assert [(r['row'], r['seed']) for r in rows] == [
        ('clean', '0'), ('clean', '1'), ('supervised', '0'),
        ('supervised', '1'), ('baseline', '0'), ('baseline', '1')]
    # per seed against that seed's supervised rows: (0.4-0.3)/(0.5-0.3)
    assert float(rows[4]['gap_AP']) == pytest.approx(0.5)
    assert float(rows[5]['gap_AP']) == pytest.approx((0.2 - .34) / .12,
                                                     abs=1e-4)
    assert rows[5]['start'] == '1' and rows[0]['start'] == ''
    assert len(list(csv.DictReader(open(tmp_path / 'l.csv')))) == 18
    report.plot(s, str(tmp_path / 'p.png'))
    assert open(tmp_path / 'p.png', 'rb').read(4) == b'\x89PNG'


def test_a_failed_csv_write_keeps_the_previous_tables(tmp_path):
    """The tables are rewritten after every row: a write that fails half
    way (here a result without labels, after the first lines) leaves the
    previous files as they were, not truncated ones."""
    good = [_result('supervised', 0, 0.30, 0.40),
            _result('clean', 0, 0.50, 0.60)]
    r_csv, l_csv = tmp_path / 'r.csv', tmp_path / 'l.csv'
    report.write_csvs(good, str(r_csv), str(l_csv))
    before = r_csv.read_text(), l_csv.read_text()
    broken = dict(_result('clean', 1, 0.5, 0.6), labels={})  # 2nd line
    with pytest.raises(ValueError):
        report.write_csvs(good + [broken], str(r_csv), str(l_csv))
    assert (r_csv.read_text(), l_csv.read_text()) == before
    assert len(before[0].splitlines()) == 3
    assert sorted(os.listdir(tmp_path)) == ['l.csv', 'r.csv']  # no .tmp


def test_a_work_dir_of_other_settings_is_refused(tmp_path):
    _check_settings(str(tmp_path), 'abc')
    _check_settings(str(tmp_path), 'abc')  # same settings: fine
    with pytest.raises(SystemExit, match='other settings'):
        _check_settings(str(tmp_path), 'abd')


def _cmd(demo_data, root):
    return [sys.executable, 'benchmarks/noisy_labels.py',
            '--rows', 'clean', 'supervised', '--seeds', '0', '1',
            *bench_argv(demo_data, root, ('4', '2', '3')), '--crop', '128',
            '--epochs', '3', '--iters-per-epoch', '2', '--max-start-epoch',
            '2', '--patience', '1', '--warmup-epochs', '0',
            '--warmup-iters', '2']


@pytest.mark.slow
def test_a_killed_row_resumes_and_finished_rows_are_skipped(
        tmp_path, demo_data):
    """A real run with two seeds is killed (SIGKILL, whole process group)
    once the second seed's first row has saved a checkpoint.
    The same command then skips the finished rows, resumes the killed one
    from its checkpoint and writes one line per row and seed; a third run
    trains nothing."""
    root = tmp_path / 'bench'
    last = root / 'seed_1' / 'clean' / 'last_checkpoint'
    proc = subprocess.Popen(_cmd(demo_data, root), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.time()
    # mmengine names the checkpoint in last_checkpoint once it is saved
    while not (last.exists() and last.read_text().strip().endswith('.pth')):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() - t0 < 900, 'no checkpoint after 15 min'
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = root / 'seed_1' / 'clean'
    assert not (killed / 'result.json').exists()
    assert (root / 'seed_0' / 'supervised' / 'result.json').exists()
    # the tables are written after every row, so the killed run's
    # finished rows (seed 0) are already in them
    rows = list(csv.DictReader(open(root / 'results.csv')))
    assert sorted((x['row'], x['seed']) for x in rows) == [
        ('clean', '0'), ('supervised', '0')]
    r = subprocess.run(_cmd(demo_data, root), capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = r.stdout
    assert '[seed_0/clean] done before' in out
    assert '[seed_0/supervised] done before' in out
    assert '[seed_1/clean] training, resuming epoch_' in out
    assert '[seed_1/supervised] training, from scratch' in out
    log = (killed / 'train.log').read_text()
    assert 'resumed epoch: ' in log  # mmengine's resume
    assert 'resumed epoch: 0' not in log
    rows = list(csv.DictReader(open(root / 'results.csv')))
    assert sorted((x['row'], x['seed']) for x in rows) == [
        ('clean', '0'), ('clean', '1'), ('supervised', '0'),
        ('supervised', '1')]
    assert (killed / 'epoch_3.pth').exists()
    r = subprocess.run(_cmd(demo_data, root), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and '] training, ' not in r.stdout
    assert r.stdout.count('done before') == 4


def test_ignore_regions_are_not_labels_in_the_label_quality(tmp_path):
    truth = _write(tmp_path / 't.json', _coco(TRUTH))
    labels = _coco({'a.png': [[0, 0, 10, 10], [20, 20, 30, 30]],
                    'b.png': [[5, 5, 15, 15]]})
    labels['annotations'][1]['iscrowd'] = 1  # an ignore region on a cell
    q = nl.label_quality({1: _write(tmp_path / 'l.json', labels)}, truth)
    assert (q[1]['num_boxes'], q[1]['num_ignore']) == (2, 1)
    assert q[1]['precision'] == 1.0
    assert q[1]['recall'] == pytest.approx(2 / 4)


def test_given_labels_of_another_size_are_refused():
    truth = _coco(TRUTH)
    other = _coco(TRUTH)
    other['images'][1].update(height=128, width=128)
    with pytest.raises(SystemExit, match=r'another size .* b.png 128x128 '
                       r'vs 64x64'):
        nl.given_labels(other, 'w.json', truth, 'c.json')


def test_tables_hold_every_result_of_the_work_dir(tmp_path):
    from benchmarks.noisy.cli import all_results
    for seed, row in ((0, 'clean'), (0, 'supervised'), (1, 'baseline')):
        d = tmp_path / f'seed_{seed}' / row
        d.mkdir(parents=True)
        r = _result(row, seed, 0.3, 0.4)
        r['labels'] = {str(k): v for k, v in r['labels'].items()}
        _write(d / 'result.json', r)
    got = all_results(str(tmp_path))
    assert sorted((r['row'], r['seed']) for r in got) == [
        ('baseline', 1), ('clean', 0), ('supervised', 0)]
    assert set(got[0]['labels']) == {0, 1, 2}  # epochs back to ints


def test_a_final_checkpoint_counts_only_once_named(tmp_path, demo_data):
    """An epoch file that last_checkpoint does not name may be truncated
    (killed while saving): the row resumes from the named one."""
    from benchmarks.noisy.cli import _train
    args = _args(tmp_path, demo_data, '--epochs', '3')
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'epoch_3.pth').write_bytes(b'truncated')
    (work / 'epoch_2.pth').write_bytes(b'ok')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_3.pth'))
    assert _train('clean', str(work), None, args, str(tmp_path)) == (
        (None, '-'), 'trained')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    calls = []

    class Cfg(dict):
        def dump(self, path):
            calls.append(path)
    import benchmarks.noisy.cli as cli
    orig, cli.run_tool = cli.run_tool, lambda *a, **k: calls.append(a)
    try:
        cfg = Cfg()
        _, how = _train('clean', str(work), cfg, args, str(tmp_path))
    finally:
        cli.run_tool = orig
    assert how == 'resuming epoch_2.pth'
    assert cfg.load_from == str(work / 'epoch_2.pth') and cfg.resume


def test_validation_metrics_come_from_the_rows_last_val(tmp_path):
    """Levers are chosen on the validation split: each result holds the
    row's last ``Epoch(val)`` line (also for results written before it
    did), and the summary and results.csv report its mean."""
    from benchmarks.noisy.branch import val_metrics
    from benchmarks.noisy.cli import all_results
    line = ('12/01 - mmengine - INFO - Epoch(val) [{e}][8/8]    '
            'coco/clean/AP50: {a}  coco/clean/AP75: 0.0100  coco/clean/AP: '
            '0.0700  coco/clean/AR: 0.1500  coco/mean/AP50: {a}\n')
    for seed, a in ((0, '0.3000'), (1, '0.2000')):
        d = tmp_path / f'seed_{seed}' / 'baseline'
        d.mkdir(parents=True)
        (d / 'train.log').write_text(line.format(e=4, a='0.9900') + 'x\n' +
                                     line.format(e=8, a=a))
        r = _result('baseline', seed, 0.3, 0.4)
        r['labels'] = {str(k): v for k, v in r['labels'].items()}
        _write(d / 'result.json', r)  # an old result: no 'val'
    assert val_metrics(str(tmp_path / 'seed_0' / 'baseline')) == [
        0.30, 0.01, 0.07, 0.15]
    assert val_metrics(str(tmp_path / 'nowhere')) is None
    got = all_results(str(tmp_path))
    s = report.summarize(got)
    assert s['baseline']['val']['AP50'] == pytest.approx(0.25)
    report.write_csvs(got, str(tmp_path / 'r.csv'), str(tmp_path / 'l.csv'))
    rows = list(csv.DictReader(open(tmp_path / 'r.csv')))
    assert [r['val_AP50'] for r in rows] == ['0.3000', '0.2000']
    no_val = _result('clean', 0, 0.5, 0.6)
    report.write_csvs([no_val], str(tmp_path / 'r2.csv'),
                      str(tmp_path / 'l2.csv'))
    assert list(csv.DictReader(open(tmp_path / 'r2.csv')))[0]['val_AR'] == ''
    report.print_summary(report.summarize([no_val] + got))


def test_a_resumed_row_counts_the_runs_it_resumed(tmp_path):
    """The wall time of a row resumed after a kill includes its earlier
    trainings (each MMEngine run log's first-to-last timestamp), not the
    runs that began after the resuming invocation did."""
    from benchmarks.noisy.branch import earlier_run_seconds

    def run_log(stamp, lines):
        d = tmp_path / stamp
        d.mkdir()
        (d / f'{stamp}.log').write_text(''.join(
            f'{t} - mmengine - INFO - {msg}\n' for t, msg in lines))

    run_log('20261203_155805', [('2026/12/03 15:58:05', 'start'),
                                ('2026/12/03 16:02:04', 'Epoch(train) [1]')])
    run_log('20261203_171850', [('2026/12/03 17:18:50', 'start'),
                                ('2026/12/03 17:20:00', 'multi\nline'),
                                ('2026/12/03 18:02:52', 'Epoch(val) [12]')])
    run_log('20261203_190000', [('2026/12/03 19:00:00', 'start'),
                                ('2026/12/03 19:30:00', 'later')])
    (tmp_path / 'vis_data').mkdir()  # no log here: skipped
    before = time.mktime(time.strptime('2026/12/03 18:30:00',
                                       '%Y/%m/%d %H:%M:%S'))
    assert earlier_run_seconds(str(tmp_path), before) == 239 + 2642
    assert earlier_run_seconds(str(tmp_path), before - 7200) == 239
    assert earlier_run_seconds(str(tmp_path / 'none'), before) == 0
