# Copyright (c) OpenMMLab. All rights reserved.
# Adapted for mmsissi: repo-root import, gloo on CPU-only machines.
import argparse
import faulthandler
import os
import os.path as osp

import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet.utils import setup_cache_size_limit_of_dynamo

import mmsissi  # noqa: F401,E402 (registers components, checkpoint loaders)
from mmsissi.fileio import acquire_work_dir_lock  # noqa: E402
from mmsissi.utils import (DEMO_ROOT, apply_cpu_scale,  # noqa: E402
                           close_dist, use_cpu_dist_backend)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--cpu-scale',
        nargs='?',
        const='demo',
        choices=['demo', 'own'],
        help='run the config at CPU demo scale (ResNet-18, 256x256, random '
        'init; see mmsissi/utils/cpu_scale.py): on the shipped demo subset '
        '(--cpu-scale, or --cpu-scale demo), or on the data the config '
        'names (--cpu-scale own, e.g. a child config of tools/sissi.py)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)

    return args


def lock_work_dir(cfg):
    """One training per work dir: take its lock now, before the Runner
    writes anything there (the launcher's rank 0), and keep it for the run
    with a ``WorkDirLockHook`` (added unless the config has one)."""
    rank = os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))
    if rank == '0':
        acquire_work_dir_lock(cfg.work_dir)
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(h.get('type') == 'WorkDirLockHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='WorkDirLockHook')]


def main():
    # A native abort (SIGABRT/SIGSEGV) prints every thread's Python stack.
    faulthandler.enable()
    args = parse_args()

    # Reduce the number of repeated compilations and improve
    # training speed.
    setup_cache_size_limit_of_dynamo()

    # load config
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cpu_scale:
        cfg = apply_cpu_scale(
            cfg, demo_root=DEMO_ROOT if args.cpu_scale == 'demo' else None)
    use_cpu_dist_backend(cfg)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    # enable automatic-mixed-precision training
    if args.amp is True:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    # enable automatically scaling LR
    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and \
                'enable' in cfg.auto_scale_lr and \
                'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')

    # resume is determined in this priority: resume from > auto_resume
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    lock_work_dir(cfg)

    # build the runner from config
    if 'runner_type' not in cfg:
        # build the default runner
        runner = Runner.from_cfg(cfg)
    else:
        # build customized runner from the registry
        # if 'runner_type' is set in the cfg
        runner = RUNNERS.build(cfg)

    # start training
    runner.train()
    del runner  # free the DDP wrapper (and its process group) in close_dist
    close_dist()


if __name__ == '__main__':
    main()
