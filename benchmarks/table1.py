# Copyright (c) mmsissi contributors. All rights reserved.
"""Train and test any subset of the Table 1 configs and print Table 1
(per reader: AP50, AP75, AP, AR, and each row's correction start: the
epoch and its cause, criterion or cap).

Full size (GPU; data laid out by tools/prepare_data.py):
    python benchmarks/table1.py --configs baseline a_sissi_s
CPU scale (demo subset, ResNet-18, minutes per row):
    python benchmarks/table1.py --cpu-scale --epochs 20 \
        --configs supervised baseline a_sissi_s

Each row runs ``tools/train.py`` then ``tools/test.py`` in its own process
(``work_dirs/table1/<row>``), one after the other. The table is printed
and written to ``work_dirs/table1/table1.csv``; the ADELE curves and label
files stay in each row's work dir.
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROWS = ['supervised', 'baseline', 'sissi_w', 'sissi_s', 'plain_a',
        'a_sissi_w', 'a_sissi_s']
NAMES = dict(supervised='Supervised', baseline='Baseline',
             sissi_w='SISSI(W)', sissi_s='SISSI(S)', plain_a='Plain A',
             a_sissi_w='A+SISSI(W)', a_sissi_s='A+SISSI(S)')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def read_start(work: str):
    """``(epoch, cause)`` of a row's correction start, from the
    ``sissi_start.json`` its start criterion wrote; ``(None, '-')`` when
    correction never started (or the row has none)."""
    path = osp.join(work, 'sissi_start.json')
    if not osp.isfile(path):
        return None, '-'
    with open(path) as f:
        start = json.load(f)
    return int(start['epoch']), str(start['cause'])


def run(args, log, mode='w'):
    """Run a tool (``args[0]``, repo-relative) in its own process, its
    output to ``log`` (``mode`` 'a' appends, e.g. for a resumed run); exit
    with the log's name when it fails."""
    with open(log, mode) as f:
        r = subprocess.run([sys.executable, *args], cwd=REPO, stdout=f,
                           stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit(f'failed: {" ".join(args)} (see {log})')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--configs', nargs='+', default=ROWS, choices=ROWS)
    p.add_argument('--cpu-scale', action='store_true')
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--work-dir', default='work_dirs/table1')
    p.add_argument('--cfg-options', nargs='+', default=[])
    args = p.parse_args()
    rows = []
    for name in args.configs:
        work = osp.join(args.work_dir, name)
        os.makedirs(osp.join(REPO, work), exist_ok=True)
        config = f'configs/sissi/{name}.py'
        opts = list(args.cfg_options)
        if args.epochs:
            opts += [f'train_cfg.max_epochs={args.epochs}',
                     f'train_cfg.val_interval={args.epochs}']
            if name != 'supervised':  # the start criterion's cap: half
                opts += ['custom_hooks.0.max_start_epoch='
                         f'{max(1, args.epochs // 2)}']
        extra = (['--cpu-scale'] if args.cpu_scale else []) + (
            ['--cfg-options', *opts] if opts else [])
        t0 = time.time()
        print(f'[{name}] training -> {work}/train.log', flush=True)
        run(['tools/train.py', config, '--work-dir', work, *extra],
            osp.join(REPO, work, 'train.log'))
        ckpt = open(osp.join(REPO, work, 'last_checkpoint')).read().strip()
        print(f'[{name}] testing {osp.basename(ckpt)}', flush=True)
        run(['tools/test.py', config, ckpt, '--work-dir', work, *extra],
            osp.join(REPO, work, 'test.log'))
        with open(osp.join(REPO, work, 'test.per_reader.csv')) as f:
            table = list(csv.reader(f))
        adele = osp.join(REPO, work, 'adele_curve.csv')
        start, cause = read_start(osp.join(REPO, work))
        for r in table[1:]:
            rows.append([NAMES[name], r[0], *r[1:], start, cause,
                         f'{time.time() - t0:.0f}'])
        print(f'[{name}] done in {time.time() - t0:.0f} s '
              f'(correction start: {start} ({cause}); ADELE curve: '
              f'{adele if osp.exists(adele) else "-"})', flush=True)
    header = ['method', 'reader', 'AP50', 'AP75', 'AP', 'AR', 'start',
              'cause', 'seconds']
    out = osp.join(REPO, args.work_dir, 'table1.csv')
    with open(out, 'w', newline='') as f:
        csv.writer(f).writerows([header, *rows])
    print('\nTable 1 (%)')
    print(f'{"method":<12}{"reader":<10}{"AP50":>7}{"AP75":>7}{"AP":>7}'
          f'{"AR":>7}{"start":>7}  cause')
    for r in rows:
        print(f'{r[0]:<12}{r[1]:<10}' +
              ''.join(f'{100 * float(v):7.1f}' for v in r[2:6]) +
              f'{str(r[6]):>7}  {r[7]}')
    print(f'\nwritten to {out}')


if __name__ == '__main__':
    main()
