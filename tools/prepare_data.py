# Copyright (c) mmsissi contributors. All rights reserved.
"""Lay out the full-size data the configs in configs/sissi/ expect.

data/
  usiigaci_nih3t3_phc/       -> link to the target dataset (phase contrast)
  dsb2018_stage1_train_fluo/ -> link to the source dataset (fluorescence)
  sissi/target_train_weak.json    weak labels of the 45 training images
  sissi/target_train_manual.json  their manual boxes (for reporting only)
  sissi/target_test_manual.json   the 5 test images' manual boxes (reader)
  sissi/source_train.json, source_val.json   90/10 split of the source set

Example:
    python tools/prepare_data.py --shared ../shared/data
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmsissi.fileio import atomic_dump_json  # noqa: E402

TARGET = 'usiigaci_nih3t3_phc'
SOURCE = 'dsb2018_stage1_train_fluo'


def subset(coco, keep_files):
    imgs = [i for i in coco['images'] if i['file_name'] in keep_files]
    ids = {i['id'] for i in imgs}
    return dict(images=imgs,
                annotations=[a for a in coco['annotations']
                             if a['image_id'] in ids],
                categories=coco['categories'])


def link(src, dst):
    if osp.islink(dst) or osp.exists(dst):
        return
    os.symlink(osp.abspath(src), dst)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--shared', default='../shared/data',
                   help='folder holding the two datasets')
    p.add_argument('--out', default='data')
    p.add_argument('--source-val', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    os.makedirs(osp.join(args.out, 'sissi'), exist_ok=True)
    for name in (TARGET, SOURCE):
        if not osp.isdir(osp.join(args.shared, name)):
            sys.exit(f'error: {osp.join(args.shared, name)} does not exist')
        link(osp.join(args.shared, name), osp.join(args.out, name))
    sissi = osp.join(args.out, 'sissi')

    # target: the dataset's own train/val split; val = our test set
    troot = osp.join(args.out, TARGET)
    split = {r['stem']: r['usiigaci_split']
             for r in csv.DictReader(open(osp.join(troot, 'metadata.csv')))}
    gt = json.load(open(osp.join(troot, 'annotations_bbox.json')))
    train = {f'images/{s}.png' for s, v in split.items() if v == 'train'}
    test = {f'images/{s}.png' for s, v in split.items() if v != 'train'}
    atomic_dump_json(subset(gt, train),
                     osp.join(sissi, 'target_train_manual.json'))
    atomic_dump_json(subset(gt, test),
                     osp.join(sissi, 'target_test_manual.json'))
    lst = osp.join(sissi, 'target_train_images.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(sorted(osp.basename(t) for t in train)) + '\n')

    # source: a seeded 90/10 split
    sroot = osp.join(args.out, SOURCE)
    src = json.load(open(osp.join(sroot, 'annotations_bbox.json')))
    files = sorted(i['file_name'] for i in src['images'])
    rng = np.random.default_rng(args.seed)
    n_val = int(round(args.source_val * len(files)))
    val = set(rng.choice(files, n_val, replace=False).tolist())
    atomic_dump_json(subset(src, set(files) - val),
                     osp.join(sissi, 'source_train.json'))
    atomic_dump_json(subset(src, val), osp.join(sissi, 'source_val.json'))
    print(f'target: {len(train)} train / {len(test)} test images; '
          f'source: {len(files) - n_val} train / {n_val} val images')

    # weak labels for the target training images
    r = subprocess.run([
        sys.executable,
        osp.join(osp.dirname(osp.abspath(__file__)), 'weak_labels.py'),
        osp.join(troot, 'images'), '--root', troot, '--list', lst, '--out',
        osp.join(sissi, 'target_train_weak.json'), '--gt',
        osp.join(sissi, 'target_train_manual.json')
    ])
    if r.returncode:
        sys.exit('error: weak label generation failed')


if __name__ == '__main__':
    main()
