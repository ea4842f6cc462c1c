# Copyright (c) mmsissi contributors. All rights reserved.
"""Relabel the target training images once with a trained detector.

    python tools/relabel.py CONFIG CHECKPOINT --work-dir DIR

CONFIG is a correction config (its ``PseudoLabelHook`` decides how: TTA,
fusion, update policy, ignore regions); CHECKPOINT any detector of the
same model, e.g. a refit's ``epoch_N.pth``. The labels are written to
``DIR/labels/epoch_1.json`` (COCO, atomically); train a refit on them
(``configs/sissi/refit.py``). See :mod:`mmsissi.apis.relabel`.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

import mmsissi  # noqa: F401,E402 (registers components)
from mmsissi.apis.relabel import RelabelError, relabel  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='correction config (a PseudoLabelHook)')
    p.add_argument('checkpoint', help='weights of the labelling detector')
    p.add_argument('--work-dir', required=True,
                   help='folder of the label store written')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of the config, as tools/train.py')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        path = relabel(cfg, args.checkpoint, args.work_dir)
    except RelabelError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'labels written: {path}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
